"""Where recordings live on disk: directory and file names. No threads, no state.

::

    DATA_DIR/
      journal/<segment>.jsonl    append-only journal (hitting_coach.store.journal)
      journal/<segment>.done     byte offset up to which the segment is in Parquet
      journal/<segment>.failed   ranges of a session that could not be converted
      sessions/device=<d>/session=<s>/sensor=<name>/part-*.parquet   (store.parts)
      sessions/device=<d>/session=<s>/meta.json    name, and where an import came from
      takes.jsonl                take events (start, stop)
      index.json                 cache of session summaries, kept current by the recorder

Each writer owns its own journal segment and names its parts after it, so several processes
(the server and ``hitting-coach import``) can write into one data directory. Parquet parts of
a segment are named ``part-<segment>-<end offset>.parquet``: the part holds its session's lines
of the segment up to that offset. Directory names are percent-encoded (Hive partitioning with
URI encoding), so DuckDB, Dask or ``pyarrow.dataset`` read ``sessions/*/*/sensor=gyroscope``
as one table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson

__all__ = [
    "AUDIT",
    "DELETED_FILE",
    "add_deleted",
    "read_deleted",
    "was_deleted",
    "JOURNAL",
    "SESSIONS",
    "SessionKey",
    "list_parts",
    "part_origin",
    "read_meta",
    "segment_part_ends",
    "segment_parts",
    "sensor_dir",
    "session_dir",
    "session_dirs",
    "write_json",
]

#: ``extra=`` of a log line that records a change of stored data (a rename, a delete, a
#: mark): the server's repeat filter never folds such a line into "N more like it".
AUDIT = {"audit": True}

JOURNAL = "journal"
SESSIONS = "sessions"

SessionKey = tuple[str, str]  # (device_id, session_id)


def session_dir(data_dir: Path, device_id: str, session_id: str) -> Path:
    return (
        data_dir / SESSIONS / f"device={quote(device_id, safe='')}"
        f"/session={quote(session_id, safe='')}"
    )


def sensor_dir(data_dir: Path, device_id: str, session_id: str, sensor: str) -> Path:
    return session_dir(data_dir, device_id, session_id) / f"sensor={quote(sensor, safe='')}"


def session_dirs(data_dir: Path) -> Iterator[tuple[str, str, Path]]:
    """``(device_id, session_id, path)`` of every session directory."""
    root = data_dir / SESSIONS
    if not root.is_dir():
        return
    for device in sorted(root.iterdir()):
        if not device.name.startswith("device=") or not device.is_dir():
            continue
        for session in sorted(device.iterdir()):
            if session.name.startswith("session=") and session.is_dir():
                yield unquote(device.name[7:]), unquote(session.name[8:]), session


def list_parts(path: Path) -> dict[str, list[Path]]:
    """Parquet parts of one session directory, by sensor."""
    parts: dict[str, list[Path]] = {}
    if not path.is_dir():
        return parts
    for sensor in sorted(path.iterdir()):
        if sensor.name.startswith("sensor=") and sensor.is_dir():
            files = sorted(sensor.glob("part-*.parquet"))
            if files:
                parts[unquote(sensor.name[7:])] = files
    return parts


def part_origin(path: Path) -> tuple[str, str]:
    """``(segment, end)`` from ``part-<segment>-<end>.parquet``; segment is ``import`` or
    ``compact`` for parts that do not come from a journal segment."""
    segment, _, end = path.stem[len("part-") :].rpartition("-")
    return segment, end


def segment_parts(
    data_dir: Path, segment: str, after: int = -1, only: SessionKey | None = None
) -> dict[SessionKey, list[Path]]:
    """Parts of journal ``segment`` whose end is past byte ``after``, by session (of every
    session, or ``only`` one)."""
    found: dict[SessionKey, list[Path]] = {}
    if only is None:
        candidates = (data_dir / SESSIONS).glob(f"device=*/session=*/sensor=*/part-{segment}-*")
    else:
        candidates = session_dir(data_dir, *only).glob(f"sensor=*/part-{segment}-*")
    for part in candidates:
        end = part_origin(part)[1]
        if part.suffix == ".parquet" and end.isdigit() and int(end) > after:
            session = part.parent.parent
            key = (unquote(session.parent.name[7:]), unquote(session.name[8:]))
            found.setdefault(key, []).append(part)
    return found


def segment_part_ends(
    data_dir: Path, segment: str, after: int = -1, only: SessionKey | None = None
) -> dict[SessionKey, dict[str, int]]:
    """For each session with parts of journal ``segment`` ending past byte ``after``, by
    sensor: the furthest end (that sensor's readings in lines up to there are in Parquet).

    By sensor, not by session: a writer killed between a session's sensors leaves parts of
    some sensors only, and the others' readings are still only in the journal."""
    ends: dict[SessionKey, dict[str, int]] = {}
    for key, parts in segment_parts(data_dir, segment, after, only).items():
        sensors = ends.setdefault(key, {})
        for part in parts:
            sensor = unquote(part.parent.name[len("sensor=") :])
            end = int(part_origin(part)[1])
            sensors[sensor] = max(sensors.get(sensor, -1), end)
    return ends


def read_meta(path: Path) -> dict[str, Any]:
    """A session's ``meta.json`` (name, import origin); ``{}`` if it has none."""
    try:
        return orjson.loads((path / "meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


def write_json(path: Path, doc: Any) -> None:
    """Replace ``path`` atomically with ``doc`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


# ------------------------------------------------------------------------ deleted sessions
DELETED_FILE = "deleted.jsonl"


def add_deleted(data_dir: Path, device_id: str, session_id: str, deleted_ns: int) -> None:
    """Note that a session was deleted at ``deleted_ns`` (server clock): its journal lines
    received until then are no longer its readings (not pending, not missing from Parquet),
    so the segments holding them can be pruned. One line appended, fsynced."""
    line = orjson.dumps(
        {"device_id": device_id, "session_id": session_id, "deleted_ns": int(deleted_ns)}
    )
    path = Path(data_dir) / DELETED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def was_deleted(deleted: dict[SessionKey, int], key: SessionKey, received_ns: int) -> bool:
    """Whether a journal line of session ``key`` received at ``received_ns`` belongs to a
    deletion of it (a message after the deletion starts the session anew)."""
    when = deleted.get(key)
    return when is not None and received_ns <= when


def read_deleted(data_dir: Path) -> dict[SessionKey, int]:
    """``{(device, session): deleted_ns}`` of every deleted session (the latest deletion)."""
    try:
        data = (Path(data_dir) / DELETED_FILE).read_bytes()
    except OSError:
        return {}
    out: dict[SessionKey, int] = {}
    for line in data.splitlines():
        try:
            doc = orjson.loads(line)
            key = (str(doc["device_id"]), str(doc["session_id"]))
            out[key] = max(out.get(key, 0), int(doc["deleted_ns"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line cut short by a crash: that deletion's lines just stay pending
    return out
