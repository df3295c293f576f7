"""The journal: append-only JSON Lines segments, the source of truth for everything received.

One accepted message is one line, ``{"received_ns":N,"source":"http","message":<as received>}``,
handed to the operating system with one ``write`` (:meth:`Journal.write`) before the sender is
answered, and fsynced every ``fsync_interval_s``. Each writer owns its own segment (an
exclusive ``flock`` while it is open), starts a fresh one when it is ``segment_bytes`` long or
``segment_age_s`` old, and never writes to another's.

Beside each segment, small files say how far it is in Parquet::

    journal/<segment>.jsonl     the messages
    journal/<segment>.done      byte offset up to which its lines are in Parquet (checkpoint)
    journal/<segment>.failed    ranges of one session that could not be converted: they stay
                                readable from the journal, and a restart tries them again

:func:`read_tail` reads what is not in Parquet (past the checkpoint, plus the failed ranges),
which is how a session still being recorded loads complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from hitting_coach.errors import MessageError
from hitting_coach.ingest.parse import RECORDED, Batch, Message, parse_message
from hitting_coach.store.layout import (
    JOURNAL,
    SessionKey,
    read_deleted,
    segment_part_ends,
    was_deleted,
)

__all__ = [
    "Failure",
    "Journal",
    "Line",
    "Tail",
    "add_failures",
    "decode_line",
    "encode_line",
    "iter_lines",
    "read_checkpoint",
    "read_failures",
    "read_tail",
    "received_offset",
    "segments",
    "write_checkpoint",
    "write_failures",
]

log = logging.getLogger(__name__)

_MESSAGE_KEY = b',"message":'
_RECEIVED = re.compile(rb'\{"received_ns":(\d+),')
_REOPEN_EVERY_S = 1.0  # after a failed write, try a fresh segment at most this often


# ---------------------------------------------------------------------------------- lines
def encode_line(raw: bytes | str, source: str, received_ns: int) -> bytes:
    """One journal line for a message accepted as ``raw`` (valid JSON: the parser took it)."""
    if isinstance(raw, str):
        raw = raw.encode()
    if b"\n" in raw or b"\r" in raw:
        raw = orjson.dumps(orjson.loads(raw))
    head = b'{"received_ns":%d,"source":%s' % (received_ns, orjson.dumps(source))
    return b"".join((head, _MESSAGE_KEY, raw.strip(), b"}\n"))


@dataclass(frozen=True, slots=True)
class Line:
    received_ns: int
    source: str
    message: Message


def decode_line(line: bytes) -> Line:
    """Parse a journal line back; raises :class:`MessageError` if it is damaged."""
    i = line.find(_MESSAGE_KEY)
    if i < 0 or not line.rstrip().endswith(b"}"):
        raise MessageError("bad_journal_line", "not a journal line")
    try:
        head = orjson.loads(line[:i] + b"}")
        received_ns, source = int(head["received_ns"]), str(head["source"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise MessageError("bad_journal_line", "damaged journal line header") from None
    raw = line[i + len(_MESSAGE_KEY) :].rstrip()[:-1]
    return Line(received_ns, source, parse_message(raw, RECORDED))  # accepted then


def segments(data_dir: Path) -> list[Path]:
    """Journal segments, oldest first (names start with their UTC creation time)."""
    journal = data_dir / JOURNAL
    return sorted(journal.glob("*.jsonl")) if journal.is_dir() else []


def iter_lines(
    segment: Path, start: int = 0, stop: int | None = None, chunk_bytes: int = 64 << 20
) -> Iterator[tuple[int, bytes]]:
    """Complete lines of a segment from byte ``start`` (to ``stop``): ``(end offset, line)``.
    A torn last line (no newline: the writer died mid-write) is not returned."""
    with contextlib.suppress(FileNotFoundError), open(segment, "rb") as f:
        f.seek(start)
        offset, rest = start, b""
        while stop is None or offset < stop:
            want = chunk_bytes if stop is None else min(chunk_bytes, stop - offset - len(rest))
            data = f.read(want) if want > 0 else b""
            if not data:
                return
            data = rest + data
            lines = data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                offset += len(line) + 1
                yield offset, line


def received_offset(segment: Path, since_ns: int) -> int:
    """A line start in ``segment`` before which every line was received before ``since_ns``
    (0 if unsure). Lines are appended in receive order, so this is a binary search: a few
    reads, whatever the segment's size."""
    lo, hi = 0, None
    with contextlib.suppress(FileNotFoundError), open(segment, "rb") as f:
        hi = os.fstat(f.fileno()).st_size
        while hi - lo > 1 << 16:
            mid = (lo + hi) // 2
            f.seek(mid)
            f.readline()  # the rest of the line mid falls in
            start = f.tell()
            match = _RECEIVED.match(f.readline(64))
            if start >= hi or match is None:
                hi = mid
            elif int(match.group(1)) < since_ns:
                lo = start
            else:
                hi = mid
    return lo


# ---------------------------------------------------------------------------- checkpoints
def read_checkpoint(segment: Path) -> int:
    try:
        return int(segment.with_suffix(".done").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def write_checkpoint(segment: Path, offset: int) -> None:
    _replace(segment.with_suffix(".done"), f"{offset}\n".encode())


@dataclass(frozen=True, slots=True)
class Failure:
    """Lines ``start < end offset <= end`` of one session that could not become Parquet."""

    device_id: str
    session_id: str
    start: int
    end: int
    error: str

    @property
    def key(self) -> SessionKey:
        return self.device_id, self.session_id


def read_failures(segment: Path) -> list[Failure]:
    try:
        lines = segment.with_suffix(".failed").read_bytes().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            d = orjson.loads(line)
            out.append(Failure(d["device_id"], d["session_id"], d["start"], d["end"], d["error"]))
    return out


def add_failures(segment: Path, failures: list[Failure]) -> None:
    """Record failed ranges (before the checkpoint moves past them)."""
    if failures:
        write_failures(segment, read_failures(segment) + failures)


def write_failures(segment: Path, failures: list[Failure]) -> None:
    path = segment.with_suffix(".failed")
    if not failures:
        path.unlink(missing_ok=True)
        return
    body = b"".join(
        orjson.dumps(
            {
                "device_id": f.device_id,
                "session_id": f.session_id,
                "start": f.start,
                "end": f.end,
                "error": f.error,
            }
        )
        + b"\n"
        for f in failures
    )
    _replace(path, body)


def _replace(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------- tail
@dataclass
class Tail:
    """What the journal holds that is not in Parquet: batches per session and sensor."""

    batches: dict[SessionKey, dict[str, list[Batch]]] = field(default_factory=dict)
    #: When each session's newest journalled message was received (epoch ns).
    received_ns: dict[SessionKey, int] = field(default_factory=dict)
    damaged_lines: int = 0

    def add(self, message: Message, received_ns: int = 0, skip: Collection[str] = ()) -> None:
        """Add a message's batches (but those of the sensors in ``skip``)."""
        key = (message.device_id, message.session_id)
        self.received_ns[key] = max(self.received_ns.get(key, 0), received_ns)
        sensors = self.batches.setdefault(key, {})
        for batch in message.batches.values():
            if batch.sensor not in skip:
                sensors.setdefault(batch.sensor, []).append(batch)


def read_tail(data_dir: Path, only: SessionKey | None = None, *, failed: bool = True) -> Tail:
    """What no Parquet part holds yet, optionally only one session's: each segment after its
    checkpoint (less the lines a part already covers) and (``failed``) its failed ranges.
    Damaged lines are skipped and counted; lines of a session deleted after they were
    received are no session's readings any more (skipped)."""
    tail = Tail()
    deleted = read_deleted(data_dir)
    needle = None if only is None else orjson.dumps(only[1])  # cheap pre-filter
    for segment in segments(data_dir):
        start = read_checkpoint(segment)
        try:
            size = segment.stat().st_size
        except FileNotFoundError:
            continue
        ranges: list[tuple[int, int | None, SessionKey | None]] = [
            (f.start, f.end, f.key) for f in (read_failures(segment) if failed else [])
        ]
        covered: dict[SessionKey, dict[str, int]] = {}
        if size > start:
            ranges.append((start, None, None))
            covered = segment_part_ends(data_dir, segment.stem, start, only)
        for begin, end, key in ranges:
            if only is not None and key is not None and key != only:
                continue
            for offset, line in iter_lines(segment, begin, end):
                if not line.strip() or (needle is not None and needle not in line):
                    continue
                try:
                    decoded = decode_line(line)
                except MessageError:
                    tail.damaged_lines += 1
                    continue
                message = decoded.message
                got = (message.device_id, message.session_id)
                if (only is not None and got != only) or (key is not None and got != key):
                    continue
                # sensors a part past the checkpoint has (written, not yet checkpointed)
                ends = covered.get(got) if key is None else None
                skip = [s for s, e in ends.items() if offset <= e] if ends else ()
                if skip and all(b.sensor in skip for b in message.batches.values()):
                    continue
                if was_deleted(deleted, got, decoded.received_ns):
                    continue
                tail.add(message, decoded.received_ns, skip)
    if tail.damaged_lines:
        log.warning("skipped %d damaged journal lines in %s", tail.damaged_lines, data_dir)
    return tail


# -------------------------------------------------------------------------------- writer
class Journal:
    """This process's journal segment: :meth:`write` appends a line, :meth:`sync` fsyncs.

    Thread-safe. A failed write leaves a torn line, which is ended before the next line
    (it reads as one damaged line), and the next write after ``_REOPEN_EVERY_S`` starts a
    fresh segment.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync_interval_s: float = 1.0,
        segment_bytes: int = 256 << 20,
        segment_age_s: float = 600.0,
    ) -> None:
        self.directory = directory
        self.fsync_interval_s = fsync_interval_s
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self.segment: Path | None = None
        self.offset = 0
        self.fsyncs = 0
        self.error: str | None = None  # last fsync failure
        self.last_fsync = time.monotonic()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._opened = 0.0
        self._torn = False
        self._failed_at = 0.0
        self._dirty = False
        self._stop = threading.Event()
        self._fsyncer: threading.Thread | None = None

    def open(self) -> None:
        """Start a segment and the fsync thread; raises OSError if it cannot be created."""
        with self._lock:
            self._open_segment()
        if self.fsync_interval_s > 0:
            self._fsyncer = threading.Thread(
                target=self._fsync_loop, name="journal-fsync", daemon=True
            )
            self._fsyncer.start()

    def _open_segment(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        old, old_path, old_offset = self._fd, self.segment, self.offset
        self._fd, self.segment, self.offset, self._torn = fd, path, 0, False
        self._opened = time.monotonic()
        self.error = None  # an fsync failure was about the file before
        if old is not None:
            with contextlib.suppress(OSError):  # a failed fd: what it held is what the OS has
                os.fsync(old)
            os.close(old)
            if old_offset == 0 and old_path is not None:
                old_path.unlink(missing_ok=True)

    def write(self, line: bytes) -> tuple[Path, int]:
        """Append one line; returns ``(segment, end offset)``. Raises OSError."""
        with self._lock:
            if (
                self._fd is None
                or self.offset >= self.segment_bytes
                or (self.offset and time.monotonic() - self._opened >= self.segment_age_s)
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
                    self.offset += written
            except OSError:
                self._torn, self._failed_at = True, time.monotonic()
                raise
            self._torn = False
            if self.fsync_interval_s == 0:
                os.fsync(self._fd)  # type: ignore[arg-type]
                self.last_fsync = time.monotonic()
            else:
                self._dirty = True
            return self.segment, self.offset  # type: ignore[return-value]

    def sync(self) -> None:
        """fsync now if anything was written since the last fsync."""
        with self._lock:
            if not self._dirty or self._fd is None:
                return
            fd, self._dirty, segment = os.dup(self._fd), False, self.segment
        try:
            os.fsync(fd)
            self.last_fsync = time.monotonic()
            self.fsyncs += 1
            self.error = None
        except OSError as e:
            log.error("cannot fsync journal %s: %s", segment, e.strerror)
            with self._lock:  # reported while that file is the one written to
                if segment == self.segment:
                    self.error = f"cannot fsync the journal: {e.strerror}"
        finally:
            os.close(fd)

    def _fsync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.sync()

    def close(self) -> None:
        """fsync and close; a segment nothing was written to is removed. Safe twice."""
        self._stop.set()
        if self._fsyncer is not None:
            self._fsyncer.join(timeout=10)
        self.sync()
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
            if self.segment is not None and self.offset == 0:
                self.segment.unlink(missing_ok=True)

    def fileno(self) -> int | None:
        """The open segment's descriptor (tests replace it to simulate a failing disk)."""
        return self._fd
