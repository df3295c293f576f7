"""Live swing detection on the hub's stream: one :class:`SwingTracker` per device.

A worker thread reads what is new in the hub's ring buffers as soon as a message arrives (at
most every ``min_interval_s``, at least every ``interval_s``) and feeds it to its device's
tracker (the same code :func:`hitting_coach.analysis.swings.swings` runs on a recorded
session), so the producers (HTTP handler, MQTT thread) never wait for the analysis. It keeps
the rows of finished swings for the dashboard, each stamped with the moment it was found.

The hitter's level (what makes a slow swing a "practice" one) belongs to the player: the name
given to the device (``players``), or the device itself while it has none. A new name on a
shared device starts from a fresh level; the same player on another device keeps theirs.
What the trackers did not list as swings is counted by reason (:meth:`status`).

A swing's number (``swing``) counts from 1 in its device's session, as the report of that
session numbers it: ``session_of(device)`` names the session the device is recording (None
while unknown: the last one known is kept), and a new session starts a new tracker and #1.
A server restarted in the middle of a session numbers on from the swings that session already
holds on disk (``stored_swings``), as its report does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hitting_coach.analysis.swing_metrics import SwingRow
from hitting_coach.analysis.swings import SWEET_SPOT_M, HitterLevel, SwingTracker
from hitting_coach.ingest.hub import Hub, Reader
from hitting_coach.sensors import detector_sensors

__all__ = ["LiveSwings"]

log = logging.getLogger(__name__)

_KEEP_SWINGS = 500  # per device; a long practice has a few hundred
_MARKS = ("practice", "arms_only", "checked", "speed_only")
_SENSORS = tuple(detector_sensors())  # the sensors the detector reads


class LiveSwings:
    """Swings found so far, per device. ``placement`` is ``None`` (guess from the data) or one
    of the tracker's placements; ``players`` gives ``{device: player name}`` (read at each
    poll); ``session_of`` as in the module docstring (without it, all of
    a device's swings are one session, ``session_id`` None). Call :meth:`poll` yourself, or
    :meth:`start` a thread that does every ``interval_s``."""

    def __init__(
        self,
        hub: Hub,
        placement: str | None = None,
        gyro_range_dps: float = 2000.0,
        sweet_spot_m: float = SWEET_SPOT_M,
        interval_s: float = 0.1,
        min_interval_s: float = 0.02,
        players: Callable[[], dict[str, str]] | None = None,
        session_of: Callable[[str], str | None] | None = None,
        stored_swings: Callable[[str, str, int], int] | None = None,
    ) -> None:
        self.hub = hub
        self.session_of = session_of
        #: ``(device, session, before_ns)``: how many swings the recorded session holds before
        #: ``before_ns`` (called once per session, on this detector's thread)
        self.stored_swings = stored_swings
        self.placement = placement
        self.gyro_range_dps = gyro_range_dps
        self.sweet_spot_m = sweet_spot_m
        self.interval_s = interval_s
        self.min_interval_s = min_interval_s
        self._arrived = threading.Event()  # set by the hub for each accepted message
        self._lock = threading.Lock()
        self._trackers: dict[str, SwingTracker] = {}
        self._readers: dict[tuple[str, str], Reader] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[str, int] = {}  # swings found per device (the list's revision)
        self._session: dict[str, str | None] = {}  # the session each device's tracker follows
        self._numbers: dict[tuple[str, str | None], int] = {}  # swings per (device, session)
        self._first_ns: dict[str, int] = {}  # the first reading each device's tracker was fed
        self._players = players or dict
        self._levels: dict[str, HitterLevel] = {}  # per player
        self._player: dict[str, str] = {}  # the player each device's tracker follows
        self._discards: dict[str, Counter[str]] = {}  # of trackers forgotten, per device
        self._listeners: list[Callable[[str], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-swings", daemon=True)

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(device)`` (on the detector's thread) as soon as it finds a swing."""
        self._listeners.append(callback)

    def start(self) -> LiveSwings:
        self.hub.subscribe(self._on_message)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.hub.unsubscribe(self._on_message)
        self._stop.set()
        self._arrived.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _on_message(self, _message: Any) -> None:
        self._arrived.set()  # the ingest thread only sets a flag; the work is done here

    def _run(self) -> None:
        while not self._stop.is_set():
            self._arrived.wait(self.interval_s)
            self._arrived.clear()
            if self._stop.is_set():
                break
            try:
                self.poll()
            except Exception:  # never let one bad chunk stop live analysis
                log.exception("live swing detection failed; carrying on")
            self._stop.wait(self.min_interval_s)  # a busy stream wakes it at most this often

    def poll(self) -> int:
        """Feed everything new to the trackers; returns the number of swings found."""
        found = 0
        devices = self.hub.devices()
        self._forget_gone(devices)
        names = self._players()
        for device in devices:
            tracker = self._trackers.get(device)
            if self._new_session(device) and tracker is not None:
                self._retire(device)  # a new session is measured as its report will be: afresh
                tracker = None
            if tracker is None:
                tracker = self._trackers[device] = SwingTracker(
                    self.placement,
                    gyro_range_dps=self.gyro_range_dps,
                    sweet_spot_m=self.sweet_spot_m,
                )
            player = "name:" + names[device] if names.get(device) else "device:" + device
            if self._player.get(device) != player:
                self._player[device] = player
                tracker.level = self._levels.setdefault(player, HitterLevel())
            chunks = {}
            for sensor in _SENSORS:
                reader = self._reader(device, sensor)
                if reader is None:
                    continue
                columns, time_ns, values = reader.read_arrays()
                if len(time_ns):
                    chunks[sensor] = (time_ns, {c: values[i] for i, c in enumerate(columns)})
            if chunks and device not in self._first_ns:
                self._first_ns[device] = min(int(t[0]) for t, _ in chunks.values())
            rows = tracker.feed_many(chunks) if chunks else []
            if rows:
                self._keep(device, rows)
                found += len(rows)
                for callback in self._listeners:
                    callback(device)
        return found

    def _new_session(self, device: str) -> bool:
        """Whether ``device`` started a session since its last swing was numbered."""
        session = self.session_of(device) if self.session_of is not None else None
        with self._lock:
            if session is None or self._session.get(device, session) == session:
                self._session.setdefault(device, session)
                return False
            self._session[device] = session
            return True

    def _forget_gone(self, devices: list[str]) -> None:
        """Drop the trackers and readers of devices that left the hub's memory (idle): the
        work per poll follows the live devices. Their swings found so far stay listed."""
        live = set(devices)
        for device in [d for d in self._trackers if d not in live]:
            self._retire(device)
        for key in [k for k in self._readers if k[0] not in live]:
            del self._readers[key]

    def _retire(self, device: str) -> None:
        """Drop the device's tracker, keeping its discard counts (its player's level lives on
        in ``_levels``: the next tracker is given it again)."""
        with self._lock:
            kept = self._discards.setdefault(device, Counter())
            kept.update(self._trackers[device].discards)
        del self._trackers[device]
        self._player.pop(device, None)
        self._first_ns.pop(device, None)

    def _reader(self, device: str, sensor: str) -> Reader | None:
        reader = self._readers.get((device, sensor))
        if reader is None and sensor in self.hub.sensors(device):
            # from the start of what the buffer holds: the device may be newer than our last poll
            reader = self._readers[(device, sensor)] = self.hub.reader(
                device, sensor, backlog=self.hub.capacity
            )
        return reader

    def _already_stored(self, device: str, session: str | None) -> int:
        """Swings of ``device``'s ``session`` recorded before this detector's tracker started
        (a server restarted mid-session): 0 unless the session is new to this detector."""
        if session is None or self.stored_swings is None or (device, session) in self._numbers:
            return 0
        try:
            return self.stored_swings(device, session, self._first_ns.get(device, 0))
        except Exception:  # numbering from 1 is better than no live swings
            log.exception("cannot count the stored swings of %s/%s", device, session)
            return 0

    def _keep(self, device: str, found: list[SwingRow]) -> None:
        now_ns = time.time_ns()
        before = self._already_stored(device, self._session.get(device))
        with self._lock:
            rows = self._rows.setdefault(device, [])
            session = self._session.get(device)
            self._numbers.setdefault((device, session), before)
            for row in found:
                self._counts[device] = self._counts.get(device, 0) + 1
                number = self._numbers.get((device, session), 0) + 1
                self._numbers[(device, session)] = number
                stamp = {"swing": number, "session_id": session, "found_ns": now_ns}
                rows.append({**row.as_dict(), **stamp})  # the list's rows: plain, for JSON
                log.info("swing %d of %s on %s (%s)", number, session, device, row.placement)
            del rows[:-_KEEP_SWINGS]

    def rows(self, device: str) -> list[dict[str, Any]]:
        """The device's swings, oldest first (at most the last 500), each with its number in
        its session (``swing``), ``session_id`` and ``found_ns`` (when it was found)."""
        with self._lock:
            return list(self._rows.get(device, ()))

    def count(self, device: str) -> int:
        """Swings found on ``device`` in all its sessions (changes with every new one)."""
        with self._lock:
            return self._counts.get(device, 0)

    def status(self) -> dict[str, Any]:
        """What was not counted, for ``status.json`` and the status line: ``discarded`` (windows
        of fast rotation that were not swings, by reason), ``practice``, ``arms_only``,
        ``checked`` and ``speed_only`` (swings listed with those marks), over all devices and
        per device (``devices``)."""
        per: dict[str, dict[str, Any]] = {}
        with self._lock:
            kept = {d: Counter(c) for d, c in self._discards.items()}
            rows = {d: list(r) for d, r in self._rows.items()}
        for device, tracker in list(self._trackers.items()):
            kept.setdefault(device, Counter()).update(tracker.discards)
        total: Counter[str] = Counter()
        marks: Counter[str] = Counter()
        for device in sorted(set(kept) | set(rows)):
            counts = {k: sum(bool(r.get(k)) for r in rows.get(device, ())) for k in _MARKS}
            discarded = dict(kept.get(device, Counter()))
            per[device] = {"discarded": discarded, **counts}
            total.update(discarded)
            marks.update(counts)
        return {"discarded": dict(total), **{k: marks[k] for k in _MARKS}, "devices": per}

    def speed_only(self, device: str) -> bool:
        """Whether any of the device's swings was judged by speed alone (no gravity)."""
        with self._lock:
            return any(r.get("speed_only") for r in self._rows.get(device, ()))

    def numbered(self, device: str, session: str | None) -> int:
        """The last number given in ``device``'s ``session`` (0 before its first swing)."""
        with self._lock:
            return self._numbers.get((device, session), 0)
