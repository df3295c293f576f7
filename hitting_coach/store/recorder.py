"""The recorder: every accepted message is on disk before anyone sees it.

The hub calls :meth:`Recorder.append` (under its lock) for each accepted message. The message
goes into the journal as one JSON line, handed to the operating system with one ``write``
before ``append`` returns: a process killed with SIGKILL loses nothing the hub accepted. The
fsync thread makes the journal durable against power loss every ``fsync_interval_s`` (0: on
every message). The writer thread, the only one writing Parquet, turns appended messages into
per-session, per-sensor Parquet parts every ``parquet_interval_s``, then moves the segment's
checkpoint, and compacts a session's parts into one once it goes quiet.

On :meth:`open`, segments left behind by a process that died are converted (in the writer
thread), and the keys of recently journaled messages are returned so the hub drops the
duplicates a broker redelivers after a restart. :meth:`close` converts everything.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import shutil
import threading
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from hitting_coach.errors import MessageError, RecordingError, StartupError
from hitting_coach.ingest.parse import Batch, Message
from hitting_coach.store.layout import (
    JOURNAL,
    SESSIONS,
    batches_to_table,
    decode_line,
    encode_line,
    frame_from_tables,
    iter_lines,
    list_parts,
    part_origin,
    read_checkpoint,
    segments,
    sensor_dir,
    session_dir,
    session_dirs,
    write_checkpoint,
    write_table,
)
from hitting_coach.store.takes import Take, TakeLog, read_takes

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()
_WAKE_EVERY = 5_000  # appended messages that wake the writer before its interval is up
_KEYS_MAX_AGE_S = 600  # keys of messages journaled this recently are remembered at start
_KEYS_TAIL_BYTES = 32 << 20
_REOPEN_EVERY_S = 1.0  # after a failed write, try a fresh segment at most this often
_CLOCK_FRESH_S = 30.0

_Pending = dict[tuple[str, str], dict[str, list[Batch]]]


class Recorder:
    """Journal plus derived Parquet for one data directory; one instance per process.

    ``parquet_interval_s`` is how often appended messages become Parquet (what a notebook
    reads without parsing the journal); ``compact_after_s`` how long a session must be quiet
    before its parts are merged. Thread-safe; :meth:`close` is safe to call twice.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        fsync_interval_s: float = 1.0,
        parquet_interval_s: float = 10.0,
        compact_after_s: float = 60.0,
        segment_bytes: int = 256 << 20,
        min_free_bytes: int = 16 << 20,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.fsync_interval_s = fsync_interval_s
        self.parquet_interval_s = parquet_interval_s
        self.compact_after_s = compact_after_s
        self.segment_bytes = segment_bytes
        self.min_free_bytes = min_free_bytes
        self.counters: Counter[str] = Counter()
        self.error: str | None = None  # journal write or fsync failure; cleared when it works
        self.writer_error: str | None = None  # Parquet conversion failure (journal still has it)
        self._lock = threading.Lock()
        self._state = "new"
        self._fd: int | None = None
        self._segment: Path | None = None
        self._offset = 0
        self._torn = False
        self._failed_at = 0.0
        self._dirty = False
        self._last_fsync = time.monotonic()
        self._clock: dict[str, tuple[int, int, str]] = {}  # device: (reading, received, session)
        self.take_log = TakeLog(self.data_dir, self.device_clock)
        # Accepted messages wait in a deque the writer drains when it wakes (on its interval or
        # a control item), so a message costs the ingest thread no wake-up of the writer: a
        # per-message hand-off made the two threads trade the GIL thousands of times a second.
        self._appended: deque[tuple[Message, Path, int]] = deque()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # control: flush, stop
        self._stop_fsync = threading.Event()
        self._fsyncer: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        # writer-thread state
        self._pending: _Pending = {}
        self._pending_segment: Path | None = None
        self._pending_end = 0
        self._pending_readings = 0
        self._stuck: set[Path] = set()
        self._touched: dict[tuple[str, str], list[float]] = {}  # key: [last write, parts]
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------------- lifecycle
    def open(self) -> list[tuple[str, str, int]]:
        """Check the data directory, start a journal segment and the threads.

        Returns the keys of messages journaled in the last minutes (for the hub's duplicate
        check). Raises :class:`StartupError` if the directory cannot be written or is full.
        """
        with self._lock:
            if self._state != "new":
                raise RecordingError(f"recorder is already {self._state}")
            self._preflight()
            try:
                self._open_segment()
            except OSError as e:
                raise StartupError(self._cannot("write to", e)) from None
            self._state = "open"
        keys = self._recent_keys()
        # A daemon: the interpreter joins non-daemon threads *before* atexit hooks run, so a
        # non-daemon writer would keep a SIGTERMed server from reaching close(), which joins it.
        self._writer = threading.Thread(
            target=self._write_loop, name="recorder-writer", daemon=True
        )
        self._writer.start()
        if self.fsync_interval_s > 0:
            self._fsyncer = threading.Thread(
                target=self._fsync_loop, name="recorder-fsync", daemon=True
            )
            self._fsyncer.start()
        log.info("recording into %s (journal %s)", self.data_dir, self._segment)
        return keys

    def start(self) -> Recorder:
        """:meth:`open`, for callers that do not need the recent keys."""
        self.open()
        return self

    def close(self, timeout: float = 120.0) -> None:
        """Flush, fsync and convert everything appended; later appends fail. Safe twice."""
        with self._lock:
            was_open, self._state = self._state == "open", "closed"
        if not was_open:
            return
        self._stop_fsync.set()
        if self._fsyncer is not None:
            self._fsyncer.join(timeout=10)
        self.sync()
        self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join(timeout)
            if self._writer.is_alive():
                log.error("the recorder's writer did not finish in %.0f s", timeout)
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if self._segment is not None and self._offset == 0:
            self._segment.unlink(missing_ok=True)  # a run that recorded nothing leaves nothing
        log.info("recorder closed (%d messages this run)", self.counters["messages"])

    stop = close

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _preflight(self) -> None:
        try:
            for sub in ("", JOURNAL, SESSIONS):
                (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / JOURNAL / f".probe-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise StartupError(self._cannot("write to", e)) from None
        free = shutil.disk_usage(self.data_dir).free
        if free < self.min_free_bytes:
            raise StartupError(
                f"data directory {self.data_dir} is full ({free / 1e6:.1f} MB free); "
                "free some space or set HITTING_COACH_DATA_DIR to another disk"
            )

    def _cannot(self, doing: str, e: OSError) -> str:
        where = "" if str(e.filename) == str(self.data_dir) else f"{e.filename}: "
        return (
            f"cannot {doing} data directory {self.data_dir} ({where}{e.strerror}); "
            "set HITTING_COACH_DATA_DIR to a writable directory"
        )

    def _open_segment(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.data_dir / JOURNAL / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        old, self._fd, self._segment, self._offset, self._torn = self._fd, fd, path, 0, False
        if old is not None:
            with contextlib.suppress(OSError):  # a failed fd: what it held is what the OS has
                os.fsync(old)
            os.close(old)

    # ---------------------------------------------------------------------------- append
    def append(self, message: Message, raw: bytes, source: str, received_ns: int) -> None:
        """Journal one accepted message; it is in the OS's hands when this returns.

        Raises :class:`RecordingError` if it could not be written (the hub counts it and
        keeps the live view going); the next append tries again, on a fresh segment.
        """
        line = encode_line(raw, source, received_ns)
        with self._lock:
            if self._state != "open":
                raise RecordingError(f"recorder is {self._state}, not recording")
            try:
                self._write(line)
            except OSError as e:
                self.counters["write_errors"] += 1
                self.error = f"cannot write the journal: {e.strerror or e}"
                raise RecordingError(self.error) from None
            self.error = None
            self._track_clock(message, received_ns)
            self.counters["messages"] += 1
            self._appended.append((message, self._segment, self._offset))
            if len(self._appended) % _WAKE_EVERY == 0:
                self._queue.put(_WAKE)

    def _write(self, line: bytes) -> None:
        if (
            self._fd is None
            or self._offset >= self.segment_bytes
            or (self._torn and time.monotonic() - self._failed_at >= _REOPEN_EVERY_S)
        ):
            self._open_segment()
        if self._torn:  # end the half-written line so it reads as one damaged line
            line = b"\n" + line
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)  # type: ignore[arg-type]
                view = view[written:]
                self._offset += written
        except OSError:
            self._torn, self._failed_at = True, time.monotonic()
            raise
        self._torn = False
        if self.fsync_interval_s == 0:
            os.fsync(self._fd)  # type: ignore[arg-type]
            self._last_fsync = time.monotonic()
        else:
            self._dirty = True

    def _track_clock(self, message: Message, received_ns: int) -> None:
        if message.latest_ns:
            self._clock[message.device_id] = (message.latest_ns, received_ns, message.session_id)

    def sync(self) -> None:
        """fsync the journal now if anything was written since the last fsync."""
        with self._lock:
            if not self._dirty or self._fd is None:
                return
            fd, self._dirty = os.dup(self._fd), False
        try:
            os.fsync(fd)
            self._last_fsync = time.monotonic()
            self.counters["fsyncs"] += 1
        except OSError as e:
            self.error = f"cannot fsync the journal: {e.strerror}"
            log.error("%s", self.error)
        finally:
            os.close(fd)

    def _fsync_loop(self) -> None:
        while not self._stop_fsync.wait(self.fsync_interval_s):
            self.sync()

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything appended so far is in Parquet (tests, benchmarks, export)."""
        if self._state != "open":
            return
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise RecordingError(f"the recorder's writer did not flush in {timeout} s")

    # ------------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        try:
            self._recover()
            self._compact_all()
            self._refresh_index()
        except Exception:
            log.exception("start-up conversion of the journal failed")
        next_flush = time.monotonic() + self.parquet_interval_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
            except queue.Empty:
                item = None
            while self._appended:  # everything appended before the control item, in order
                self._add(*self._appended.popleft())
            if item is _STOP:
                break
            if isinstance(item, threading.Event):
                self._flush()
                item.set()
                continue
            if time.monotonic() >= next_flush or self._pending_readings > 2_000_000:
                self._flush()
                self._compact_quiet()
                next_flush = time.monotonic() + self.parquet_interval_s
        self._flush()
        self._refresh_index()

    def _add(self, message: Message, segment: Path, end: int) -> None:
        if self._pending_segment is not None and segment != self._pending_segment:
            self._flush()
        self._pending_segment, self._pending_end = segment, end
        sensors = self._pending.setdefault((message.device_id, message.session_id), {})
        for batch in message.batches.values():
            sensors.setdefault(batch.sensor, []).append(batch)
        self._pending_readings += message.n_readings

    def _flush(self) -> None:
        pending, segment, end = self._pending, self._pending_segment, self._pending_end
        self._pending, self._pending_segment, self._pending_readings = {}, None, 0
        if not pending or segment is None:
            return
        try:
            self._write_parts(pending, segment, end)
            self.writer_error = None
        except OSError as e:
            # The checkpoint stays where it was: the journal keeps this range, and the next
            # start converts it again (dropping whatever parts got written past it).
            self._stuck.add(segment)
            self.writer_error = f"cannot write Parquet ({e.strerror}); the journal has the data"
            log.error("%s", self.writer_error)
        self._last_flush = time.monotonic()

    def _write_parts(self, pending: _Pending, segment: Path, end: int) -> None:
        now = time.monotonic()
        for (device, session), sensors in pending.items():
            for sensor, batches in sensors.items():
                part = sensor_dir(self.data_dir, device, session, sensor) / (
                    f"part-{segment.stem}-{end:012d}.parquet"
                )
                write_table(part, batches_to_table(batches))
                self.counters["parts"] += 1
            touched = self._touched.setdefault((device, session), [now, 0])
            touched[0], touched[1] = now, touched[1] + 1
        if segment not in self._stuck:
            write_checkpoint(segment, end)

    def _recover(self) -> None:
        """Convert what segments of dead processes hold beyond their checkpoint."""
        for segment in segments(self.data_dir):
            if segment == self._segment:
                continue
            start = read_checkpoint(segment)
            try:
                if segment.stat().st_size <= start:
                    continue
                fd = os.open(segment, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live writer owns it
            try:
                self._convert(segment, start)
            finally:
                os.close(fd)

    def _convert(self, segment: Path, start: int) -> None:
        pattern = f"*/*/*/part-{segment.stem}-*.parquet"
        for orphan in (self.data_dir / SESSIONS).glob(pattern):
            if int(part_origin(orphan)[1]) > start:
                orphan.unlink(missing_ok=True)
        pending: _Pending = {}
        readings, end, damaged = 0, start, 0
        for offset, line in iter_lines(segment, start):
            end = offset
            if not line.strip():
                continue
            try:
                message = decode_line(line).message
            except MessageError:
                damaged += 1
                continue
            sensors = pending.setdefault((message.device_id, message.session_id), {})
            for batch in message.batches.values():
                sensors.setdefault(batch.sensor, []).append(batch)
            readings += message.n_readings
            if readings >= 1_000_000:
                self._write_parts(pending, segment, end)
                pending, readings = {}, 0
        self._write_parts(pending, segment, end) if pending else write_checkpoint(segment, end)
        self.counters["recovered_segments"] += 1
        log.info(
            "converted journal %s from byte %d to %d%s",
            segment.name,
            start,
            end,
            f" ({damaged} damaged lines skipped)" if damaged else "",
        )

    # --------------------------------------------------------------------------- compaction
    def _compact_quiet(self) -> None:
        now = time.monotonic()
        for key, (last, parts) in list(self._touched.items()):
            if parts >= 30 or (parts >= 2 and now - last >= self.compact_after_s):
                self.compact(*key)
                del self._touched[key]
            elif now - last >= self.compact_after_s:
                del self._touched[key]

    def _compact_all(self) -> None:
        for device, session, path in session_dirs(self.data_dir):
            if any(len(p) > 1 for p in list_parts(path).values()):
                self.compact(device, session)

    def compact(self, device_id: str, session_id: str) -> None:
        """Merge a session's converted parts into one file per sensor (sorted, de-duplicated).

        Only parts whose journal range is checkpointed are merged, so a crash during
        compaction leaves duplicates (dropped on read) and never a gap.
        """
        checkpoints: dict[str, int] = {}

        def settled(part: Path) -> bool:
            origin, end = part_origin(part)
            if origin in ("compact", "import"):
                return True
            if origin not in checkpoints:
                seg = self.data_dir / JOURNAL / f"{origin}.jsonl"
                checkpoints[origin] = read_checkpoint(seg) if seg.exists() else 1 << 62
            return end.isdigit() and int(end) <= checkpoints[origin]

        try:
            for sensor, parts in list_parts(
                session_dir(self.data_dir, device_id, session_id)
            ).items():
                merge = [p for p in parts if settled(p)]
                if len(merge) < 2:
                    continue
                frame = frame_from_tables([pq.read_table(p) for p in merge])
                target = merge[0].with_name(f"part-compact-{uuid.uuid4().hex}.parquet")
                write_table(target, pa.Table.from_pandas(frame, preserve_index=False))
                for part in merge:
                    part.unlink(missing_ok=True)
                self.counters["compactions"] += 1
                log.debug(
                    "compacted %d parts of %s/%s/%s", len(merge), device_id, session_id, sensor
                )
        except (OSError, pa.ArrowException) as e:
            log.error("cannot compact %s/%s: %s", device_id, session_id, e)

    def _refresh_index(self) -> None:
        from hitting_coach.store.sessions import refresh_index

        try:
            refresh_index(self.data_dir)
        except Exception:
            log.exception("cannot rebuild the session index")

    # ------------------------------------------------------------------------- recent keys
    def _recent_keys(self) -> list[tuple[str, str, int]]:
        cutoff = time.time_ns() - _KEYS_MAX_AGE_S * 10**9
        keys: list[tuple[str, str, int]] = []
        for segment in segments(self.data_dir):
            if segment == self._segment:
                continue
            try:
                stat = segment.stat()
            except FileNotFoundError:
                continue
            if stat.st_mtime_ns < cutoff or stat.st_size == 0:
                continue
            start = max(0, stat.st_size - _KEYS_TAIL_BYTES)
            for _, line in iter_lines(segment, start):
                key = _line_key(line, cutoff)
                if key is not None:
                    keys.append(key)
        return keys

    # ------------------------------------------------------------------------------ takes
    def device_clock(self, device_id: str) -> tuple[int, str | None]:
        """``(now on the device's clock, its current session)``, estimated from its last
        message (reading times are the phone's clock); the server's clock if none is fresh."""
        now = time.time_ns()
        with self._lock:
            clock = self._clock.get(device_id)
        if clock is None or now - clock[1] > _CLOCK_FRESH_S * 1e9:
            return now, None
        return now + (clock[0] - clock[1]), clock[2]

    def device_time_ns(self, device_id: str) -> int:
        return self.device_clock(device_id)[0]

    def start_take(self, device_id: str, name: str = "") -> Take:
        """Start a take on ``device_id`` now (stopping the one running there, if any)."""
        return self.take_log.start(device_id, name)

    def stop_take(self, device_id: str) -> Take | None:
        """Stop the take running on ``device_id``; returns it, or None if none was running."""
        return self.take_log.stop(device_id)

    def running_take(self, device_id: str) -> Take | None:
        return self.take_log.running(device_id)

    def takes(self) -> list[Take]:
        """Every take stored in the data directory (of this and earlier runs)."""
        return read_takes(self.data_dir)

    # ----------------------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        """Recorder state for the status endpoint (merged into its ``recording`` entry)."""
        now = time.monotonic()
        return {
            "ok": self.error is None,
            "error": self.error,
            "parquet_error": self.writer_error,
            "state": self._state,
            "data_dir": str(self.data_dir),
            "journal": self._segment.name if self._segment else None,
            "journal_bytes": self._offset,
            "messages": self.counters["messages"],
            "fsync_interval_s": self.fsync_interval_s,
            "last_fsync_age_s": round(now - self._last_fsync, 3),
            "pending_readings": self._pending_readings,
            "last_parquet_age_s": round(now - self._last_flush, 3),
        }


def _line_key(line: bytes, cutoff_ns: int) -> tuple[str, str, int] | None:
    """The (device, session, messageId) of a journal line received after ``cutoff_ns``."""
    try:
        doc = orjson.loads(line)
        if doc["received_ns"] < cutoff_ns:
            return None
        message = doc["message"]
        return str(message["deviceId"]), str(message["sessionId"]), int(message["messageId"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
