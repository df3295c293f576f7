"""Takes: named time ranges inside a device's stream ("tee work", "live BP, round 2").

A take is stored as events appended to ``DATA_DIR/takes.jsonl`` (``start``, then ``stop``;
or ``add`` for a finished range): appends of one short line are safe from several processes,
and a crash leaves at most an open take, which reads as "until the end of the data".
Times are reading times (the phone's clock, epoch nanoseconds), the axis of the recording.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from hitting_coach.errors import RecordingError, SessionError

__all__ = ["TAKES_FILE", "Take", "TakeLog", "append_event", "new_take_id", "read_takes"]

log = logging.getLogger(__name__)

TAKES_FILE = "takes.jsonl"


@dataclass(frozen=True, slots=True)
class Take:
    """One take: ``start_ns <= time_ns < end_ns`` on ``device_id``; ``end_ns`` is None while
    the take is running. ``session_id`` is the device's session when the take started."""

    take_id: str
    name: str
    device_id: str
    session_id: str | None
    start_ns: int
    end_ns: int | None = None

    @property
    def running(self) -> bool:
        return self.end_ns is None

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9

    def as_dict(self) -> dict:
        return asdict(self)


def new_take_id() -> str:
    return uuid.uuid4().hex[:12]


def append_event(data_dir: Path, event: dict) -> None:
    """Append one take event durably; raises OSError if it cannot be written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps(event) + b"\n"
    fd = os.open(data_dir / TAKES_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_takes(data_dir: Path) -> list[Take]:
    """Every take, in the order they were started. A damaged line is skipped."""
    path = data_dir / TAKES_FILE
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise SessionError(f"cannot read takes in {path}: {e.strerror}") from None
    takes: dict[str, Take] = {}
    for line in lines:
        try:
            event = orjson.loads(line)
            kind, take_id = event["event"], str(event["take_id"])
            if kind in ("start", "add"):
                takes[take_id] = Take(
                    take_id,
                    str(event.get("name") or ""),
                    str(event["device_id"]),
                    event.get("session_id"),
                    int(event["start_ns"]),
                    None if event.get("end_ns") is None else int(event["end_ns"]),
                )
            elif kind == "stop" and take_id in takes:
                takes[take_id] = replace(takes[take_id], end_ns=int(event["end_ns"]))
            elif kind == "delete":
                takes.pop(take_id, None)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return list(takes.values())


class TakeLog:
    """The takes running on each device, saved as events as they start and stop.

    ``clock(device_id)`` gives ``(now on the device's clock, its current session)``: takes
    are ranges of reading time. Thread-safe (the dashboard's sessions call it). :meth:`takes`
    is what every browser's take panel shows on each tick: it is kept in memory, read again
    only after our own writes or when the file changed (another process added a take).
    """

    def __init__(self, data_dir: Path, clock: Callable[[str], tuple[int, str | None]]) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self._running: dict[str, Take] = {}
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int] | None, list[Take]] | None = None
        self.reads = 0  # times the file was read (the cache's misses)

    def takes(self) -> list[Take]:
        """Every take stored in the data directory (of this and earlier runs)."""
        stamp = self._stamp()
        cache = self._cache
        if cache is not None and cache[0] == stamp:
            return list(cache[1])
        with self._lock:
            stamp = self._stamp()
            takes = read_takes(self.data_dir)
            self.reads += 1
            self._cache = (stamp, takes)
        return list(takes)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.data_dir / TAKES_FILE)
        except FileNotFoundError:
            return None
        except OSError:
            return (-1, -1)  # unreadable: read_takes says why
        return st.st_size, st.st_mtime_ns

    def start(self, device_id: str, name: str = "") -> Take:
        with self._lock:
            self._stop(device_id)
            now_ns, session_id = self.clock(device_id)
            if not name.strip():
                done = sum(t.device_id == device_id for t in read_takes(self.data_dir))
                name = f"take {done + 1}"
            take = Take(new_take_id(), name.strip(), device_id, session_id, now_ns)
            self._save({"event": "start", **take.as_dict()})
            self._running[device_id] = take
            log.info("take %r started on %s", take.name, device_id)
            return take

    def stop(self, device_id: str) -> Take | None:
        with self._lock:
            return self._stop(device_id)

    def running(self, device_id: str) -> Take | None:
        return self._running.get(device_id)

    def _stop(self, device_id: str) -> Take | None:
        take = self._running.get(device_id)
        if take is None:
            return None
        end_ns = max(self.clock(device_id)[0], take.start_ns)
        self._save({"event": "stop", "take_id": take.take_id, "end_ns": end_ns})
        del self._running[device_id]
        log.info("take %r stopped on %s", take.name, device_id)
        return replace(take, end_ns=end_ns)

    def _save(self, event: dict) -> None:
        self._cache = None  # our own write: read the file again next time
        try:
            append_event(self.data_dir, event)
        except OSError as e:
            raise RecordingError(f"cannot save the take: {e.strerror}") from None
