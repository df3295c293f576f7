"""The recorder: every accepted message is on disk before anyone sees it.

A thin coordinator of the parts that do the work:

* :mod:`~hitting_coach.store.journal`: :meth:`Recorder.append` writes the message as one
  journal line before it returns (a process killed with SIGKILL loses nothing the hub
  accepted; a failed write raises, so the sender is not told "recorded");
* :mod:`~hitting_coach.store.parts`: the one writer thread turns appended messages into
  per-session Parquet parts every ``parquet_interval_s``, moves the segment's checkpoint, and
  compacts a session's parts once it goes quiet;
* :mod:`~hitting_coach.store.recovery`: on :meth:`open`, the keys of recently journaled
  messages are returned for the hub's duplicate check, and the writer converts what dead
  processes left;
* :mod:`~hitting_coach.store.retention`: journal segments whose readings are verified in
  Parquet are removed after ``journal_retention_s``;
* :mod:`~hitting_coach.store.takes`: takes.

:meth:`close` converts everything.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import pyarrow as pa

from hitting_coach.errors import RecordingError, StartupError
from hitting_coach.ingest.parse import Message
from hitting_coach.store.journal import (
    Failure,
    Journal,
    add_failures,
    encode_line,
    read_checkpoint,
    write_checkpoint,
)
from hitting_coach.store.layout import JOURNAL, SESSIONS, list_parts, session_dirs
from hitting_coach.store.parts import (
    Pending,
    compact_session,
    remove_dead_imports,
    remove_dead_temporaries,
    settled_parts,
    write_session_parts,
)
from hitting_coach.store.recovery import recent_keys, recover
from hitting_coach.store.retention import prune_journal
from hitting_coach.store.sessions import refresh_index
from hitting_coach.store.takes import Take, TakeLog

__all__ = ["DUPLICATE_WINDOW_S", "Recorder"]

log = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()
_WAKE_EVERY = 5_000  # appended messages that wake the writer before its interval is up
#: Messages journaled this recently are remembered at start (a broker's redelivery after a
#: restart is a duplicate); the journal is kept at least this long.
DUPLICATE_WINDOW_S = 600.0
_PENDING_MAX = 2_000_000  # readings waiting for Parquet before the writer gives up retrying
_PRUNE_EVERY_S = 60.0
_CLOCK_FRESH_S = 30.0


class Recorder:
    """Journal plus derived Parquet for one data directory; one instance per process.

    ``parquet_interval_s`` is how often appended messages become Parquet (what a notebook
    reads without parsing the journal); ``compact_after_s`` how long a session must be quiet
    before its parts are merged; ``journal_retention_s`` how long a journal segment is kept
    once its readings are verified in Parquet (at least :data:`DUPLICATE_WINDOW_S`; negative:
    forever). Thread-safe; :meth:`close` is safe to call twice.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        fsync_interval_s: float = 1.0,
        parquet_interval_s: float = 10.0,
        compact_after_s: float = 60.0,
        segment_bytes: int = 256 << 20,
        segment_age_s: float = 600.0,
        journal_retention_s: float = 3600.0,
        min_free_bytes: int = 16 << 20,
        max_open_sessions_per_device: int = 4,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.fsync_interval_s = fsync_interval_s
        self.parquet_interval_s = parquet_interval_s
        self.compact_after_s = compact_after_s
        self.journal_retention_s = journal_retention_s
        self.min_free_bytes = min_free_bytes
        self.max_open_sessions_per_device = max(1, max_open_sessions_per_device)
        self.journal = Journal(
            self.data_dir / JOURNAL,
            fsync_interval_s=fsync_interval_s,
            segment_bytes=segment_bytes,
            segment_age_s=segment_age_s,
        )
        self.counters: Counter[str] = Counter()
        self.error: str | None = None  # journal write failure; cleared when a write works
        self.writer_error: str | None = None  # Parquet writes failing (the journal has it)
        #: Sessions of this run that could not be converted (they are read from the journal).
        self.unconverted: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._state = "new"
        self._clock: dict[str, tuple[int, int, str]] = {}  # device: (reading, received, session)
        self.take_log = TakeLog(self.data_dir, self.device_clock)
        # Accepted messages wait in a deque the writer drains when it wakes (on its interval or
        # a control item), so a message costs the ingest thread no wake-up of the writer: a
        # per-message hand-off made the two threads trade the GIL thousands of times a second.
        self._appended: deque[tuple[Message, Path, int]] = deque()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # control: flush, stop
        self._writer: threading.Thread | None = None
        # writer-thread state
        self._pending: Pending = {}
        self._pending_segment: Path | None = None
        self._pending_end = 0
        self._pending_readings = 0
        self._done: tuple[Path | None, int] = (None, 0)  # last checkpoint this run wrote
        self._stuck: set[Path] = set()
        self._unverified: set[Path] = set()  # journal segments retention keeps for good
        self._touched: dict[tuple[str, str], list[float]] = {}  # key: [last write, parts]
        self._index_stale = False  # the whole index (at start)
        #: Sessions whose parts changed since the index was refreshed: only their entries are
        #: read again (a walk of every session folder took seconds with 2,000 of them).
        self._index_keys: set[tuple[str, str]] = set()
        self._last_flush = time.monotonic()
        self._last_prune = 0.0

    # ------------------------------------------------------------------------- lifecycle
    def open(self) -> list[tuple[str, str, int]]:
        """Check the data directory, start a journal segment and the writer thread.

        Returns the keys of messages journaled in the last :data:`DUPLICATE_WINDOW_S` (for the
        hub's duplicate check). Raises :class:`StartupError` if the directory cannot be
        written or is full.
        """
        with self._lock:
            if self._state != "new":
                raise RecordingError(f"recorder is already {self._state}")
            self._preflight()
            try:
                self.journal.open()
            except OSError as e:
                raise StartupError(self._cannot("write to", e)) from None
            self._state = "open"
        keys = recent_keys(self.data_dir, self.journal.segment, DUPLICATE_WINDOW_S)
        # A daemon: the interpreter joins non-daemon threads *before* atexit hooks run, so a
        # non-daemon writer would keep a SIGTERMed server from reaching close(), which joins it.
        self._writer = threading.Thread(
            target=self._write_loop, name="recorder-writer", daemon=True
        )
        self._writer.start()
        log.info("recording into %s (journal %s)", self.data_dir, self.journal.segment)
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
        self.journal.sync()
        self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join(timeout)
            if self._writer.is_alive():
                log.error("the recorder's writer did not finish in %.0f s", timeout)
        self.journal.close()
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

    # ---------------------------------------------------------------------------- append
    def append(self, message: Message, raw: bytes, source: str, received_ns: int) -> None:
        """Journal one accepted message; it is in the OS's hands when this returns.

        Raises :class:`RecordingError` if it could not be written: the caller must not tell
        the sender it was recorded. The next append tries again, on a fresh segment.
        """
        line = encode_line(raw, source, received_ns)
        with self._lock:
            if self._state != "open":
                raise RecordingError(f"recorder is {self._state}, not recording")
            try:
                segment, end = self.journal.write(line)
            except OSError as e:
                self.counters["write_errors"] += 1
                self.error = f"cannot write the journal: {e.strerror or e}"
                raise RecordingError(self.error) from None
            self.error = None
            if message.latest_ns:
                self._clock[message.device_id] = (
                    message.latest_ns,
                    received_ns,
                    message.session_id,
                )
            self.counters["messages"] += 1
            self._appended.append((message, segment, end))
            if len(self._appended) % _WAKE_EVERY == 0:
                self._queue.put(_WAKE)

    def sync(self) -> None:
        """fsync the journal now if anything was written since the last fsync."""
        self.journal.sync()

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
        self._guard("convert what the journal holds at start", self._start_up)
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
                self._guard("convert to Parquet", self._flush)
                self._guard("refresh the session index", self._refresh_index)
                item.set()
                continue
            if time.monotonic() >= next_flush or self._pending_readings > _PENDING_MAX:
                self._guard("convert to Parquet", self._flush)
                self._guard("compact sessions", self._compact_quiet)
                self._guard("prune the journal", self._prune)
                self._guard("refresh the session index", self._refresh_index)
                next_flush = time.monotonic() + self.parquet_interval_s
        self._guard("convert to Parquet", self._flush)
        self._guard("refresh the session index", self._refresh_index)

    def _guard(self, doing: str, step: Any) -> None:
        """Run one step of the writer; an unexpected error is logged, never kills it."""
        try:
            step()
        except Exception as e:
            self.writer_error = f"cannot {doing}: {type(e).__name__}: {e}"
            log.exception("cannot %s", doing)

    def _start_up(self) -> None:
        removed = remove_dead_temporaries(self.data_dir)
        if removed:
            log.info("removed %d temporary files a killed writer left", removed)
        removed = remove_dead_imports(self.data_dir)
        if removed:
            log.info("removed %d imports a killed import left half-way", removed)
        self.unconverted.update(recover(self.data_dir, self.journal.segment, self.counters))
        for device, session, path in session_dirs(self.data_dir):
            if any(len(p) > 1 for p in list_parts(path).values()):
                self.compact(device, session)
        self._index_stale = True
        self._refresh_index()

    def _add(self, message: Message, segment: Path, end: int) -> None:
        if self._pending_segment is not None and segment != self._pending_segment:
            self._flush(last=True)
        if segment in self._stuck:
            return  # the next start converts it from the journal
        self._pending_segment, self._pending_end = segment, end
        sensors = self._pending.setdefault((message.device_id, message.session_id), {})
        for batch in message.batches.values():
            sensors.setdefault(batch.sensor, []).append(batch)
        self._pending_readings += message.n_readings

    def _flush(self, last: bool = False) -> None:
        pending, segment, end = self._pending, self._pending_segment, self._pending_end
        if not pending or segment is None:
            return
        start = self._done[1] if self._done[0] == segment else 0
        written: list[Path] = []
        try:
            written, failed = write_session_parts(self.data_dir, segment.stem, end, pending)
            add_failures(segment, [Failure(*k, start, end, e) for k, e in failed.items()])
            write_checkpoint(segment, end)
        except OSError as e:
            # The disk: the checkpoint stays, the journal keeps the range. Retried at the next
            # flush (with a new end, so this attempt's parts go); if that cannot be (a new
            # segment, too much waiting), the next start converts it.
            for part in written:
                part.unlink(missing_ok=True)
            self.counters["parquet_errors"] += 1
            self.writer_error = f"cannot write Parquet ({e.strerror}); the journal has the data"
            log.error("%s", self.writer_error)
            if last or self._pending_readings > _PENDING_MAX:
                self._stuck.add(segment)
                self._reset_pending()
            return
        self._reset_pending()
        self._done = (segment, end)
        self._last_flush = now = time.monotonic()
        self.counters["parts"] += len(written)
        self._index_keys.update(k for k in pending if k not in failed)
        for key in pending:
            if key not in failed:
                touched = self._touched.setdefault(key, [now, 0])
                touched[0], touched[1] = now, touched[1] + 1
        self._close_extra_sessions({device for device, _ in pending})
        self.writer_error = None
        for (device, session), error in failed.items():
            self.counters["conversion_failures"] += 1
            self.unconverted[(device, session)] = error
            log.error(
                "cannot convert %r/%r to Parquet (%s); it stays readable from the journal",
                device,
                session,
                error,
            )

    def _reset_pending(self) -> None:
        self._pending, self._pending_segment, self._pending_readings = {}, None, 0

    def _refresh_index(self) -> None:
        if self._index_stale:
            self._index_stale = False
            self._index_keys.clear()
            refresh_index(self.data_dir)
        elif self._index_keys:
            keys, self._index_keys = self._index_keys, set()
            refresh_index(self.data_dir, only=keys)

    def _prune(self) -> None:
        now = time.monotonic()
        if self.journal_retention_s < 0 or now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        keep_s = max(self.journal_retention_s, DUPLICATE_WINDOW_S)
        prune_journal(self.data_dir, self.journal.segment, keep_s, self.counters, self._unverified)

    # --------------------------------------------------------------------------- compaction
    def _close_extra_sessions(self, devices: set[str]) -> None:
        """A device keeps at most ``max_open_sessions_per_device`` sessions open (written to,
        waiting to be compacted): beyond that its least recently written one is closed now:
        compacted and forgotten. Its readings stay; a message for it later opens it again."""
        for device in devices:
            mine = sorted(
                (last, key) for key, (last, _) in self._touched.items() if key[0] == device
            )
            for _, key in mine[: max(0, len(mine) - self.max_open_sessions_per_device)]:
                if not self.compact(*key):
                    continue  # the disk refused: it stays open and is tried again
                del self._touched[key]
                self.counters["sessions_closed"] += 1
                log.info("closed session %r/%r: %r has newer ones open", *key, device)

    def open_sessions(self, device_id: str) -> list[str]:
        """The device's sessions open in the recorder (written to, not closed yet)."""
        return [s for d, s in list(self._touched) if d == device_id]

    def _compact_quiet(self) -> None:
        now = time.monotonic()
        for key, (last, parts) in list(self._touched.items()):
            if parts >= 30 or (parts >= 2 and now - last >= self.compact_after_s):
                if self.compact(*key):
                    del self._touched[key]  # else (a full disk): tried again next time
            elif now - last >= self.compact_after_s:
                del self._touched[key]

    def compact(self, device_id: str, session_id: str) -> bool:
        """Merge a session's converted parts into one file per sensor (sorted, de-duplicated).

        Only parts whose journal range is checkpointed are merged, so a crash during
        compaction leaves duplicates (dropped on read) and never a gap. A failure is logged
        and leaves the parts as they are.
        """
        checkpoints: dict[str, int] = {}

        def checkpoint(origin: str) -> int:
            if origin not in checkpoints:
                seg = self.data_dir / JOURNAL / f"{origin}.jsonl"
                checkpoints[origin] = read_checkpoint(seg) if seg.exists() else 1 << 62
            return checkpoints[origin]

        try:
            settled = settled_parts(self.data_dir, device_id, session_id, checkpoint)
            done = compact_session(self.data_dir, device_id, session_id, settled)
        except (OSError, pa.ArrowException) as e:
            log.error("cannot compact %s/%s (tried again later): %s", device_id, session_id, e)
            self.counters["compaction_errors"] += 1
            return False
        self.counters["compactions"] += done
        if done:
            self._index_keys.add((device_id, session_id))
        return True

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
        """Every take stored in the data directory (of this and earlier runs); from memory
        unless the file changed."""
        return self.take_log.takes()

    # ----------------------------------------------------------------------------- status
    def _unconverted_text(self) -> str | None:
        if not self.unconverted:
            return None
        (device, session), error = next(reversed(self.unconverted.items()))
        more = len(self.unconverted) - 1
        return (
            f"cannot convert {device!r}/{session!r} to Parquet ({error})"
            + (f" and {more} more sessions" if more else "")
            + "; the journal keeps them readable"
        )

    def status(self) -> dict[str, Any]:
        """Recorder state for the status endpoint (merged into its ``recording`` entry)."""
        now = time.monotonic()
        journal = self.journal
        return {
            "ok": self.error is None and journal.error is None,
            "error": self.error or journal.error,
            "parquet_error": self.writer_error or self._unconverted_text(),
            "state": self._state,
            "data_dir": str(self.data_dir),
            "journal": journal.segment.name if journal.segment else None,
            "journal_bytes": journal.offset,
            "messages": self.counters["messages"],
            "fsync_interval_s": self.fsync_interval_s,
            "last_fsync_age_s": round(now - journal.last_fsync, 3),
            "pending_readings": self._pending_readings,
            "last_parquet_age_s": round(now - self._last_flush, 3),
            "journal_segments_removed": self.counters["journal_segments_removed"],
            "sessions_closed": self.counters["sessions_closed"],
        }
