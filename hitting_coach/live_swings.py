"""Live swing detection on the hub's stream: one :class:`SwingTracker` per device.

Subscribed to the hub, it feeds every accepted message's batches to its device's tracker (the
same code :func:`hitting_coach.swings.swings` runs on a recorded session) and keeps the rows of
finished swings for the dashboard, each stamped with the moment it was found.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from hitting_coach.hub import Hub
from hitting_coach.parse import Message
from hitting_coach.swings import SWEET_SPOT_M, SwingTracker

__all__ = ["LiveSwings"]

log = logging.getLogger(__name__)

_KEEP_SWINGS = 500  # per device; a long practice has a few hundred


class LiveSwings:
    """Swings found so far, per device. Thread-safe: producers feed, dashboards read.

    ``placement`` is ``None`` (guess from the data) or one of the tracker's placements.
    """

    def __init__(
        self,
        placement: str | None = None,
        gyro_range_dps: float = 2000.0,
        sweet_spot_m: float = SWEET_SPOT_M,
    ) -> None:
        self.placement = placement
        self.gyro_range_dps = gyro_range_dps
        self.sweet_spot_m = sweet_spot_m
        self._lock = threading.Lock()
        self._trackers: dict[tuple[str, str], SwingTracker] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[str, int] = {}

    def attach(self, hub: Hub) -> LiveSwings:
        hub.subscribe(self.on_message)
        return self

    def on_message(self, message: Message) -> None:
        """Feed one accepted message (called on the producer's thread)."""
        key = (message.device_id, message.session_id)
        with self._lock:
            tracker = self._trackers.get(key)
            if tracker is None:
                tracker = self._trackers[key] = SwingTracker(
                    self.placement,
                    gyro_range_dps=self.gyro_range_dps,
                    sweet_spot_m=self.sweet_spot_m,
                )
            found: list[dict[str, Any]] = []
            for batch in message.batches.values():
                try:
                    found += tracker.feed(batch.sensor, batch.time_ns, batch.values)
                except ValueError as e:  # a sensor without the columns the tracker needs
                    log.debug("swing tracker skipped %s: %s", batch.sensor, e)
            if found:
                self._keep(message.device_id, message.session_id, found)

    def _keep(self, device: str, session: str, found: list[dict[str, Any]]) -> None:
        rows = self._rows.setdefault(device, [])
        now_ns = time.time_ns()
        for row in found:
            self._counts[device] = self._counts.get(device, 0) + 1
            rows.append(
                {**row, "number": self._counts[device], "session_id": session, "found_ns": now_ns}
            )
            log.info("swing %d on %s (%s)", self._counts[device], device, row["placement"])
        del rows[:-_KEEP_SWINGS]

    def rows(self, device: str) -> list[dict[str, Any]]:
        """The device's swings, oldest first (at most the last 500)."""
        with self._lock:
            return list(self._rows.get(device, ()))

    def count(self, device: str) -> int:
        with self._lock:
            return self._counts.get(device, 0)
