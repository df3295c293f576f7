"""``hitting-coach serve --demo``: simulated swings fed in real time through the ingest path."""

from __future__ import annotations

import logging
import threading
import time

import orjson

from hitting_coach.errors import Busy, MessageError, RecordingError
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import iter_demo_messages

__all__ = ["DemoFeed"]

log = logging.getLogger(__name__)


class DemoFeed:
    """A thread that sends a simulated pelvis phone + wrist watch to ``hub.ingest``.

    Messages carry the same JSON a phone sends and go through the same call, labelled with
    source ``demo``; a swing every ``swing_every_s`` seconds, waggles in between.
    """

    def __init__(self, hub: Hub, swing_every_s: float = 6.0, rate_hz: float = 100.0) -> None:
        self.hub = hub
        self.swing_every_s = swing_every_s
        self.rate_hz = rate_hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)

    def start(self) -> DemoFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        start_ns = time.time_ns()
        session = time.strftime("demo-%Y-%m-%d_%H-%M-%S", time.gmtime(start_ns / 1e9))
        self.hub.set_source_state("demo", state="running", session=session)
        messages = iter_demo_messages(
            start_ns,
            session_id=session,
            rate_hz=self.rate_hz,
            swing_every_s=self.swing_every_s,
        )
        for send_at_ns, message in messages:
            delay = (send_at_ns - time.time_ns()) / 1e9
            if delay > 0 and self._stop.wait(delay):
                break
            if self._stop.is_set():
                break
            try:
                self.hub.ingest(orjson.dumps(message), source="demo")
            except MessageError:
                log.exception("the demo produced a message the parser rejects")
            except (Busy, RecordingError):
                pass  # counted by the hub and shown in the status; the demo goes on
        self.hub.set_source_state("demo", state="stopped")
