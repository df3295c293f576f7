"""The server process's one core object: settings, hub and background workers.

``panel serve`` imports the app, the plugin routes and the setup script separately; they all
meet here through :func:`get_runtime`, which builds the runtime once per process and starts
its background work (recorder, live swing detection, demo feed, MQTT consumer) exactly once.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from hitting_coach import __version__
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.config import Settings
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import Limits
from hitting_coach.store.recorder import Recorder

__all__ = ["Runtime", "configure", "get_runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Everything one server process runs, built from one :class:`Settings`."""

    def __init__(self, settings: Settings, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.recorder = Recorder(
            settings.data_path,
            fsync_interval_s=settings.fsync_interval_s,
            parquet_interval_s=settings.parquet_interval_s,
        )
        self.hub = Hub(
            capacity=settings.buffer_readings,
            max_message_bytes=settings.max_message_bytes,
            sink=self.recorder,
            limits=limits(settings),
            check_time=True,
            max_devices=settings.max_live_devices,
            device_idle_s=settings.device_idle_s,
        )
        self.ingest_token = ""  # resolved by start() (it may be kept in the data folder)
        self.swings = LiveSwings(
            self.hub,
            None if settings.placement == "auto" else settings.placement,
            gyro_range_dps=settings.gyro_range_dps,
            sweet_spot_m=settings.sweet_spot_m,
        )
        self._workers: list[Any] = []
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> Runtime:
        """Start background work; calling it again does nothing."""
        with self._lock:
            if self._started:
                return self
            self._started = True
            self.ingest_token = self.settings.resolved_ingest_token()
            # First started, last stopped: on SIGTERM everything accepted is flushed to disk.
            # Raises StartupError (one clear line from the CLI) if the data dir is unusable.
            for key in self.recorder.open():
                self.hub.remember(key)
            self._workers.append(self.recorder)
            self._workers.append(self.swings.start())
            if self.demo:
                from hitting_coach.sim.demo import DemoFeed

                self._workers.append(DemoFeed(self.hub).start())
            if not self.settings.mqtt_broker:
                self.hub.set_source_state("mqtt", state="not configured (HTTP push only)")
                log.info("no MQTT_BROKER set: receiving over HTTP POST /data only")
            else:  # started last, so it stops first: what it acknowledged is already recorded
                from hitting_coach.ingest.mqtt_consumer import MqttConsumer

                self._workers.append(MqttConsumer(self.settings, self.hub).start())
        return self

    def stop(self) -> None:
        """Stop background work, last started first; safe to call twice."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in reversed(workers):
            worker.stop()

    def status(self) -> dict[str, Any]:
        status = self.hub.status()
        status["version"] = __version__
        status["http"] = {"token_required": bool(self.ingest_token)}
        status["demo"] = self.demo
        recorder = self.recorder.status()
        status["recording"].update(
            recorder,
            ok=status["recording"]["ok"] and recorder["ok"],
            error=status["recording"]["error"] or recorder["error"],
        )
        return status


def limits(settings: Settings) -> Limits:
    """The parser's limits from the settings of the same names."""
    return Limits(
        max_name_bytes=settings.max_name_bytes,
        max_keys=settings.max_value_keys,
        max_sensors=settings.max_sensors,
        max_depth=settings.max_nesting,
        max_age_s=settings.max_reading_age_s,
        max_ahead_s=settings.max_reading_ahead_s,
    )


_runtime: Runtime | None = None
_pending: tuple[Settings, bool] | None = None
_lock = threading.Lock()


def configure(settings: Settings, demo: bool = False) -> None:
    """Set what :func:`get_runtime` will build (``hitting-coach serve`` calls this first)."""
    global _pending
    with _lock:
        if _runtime is not None:
            raise RuntimeError("the runtime is already built")
        _pending = (settings, demo)


def get_runtime() -> Runtime:
    """The process's runtime, built and started on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            settings, demo = _pending if _pending else (Settings.load(), False)
            _runtime = Runtime(settings, demo).start()
            atexit.register(_runtime.stop)
        return _runtime
