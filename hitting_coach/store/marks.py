"""The coach's corrections to swing detection, kept with the session as labels.

A mark says either "no swing here" (``not_swing``: the detector counted something that was not a
swing) or "a swing here" (``add_swing``: the detector missed one). Each is a reading time (the
phone's clock, epoch ns, the axis of the recording); a mark finds its swing by time when the
marks are applied (:mod:`hitting_coach.analysis.corrections`), so marks stay valid when the
detector changes, and they are the ground truth that detection is judged against.

They live beside the session's Parquet, one mark per line::

    sessions/device=<d>/session=<s>/marks.jsonl
    {"mark_id":"3f2a9c41d0b7","kind":"not_swing","time_ns":1700000004812000000,
     "created_ns":1732790000000000000,"note":"","source":"dashboard"}

The file holds the session's current marks and is replaced whole (temporary file, fsync,
rename) under a lock, so a reader never sees half a mark and two writers never lose one.
Exports carry it (``marks.jsonl`` beside the CSVs or Parquet) and imports bring it back.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson
import pandas as pd

from hitting_coach.errors import RecordingError, SessionError
from hitting_coach.store.layout import AUDIT, read_deleted, session_dir
from hitting_coach.store.sessions import (
    Session,
    SessionRef,
    data_path,
    resolve_session,
    session_summaries,
)

__all__ = [
    "KINDS",
    "MARKS_FILE",
    "MAX_MARKS",
    "MAX_NOTE_CHARS",
    "Mark",
    "add_swing",
    "list_marks",
    "mark_not_swing",
    "marks_from_export",
    "marks_path",
    "marks_stamp",
    "merge_marks",
    "new_mark",
    "read_marks",
    "read_marks_file",
    "remove_mark",
    "save_mark",
    "swing_time_ns",
    "unmark",
    "write_marks_file",
]

log = logging.getLogger(__name__)

MARKS_FILE = "marks.jsonl"
KINDS = ("not_swing", "add_swing")
#: Marks one session may hold; a coach marks a few dozen in a long practice.
MAX_MARKS = 10_000
MAX_NOTE_CHARS = 200
_MAX_FILE_BYTES = 4_000_000
_MAX_TIME_NS = 2**63 - 1
#: A mark may sit this far outside the recorded span (a swing at the very end of a session).
_SPAN_SLACK_NS = 5_000_000_000
#: Peak columns of a swing row, the one that drives detection first.
_PEAK_COLUMNS = ("bat_peak_ns", "hand_peak_ns", "pelvis_peak_ns")
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Mark:
    """One correction: ``kind`` (``not_swing`` or ``add_swing``) at ``time_ns`` (reading
    time, epoch ns); ``created_ns`` is when the coach made it (server clock)."""

    mark_id: str
    kind: str
    time_ns: int
    created_ns: int
    note: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------ checking
def _time_ns(value: Any, what: str = "time_ns") -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise SessionError(f"{what} must be epoch nanoseconds (an integer), got {value!r}")
    if not 0 < int(value) <= _MAX_TIME_NS:
        raise SessionError(f"{what} {value} is not a reading time (epoch nanoseconds)")
    return int(value)


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise SessionError(f"{what} must be text, got {type(value).__name__}")
    text = "".join(c if c.isprintable() else " " for c in value).strip()
    if len(text) > limit:
        raise SessionError(f"{what} is {len(text)} characters long; the limit is {limit}")
    return text


def _mark_from(doc: Any, where: str) -> Mark:
    """A mark from its JSON form; raises SessionError naming ``where`` and the problem."""
    if not isinstance(doc, dict):
        raise SessionError(f"{where}: a mark must be a JSON object")
    try:
        mark_id = _text(doc["mark_id"], "mark_id", 64)
        kind = doc["kind"]
        if kind not in KINDS:
            raise SessionError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        mark = Mark(
            mark_id,
            kind,
            _time_ns(doc["time_ns"]),
            _time_ns(doc.get("created_ns") or time.time_ns(), "created_ns"),
            _text(doc.get("note", ""), "note", MAX_NOTE_CHARS),
            _text(doc.get("source", ""), "source", 40),
        )
    except KeyError as e:
        raise SessionError(f"{where}: a mark needs {e.args[0]!r}") from None
    except SessionError as e:
        raise SessionError(f"{where}: {e}") from None
    if not mark_id:
        raise SessionError(f"{where}: empty mark_id")
    return mark


def new_mark(kind: str, time_ns: Any, note: str = "", source: str = "") -> Mark:
    """A new mark, checked: raises :class:`SessionError` for an unknown kind, a time that is
    not epoch nanoseconds, or a note over :data:`MAX_NOTE_CHARS` characters."""
    if kind not in KINDS:
        raise SessionError(f"unknown mark {kind!r}; expected one of {', '.join(KINDS)}")
    return Mark(
        uuid.uuid4().hex[:12],
        kind,
        _time_ns(time_ns),
        time.time_ns(),
        _text(note, "note", MAX_NOTE_CHARS),
        _text(source, "source", 40),
    )


def swing_time_ns(swing: Any) -> int:
    """The time that identifies a swing: an int as given, or for a swing row (a mapping or a
    row of the swing table) the peak of the segment that drives detection (bat, hand,
    pelvis), else the middle of its window."""
    if not isinstance(swing, Mapping | pd.Series):
        return _time_ns(swing, "swing time")
    for column in _PEAK_COLUMNS:
        value = swing.get(column)
        if value is not None and not pd.isna(value):
            return _time_ns(int(value), column)
    try:
        start, end = int(swing["start_ns"]), int(swing["end_ns"])
    except (KeyError, TypeError, ValueError):
        raise SessionError("a swing row needs start_ns and end_ns (or a peak time)") from None
    return _time_ns((start + end) // 2, "swing time")


# ------------------------------------------------------------------------------ the file
def marks_path(data_dir: Path, device_id: str, session_id: str) -> Path:
    return session_dir(Path(data_dir), device_id, session_id) / MARKS_FILE


def marks_stamp(data_dir: Path, device_id: str, session_id: str) -> int:
    """A number that changes whenever the session's marks change (the modification time of
    its marks file in ns; 0 without one): the key of what is computed from the marks."""
    try:
        return marks_path(data_dir, device_id, session_id).stat().st_mtime_ns
    except OSError:
        return 0


def read_marks_file(path: Path) -> list[Mark]:
    """Marks of one ``marks.jsonl`` (none if it does not exist). Raises
    :class:`SessionError` naming the file and line of anything that is not a mark."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise SessionError(
                f"{path} is over {_MAX_FILE_BYTES // 1_000_000} MB: not a marks file"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise SessionError(f"cannot read the marks in {path}: {e.strerror}") from None
    return _parse(data, str(path))


def _parse(data: bytes, where: str) -> list[Mark]:
    marks: dict[str, Mark] = {}
    lines = data.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            if n == len(lines) and not data.endswith(b"\n"):
                # a last line cut short (a copy or a disk that stopped mid-write): the marks
                # before it stand; the next change writes the file whole again
                log.warning("%s line %d: cut short, skipped", where, n)
                continue
            raise SessionError(f"{where} line {n}: not JSON") from None
        mark = _mark_from(doc, f"{where} line {n}")
        marks[mark.mark_id] = mark
    if len(marks) > MAX_MARKS:
        raise SessionError(f"{where}: {len(marks)} marks, over the limit of {MAX_MARKS}")
    return sorted(marks.values(), key=lambda m: (m.time_ns, m.created_ns))


def write_marks_file(path: Path, marks: Iterable[Mark]) -> None:
    """Replace ``path`` with ``marks`` atomically and durably (raises OSError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(orjson.dumps(m.as_dict()) + b"\n" for m in marks)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time, across threads and processes (a lock on the session folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    with _lock:
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def read_marks(data_dir: Path, device_id: str, session_id: str) -> list[Mark]:
    """The session's marks, by time (none if it has none)."""
    return read_marks_file(marks_path(data_dir, device_id, session_id))


def _update(data_dir: Path, device_id: str, session_id: str, change) -> Any:
    path = marks_path(data_dir, device_id, session_id)
    if not path.parent.is_dir() and (device_id, session_id) in read_deleted(Path(data_dir)):
        # a deleted session (its readings gone): a mark must not make its folder again
        raise SessionError(f"no session {device_id}/{session_id}: it was deleted")
    try:
        with _locked(path.parent):
            marks = {m.mark_id: m for m in read_marks_file(path)}
            result = change(marks)
            if len(marks) > MAX_MARKS:
                raise SessionError(
                    f"session {session_id} already has {MAX_MARKS} marks; remove some first"
                )
            write_marks_file(path, sorted(marks.values(), key=lambda m: (m.time_ns, m.created_ns)))
            return result
    except OSError as e:
        raise RecordingError(f"cannot save the marks in {path}: {e.strerror}") from None


def save_mark(data_dir: Path, device_id: str, session_id: str, mark: Mark) -> Mark:
    """Store ``mark`` with the session; the same kind at the same time is stored once (the
    stored mark is returned). Raises :class:`RecordingError` if it cannot be written."""

    def change(marks: dict[str, Mark]) -> Mark:
        for old in marks.values():
            if (old.kind, old.time_ns) == (mark.kind, mark.time_ns):
                return old
        marks[mark.mark_id] = mark
        return mark

    saved = _update(Path(data_dir), device_id, session_id, change)
    log.info(
        "%s marked at %d in %s/%s", saved.kind, saved.time_ns, device_id, session_id, extra=AUDIT
    )
    return saved


def remove_mark(data_dir: Path, device_id: str, session_id: str, mark_id: str) -> Mark:
    """Remove one mark; raises :class:`SessionError` if the session has no such mark."""

    def change(marks: dict[str, Mark]) -> Mark:
        if mark_id not in marks:
            raise SessionError(f"no mark {mark_id!r} in session {device_id}/{session_id}")
        return marks.pop(mark_id)

    return _update(Path(data_dir), device_id, session_id, change)


def merge_marks(data_dir: Path, device_id: str, session_id: str, marks: Iterable[Mark]) -> int:
    """Add marks (an import's) the session does not have yet; returns how many were new."""
    incoming = list(marks)

    def change(current: dict[str, Mark]) -> int:
        known = {(m.kind, m.time_ns) for m in current.values()}
        new = 0
        for m in incoming:
            if m.mark_id not in current and (m.kind, m.time_ns) not in known:
                current[m.mark_id] = m
                known.add((m.kind, m.time_ns))
                new += 1
        return new

    return _update(Path(data_dir), device_id, session_id, change) if incoming else 0


def marks_from_export(path: str | Path) -> list[Mark]:
    """The ``marks.jsonl`` inside an export (a folder or a zip), or none. Raises
    :class:`SessionError` if it holds something other than marks, or two such files."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in path.rglob(MARKS_FILE) if p.is_file() and "__MACOSX" not in p.parts]
        if len(found) > 1:
            raise SessionError(f"{path}: {len(found)} {MARKS_FILE} files; import one at a time")
        return read_marks_file(found[0]) if found else []
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        infos = [
            i
            for i in archive.infolist()
            if PurePosixPath(i.filename).name == MARKS_FILE and "__MACOSX" not in i.filename
        ]
        if len(infos) > 1:
            raise SessionError(f"{path}: {len(infos)} {MARKS_FILE} files; import one at a time")
        if not infos:
            return []
        if infos[0].file_size > _MAX_FILE_BYTES:
            raise SessionError(f"{path}: {MARKS_FILE} is too large to be marks")
        return _parse(archive.read(infos[0]), f"{path}:{infos[0].filename}")


# ----------------------------------------------------------------------- notebook API
def _session_key(session: SessionRef, root: Path) -> tuple[str, str]:
    return resolve_session(session, root)


def _check_in_span(key: tuple[str, str], time_ns: int, root: Path) -> None:
    for s in session_summaries(root):
        if (s.device_id, s.session_id) != key or s.start_ns is None or s.end_ns is None:
            continue
        if not s.start_ns - _SPAN_SLACK_NS <= time_ns <= s.end_ns + _SPAN_SLACK_NS:
            span_s = (s.end_ns - s.start_ns) / 1e9
            at_s = (time_ns - s.start_ns) / 1e9
            raise SessionError(
                f"time {time_ns} is {at_s:+.1f} s from the start of session "
                f"{key[0]}/{key[1]}, which lasts {span_s:.1f} s"
            )


def _mark(kind: str, session: SessionRef, time_ns: int, note: str, data_dir) -> Mark:
    root = data_path(data_dir)
    key = _session_key(session, root)
    mark = new_mark(kind, time_ns, note, source="notebook")
    _check_in_span(key, mark.time_ns, root)
    return save_mark(root, *key, mark)


def mark_not_swing(
    session: SessionRef, swing: Any, *, note: str = "", data_dir: str | Path | None = None
) -> Mark:
    """Mark the swing of ``session`` at ``swing`` "not a swing": reports and the swing list
    leave it out. ``swing`` is a reading time (epoch ns) inside the swing, or a row of the
    swing table. ``session`` is any reference :func:`~hitting_coach.load_session` takes.
    Raises :class:`SessionError` for an unknown session or a time outside it."""
    return _mark("not_swing", session, swing_time_ns(swing), note, data_dir)


def add_swing(
    session: SessionRef, time_ns: int, *, note: str = "", data_dir: str | Path | None = None
) -> Mark:
    """Add a swing the detector missed, at ``time_ns`` (reading time, epoch ns, e.g. its
    peak): reports measure it from the readings around that time and flag it "added by
    coach". Raises :class:`SessionError` for an unknown session or a time outside it."""
    return _mark("add_swing", session, time_ns, note, data_dir)


def unmark(session: SessionRef, mark_id: str, *, data_dir: str | Path | None = None) -> Mark:
    """Remove a mark (by the ``mark_id`` :func:`list_marks` shows); returns it."""
    root = data_path(data_dir)
    return remove_mark(root, *_session_key(session, root), mark_id)


def list_marks(session: SessionRef, *, data_dir: str | Path | None = None) -> pd.DataFrame:
    """The session's marks, by time: ``mark_id``, ``kind``, ``time_ns``, ``at_s`` (seconds
    from the session's start), ``note``, ``source``, ``created_ns``."""
    root = data_path(data_dir)
    key = _session_key(session, root)
    start = session.start_ns if isinstance(session, Session) else None
    if start is None:
        start = next(
            (s.start_ns for s in session_summaries(root) if (s.device_id, s.session_id) == key),
            None,
        )
    rows = []
    for m in read_marks(root, *key):
        at_s = None if start is None else round((m.time_ns - start) / 1e9, 3)
        rows.append({**m.as_dict(), "at_s": at_s})
    columns = ["mark_id", "kind", "time_ns", "at_s", "note", "source", "created_ns"]
    return pd.DataFrame(rows, columns=columns)
