"""The server process's one core object: settings, hub and background workers.

``hitting-coach serve`` builds one :class:`Runtime`, starts its background work (recorder,
live swing detection, demo feed, MQTT consumer), hands it to the web routes
(:func:`hitting_coach.web.routes.routes`) and makes it the :func:`served_runtime` that the
Panel apps in ``apps/`` show (Panel runs an app's script once per page, in this process).
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hitting_coach import __version__
from hitting_coach.analysis.corrections import MarkedLiveSwings, json_ready, stored_swing_count
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.config import Settings
from hitting_coach.errors import HittingCoachError, StartupError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import Limits
from hitting_coach.report_jobs import ReportJobs
from hitting_coach.store.players import PlayerNames
from hitting_coach.store.recorder import Recorder
from hitting_coach.ui.shared_status import server_status_text, shared_status, status_text
from hitting_coach.web.live import LIVE_SENSORS, LiveFeed

__all__ = [
    "LOCK_FILE",
    "Runtime",
    "hold_data_dir",
    "release_data_dir",
    "serve_runtime",
    "served_runtime",
]

log = logging.getLogger(__name__)

#: In the data directory: held (``flock``) by the one server recording into it.
LOCK_FILE = "server.lock"
_held: dict[Path, int] = {}
_held_lock = threading.Lock()


def hold_data_dir(data_dir: Path, shared: bool = False) -> Path:
    """Take the data directory for this process: one server per data directory, so two never
    recover, convert or append to the same journal. The lock is an exclusive ``flock`` on
    ``<data_dir>/server.lock``, held until the process ends (the OS drops it even on
    SIGKILL, so a crash leaves nothing to clean up); the file names the holder's pid. Calling
    it again in the same process does nothing. Returns the lock file.

    Raises :class:`StartupError` naming the holder's pid if another process holds it.

    ``shared``: for ``serve --worker``, whose processes record into one store together (each
    its own journal segment); a shared ``flock``, which a server's exclusive one excludes.
    """
    path = data_dir / LOCK_FILE
    with _held_lock:
        if data_dir.resolve() in _held:
            return path
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StartupError(
                f"cannot use data directory {data_dir} ({e.strerror}); "
                "set HITTING_COACH_DATA_DIR to a writable directory"
            ) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if holder.startswith("workers"):
                raise StartupError(
                    f"data directory {data_dir} is recorded into by hitting-coach serve "
                    "--worker processes; stop them first, or set HITTING_COACH_DATA_DIR to "
                    "another folder"
                ) from None
            raise StartupError(
                f"data directory {data_dir} is in use by another hitting-coach serve "
                f"(pid {holder}); stop it first, or set HITTING_COACH_DATA_DIR to another folder"
            ) from None
        os.ftruncate(fd, 0)
        holder = "workers" if shared else str(os.getpid())
        os.pwrite(fd, f"{holder}\n".encode(), 0)
        _held[data_dir.resolve()] = fd
        return path


def release_data_dir(data_dir: Path) -> None:
    """Let the data directory go (a stopped runtime); nothing if this process does not hold it."""
    with _held_lock:
        fd = _held.pop(data_dir.resolve(), None)
    if fd is not None:
        os.close(fd)


#: Seconds after the first open of the sessions or players pages that the report kernel kept
#: ready starts (a report asked for before then starts its own kernel).
PREPARE_AFTER_S = 10.0


class Runtime:
    """Everything one server process runs, built from one :class:`Settings`."""

    def __init__(self, settings: Settings, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.recorder = recorder_for(settings)
        self.hub = hub_for(settings, self.recorder, settings.buffer_readings)
        self.ingest_token = ""  # resolved by start() (it may be kept in the data folder)
        self.swings = LiveSwings(
            self.hub,
            None if settings.placement == "auto" else settings.placement,
            gyro_range_dps=settings.gyro_range_dps,
            sweet_spot_m=settings.sweet_spot_m,
            players=PlayerNames(settings.data_path),  # a hitter's level is the player's
            session_of=lambda device: self.recorder.device_clock(device)[1],
            # a restart in the middle of a session numbers on from what it recorded before
            stored_swings=partial(stored_swing_count, settings.data_path),
        )
        #: the live swings with the coach's marks, kept with each device's recorded session
        self.marked_swings = MarkedLiveSwings(
            self.swings,
            settings.data_path,
            session_of=lambda device: self.recorder.device_clock(device)[1],
            frames_of=lambda device: {
                s: self.hub.frame(device, s) for s in self.hub.sensors(device)
            },
        )
        #: the live plots' data, read once per tick for every open dashboard page
        self.feed = LiveFeed(
            self.hub,
            LIVE_SENSORS,
            period_ms=settings.update_ms,
            swing_revision=self.marked_swings.revision,
            status=lambda device: status_text(
                shared_status(self.hub, self.status).status(), device
            ),
        )
        self.swings.add_listener(self.feed.swings_changed)
        #: the sessions page's reports, made in the background (every browser shares them)
        self.reports = ReportJobs(
            max_waiting=settings.report_queue_max, keep_reports=settings.reports_kept
        )
        self._workers: list[Any] = []
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> Runtime:
        """Start background work; calling it again does nothing."""
        with self._lock:
            if self._started:
                return self
            hold_data_dir(self.settings.data_path)  # before recovery touches the journal
            self._started = True
            self.ingest_token = self.settings.resolved_ingest_token()
            # First started, last stopped: on SIGTERM everything accepted is flushed to disk.
            # Raises StartupError (one clear line from the CLI) if the data dir is unusable.
            try:
                keys = self.recorder.open()
            except BaseException:
                release_data_dir(self.settings.data_path)
                raise
            for key in keys:
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
        self.reports.close()  # after the report it is making: it reads the recorded files
        self.feed.stop()
        for worker in reversed(workers):
            worker.stop()
        if workers:
            release_data_dir(self.settings.data_path)

    @functools.cached_property
    def pages(self) -> Any:
        """The sessions and players pages (:mod:`hitting_coach.ui.sessions_page`), made the
        first time one is asked for (it imports the page's libraries)."""
        from hitting_coach.ui.sessions_page import SessionsPage

        # Someone may ask for a report: have a kernel ready for it, started a little after the
        # first page is on screen (its start-up would slow that page's first answer).
        timer = threading.Timer(PREPARE_AFTER_S, self._prepare_report)
        timer.daemon = True
        timer.start()
        return SessionsPage(
            self.settings.data_path,
            recording=lambda device, session: self.recorder.device_clock(device)[1] == session,
            start_report=self.reports.start,
            report_status=self.reports.status,
            footer=lambda: server_status_text(self.status()),  # the server's own status
        )

    def _prepare_report(self) -> None:
        try:
            self.reports.prepare()
        except HittingCoachError as e:  # stopping meanwhile: no kernel needed
            log.debug("no report kernel ahead: %s", e)

    def live_swings(self, device: str) -> list[dict[str, Any]] | None:
        """``device``'s live swings, oldest first, the coach's marks applied, as plain JSON
        values; None for a device the hub does not know."""
        if device not in self.hub.devices():
            return None
        return [json_ready(row) for row in self.marked_swings.rows(device)]

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
        status["live_feed"] = self.feed.status()
        status["swings"] = self.swings.status()  # what was not counted, and why
        return status


def recorder_for(settings: Settings) -> Recorder:
    """The recorder of a server or worker, as the settings say."""
    return Recorder(
        settings.data_path,
        fsync_interval_s=settings.fsync_interval_s,
        parquet_interval_s=settings.parquet_interval_s,
        journal_retention_s=settings.journal_retention_s,
        max_open_sessions_per_device=settings.max_open_sessions_per_device,
    )


def hub_for(
    settings: Settings,
    recorder: Recorder,
    capacity: int,
    peers: Callable[[tuple[str, str, int]], bool] | None = None,
) -> Hub:
    """The hub in front of ``recorder``: the settings' limits, ``capacity`` readings per
    sensor in memory, ``peers`` (other workers' message ids, :mod:`hitting_coach.worker`)."""
    return Hub(
        capacity=capacity,
        max_message_bytes=settings.max_message_bytes,
        sink=recorder,
        limits=limits(settings),
        check_time=True,
        max_devices=settings.max_live_devices,
        device_idle_s=settings.device_idle_s,
        peers=peers,
    )


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


_served: Runtime | None = None


def serve_runtime(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one this process serves (``hitting-coach serve``, or
    :mod:`hitting_coach.plugin` under ``panel serve``, call this once, before the server takes
    a request). Raises RuntimeError if another runtime is already served."""
    global _served
    if _served is not None and _served is not runtime:
        raise RuntimeError("this process already serves a runtime")
    _served = runtime
    return runtime


def served_runtime() -> Runtime:
    """The runtime this process serves: how a Panel app in ``apps/`` (run once per page)
    reaches the hub, the settings and the recorder. Not for the web routes, which are given
    their app (:func:`hitting_coach.web.routes.routes`). Raises RuntimeError outside a server
    (no :func:`serve_runtime` yet)."""
    if _served is None:
        raise RuntimeError(
            "no runtime is served in this process: run the apps with `hitting-coach serve` "
            "(or `panel serve ... --plugins hitting_coach.plugin`)"
        )
    return _served
