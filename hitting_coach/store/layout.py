"""The recordings on disk: layout, journal lines, Parquet parts. No threads, no state.

The recorder writes and :mod:`hitting_coach.store.sessions` reads through these functions::

    DATA_DIR/
      journal/<segment>.jsonl    append-only journal: one accepted message per line
      journal/<segment>.done     byte offset up to which the segment is in Parquet
      sessions/device=<d>/session=<s>/sensor=<name>/part-*.parquet
      sessions/device=<d>/session=<s>/meta.json    name, and where an import came from
      takes.jsonl                take events (start, stop)
      index.json                 cache of session summaries, refreshed when parts change

A journal line is ``{"received_ns":N,"source":"http","message":<the message as received>}``.
Each writer owns its own segment (an exclusive ``flock`` while it is open) and names its parts
after it, so several processes (the server and ``hitting-coach import``) can write into one
data directory. Parquet parts of a segment are named ``part-<segment>-<end offset>.parquet``;
a part whose end is past the segment's ``.done`` offset is an orphan of a crash and is
converted again. Directory names are percent-encoded (Hive partitioning with URI encoding), so
DuckDB, Dask or ``pyarrow.dataset`` read ``sessions/*/*/sensor=gyroscope`` as one table.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hitting_coach.errors import MessageError
from hitting_coach.ingest.parse import Batch, Message, parse_message

__all__ = [
    "JOURNAL",
    "SESSIONS",
    "Line",
    "SensorStats",
    "SessionKey",
    "Tail",
    "batches_to_table",
    "decode_line",
    "encode_line",
    "frame_from_tables",
    "iter_lines",
    "list_parts",
    "part_origin",
    "part_stats",
    "read_checkpoint",
    "read_meta",
    "read_tail",
    "segments",
    "sensor_dir",
    "session_dir",
    "session_dirs",
    "write_checkpoint",
    "write_json",
    "write_table",
]

log = logging.getLogger(__name__)

JOURNAL = "journal"
SESSIONS = "sessions"
_MESSAGE_KEY = b',"message":'

SessionKey = tuple[str, str]  # (device_id, session_id)


# --------------------------------------------------------------------------------- layout
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


def read_meta(path: Path) -> dict[str, Any]:
    """A session's ``meta.json`` (name, import origin); ``{}`` if it has none."""
    try:
        return orjson.loads((path / "meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


# ------------------------------------------------------------------------------- writing
def write_json(path: Path, doc: Any) -> None:
    """Replace ``path`` atomically with ``doc`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet file atomically and durably (fsynced before it is renamed in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    encodings = {"time_ns": "DELTA_BINARY_PACKED"}
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        use_dictionary=[c for c in table.column_names if c != "time_ns"],
        column_encoding=encodings,
    )
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def batches_to_table(batches: list[Batch]) -> pa.Table:
    """One sensor's batches as a table sorted by time: ``time_ns`` then the value columns
    (float64, or string for text values), identical readings once. A column missing from a
    batch is null there."""
    time_ns = np.concatenate([b.time_ns for b in batches])
    names: dict[str, None] = {}
    for b in batches:
        names.update(dict.fromkeys(b.values))
    columns: dict[str, np.ndarray] = {}
    for name in names:
        parts = [b.values.get(name) for b in batches]
        numeric = all(p is None or p.dtype.kind == "f" for p in parts)
        filled = [
            p if p is not None else np.full(len(b), np.nan if numeric else None, dtype=object)
            for p, b in zip(parts, batches, strict=True)
        ]
        if numeric:
            columns[name] = np.concatenate([f.astype(np.float64) for f in filled])
        else:
            columns[name] = np.concatenate(
                [f if f.dtype == object else f.astype(object) for f in filled]
            )
    order = np.argsort(time_ns, kind="stable")
    arrays = {"time_ns": pa.array(time_ns[order], pa.int64())}
    for name, values in columns.items():
        values = values[order]
        if values.dtype == object:
            arrays[name] = pa.array(
                [None if v is None or isinstance(v, float) else str(v) for v in values],
                pa.string(),
            )
        else:
            arrays[name] = pa.array(values, pa.float64())
    table = pa.table(arrays)
    sorted_ns = time_ns[order]
    if len(sorted_ns) > 1 and not bool(np.all(sorted_ns[1:] > sorted_ns[:-1])):
        frame = table.to_pandas().drop_duplicates(ignore_index=True)  # same reading twice
        table = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
    return table


def frame_from_tables(tables: list[pa.Table]) -> pd.DataFrame:
    """Tables of one sensor as one DataFrame sorted by time, identical readings once."""
    if not tables:
        return pd.DataFrame({"time_ns": np.empty(0, np.int64)})
    table = (
        tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    )
    frame = table.to_pandas()
    time_ns = frame["time_ns"].to_numpy()
    if len(time_ns) > 1 and not bool(np.all(time_ns[1:] > time_ns[:-1])):
        frame = frame.iloc[np.argsort(time_ns, kind="stable")]
        frame = frame.drop_duplicates(ignore_index=True)
    return frame.reset_index(drop=True)


# ------------------------------------------------------------------------------- journal
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
    return Line(received_ns, source, parse_message(raw))


def segments(data_dir: Path) -> list[Path]:
    """Journal segments, oldest first (names start with their UTC creation time)."""
    journal = data_dir / JOURNAL
    return sorted(journal.glob("*.jsonl")) if journal.is_dir() else []


def read_checkpoint(segment: Path) -> int:
    try:
        return int(segment.with_suffix(".done").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def write_checkpoint(segment: Path, offset: int) -> None:
    done = segment.with_suffix(".done")
    tmp = done.with_name(f".{done.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(f"{offset}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, done)


def iter_lines(
    segment: Path, start: int = 0, chunk_bytes: int = 64 << 20
) -> Iterator[tuple[int, bytes]]:
    """Complete lines of a segment from byte ``start``: ``(end offset, line)``. A torn last
    line (no newline: the writer died mid-write) is not returned."""
    with contextlib.suppress(FileNotFoundError), open(segment, "rb") as f:
        f.seek(start)
        offset, rest = start, b""
        while True:
            data = f.read(chunk_bytes)
            if not data:
                return
            data = rest + data
            lines = data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                offset += len(line) + 1
                yield offset, line


# ---------------------------------------------------------------------------------- tail
@dataclass
class Tail:
    """What the journal holds that is not yet in Parquet: batches per session and sensor."""

    batches: dict[SessionKey, dict[str, list[Batch]]] = field(default_factory=dict)
    damaged_lines: int = 0

    def add(self, message: Message) -> None:
        sensors = self.batches.setdefault((message.device_id, message.session_id), {})
        for batch in message.batches.values():
            sensors.setdefault(batch.sensor, []).append(batch)


def read_tail(data_dir: Path, only: SessionKey | None = None) -> Tail:
    """The unconverted end of every segment (after its ``.done`` offset), optionally only
    one session's messages. Damaged lines are skipped and counted."""
    tail = Tail()
    needle = None
    if only is not None:
        needle = orjson.dumps(only[1])  # cheap pre-filter on the session id
    for segment in segments(data_dir):
        start = read_checkpoint(segment)
        try:
            if segment.stat().st_size <= start:
                continue
        except FileNotFoundError:
            continue
        for _, line in iter_lines(segment, start):
            if not line.strip() or (needle is not None and needle not in line):
                continue
            try:
                decoded = decode_line(line)
            except MessageError:
                tail.damaged_lines += 1
                continue
            message = decoded.message
            if only is not None and (message.device_id, message.session_id) != only:
                continue
            tail.add(message)
    if tail.damaged_lines:
        log.warning("skipped %d damaged journal lines in %s", tail.damaged_lines, data_dir)
    return tail


# -------------------------------------------------------------------------------- summary
@dataclass
class SensorStats:
    """Readings of one sensor in a session (before de-duplication)."""

    count: int = 0
    start_ns: int | None = None
    end_ns: int | None = None

    def add(self, count: int, start_ns: int, end_ns: int) -> None:
        self.count += count
        self.start_ns = start_ns if self.start_ns is None else min(self.start_ns, start_ns)
        self.end_ns = end_ns if self.end_ns is None else max(self.end_ns, end_ns)

    @property
    def rate_hz(self) -> float | None:
        if self.count < 2 or self.start_ns is None or self.end_ns is None:
            return None
        span = self.end_ns - self.start_ns
        return (self.count - 1) * 1e9 / span if span > 0 else None


def part_stats(path: Path) -> tuple[int, int, int] | None:
    """``(rows, first time_ns, last time_ns)`` of a part, from its footer when possible."""
    meta = pq.read_metadata(path)
    if meta.num_rows == 0:
        return None
    index = meta.schema.to_arrow_schema().get_field_index("time_ns")
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_min_max:
            column = pq.read_table(path, columns=["time_ns"])["time_ns"].to_numpy()
            return meta.num_rows, int(column.min()), int(column.max())
        lows.append(stats.min)
        highs.append(stats.max)
    return meta.num_rows, int(min(lows)), int(max(highs))
