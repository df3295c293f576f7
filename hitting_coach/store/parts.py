"""Parquet parts: journal lines become one file per session, sensor and conversion, and a
quiet session's parts are compacted into one file per sensor.

A part is written atomically (fsynced, then renamed in). Conversion is per session: one
session whose parts cannot be written (a bad column, a name the file system refuses) is
reported and left in the journal, and every other session is converted as usual. Only a
failure of the disk itself (full, read-only, I/O error) stops a conversion as a whole.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hitting_coach.errors import RecordingError
from hitting_coach.ingest.parse import Batch
from hitting_coach.store.layout import (
    SESSIONS,
    SessionKey,
    list_parts,
    part_origin,
    sensor_dir,
    session_dir,
)

__all__ = [
    "DiskError",
    "Pending",
    "SensorStats",
    "batches_to_table",
    "compact_session",
    "IMPORTING",
    "process_alive",
    "remove_dead_imports",
    "remove_dead_temporaries",
    "frame_from_tables",
    "part_stats",
    "settled_parts",
    "write_session_parts",
    "write_table",
]

log = logging.getLogger(__name__)

TIME = "time_ns"
#: Errors of the disk, not of one session's data: the whole conversion waits for a retry.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}

Pending = dict[SessionKey, dict[str, list[Batch]]]  # (device, session) -> sensor -> batches
_TIMES, _VALUES = attrgetter("time_ns"), attrgetter("values")
#: Batches concatenated in one C call before the writer lets the event loop have the GIL.
_PIECE = 1_000


class DiskError(OSError):
    """The disk refused a write (full, read-only, failing): nothing was converted."""


# ------------------------------------------------------------------------------- writing
def write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet file atomically and durably (fsynced before it is renamed in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            use_dictionary=[c for c in table.column_names if c != TIME],
            column_encoding={TIME: "DELTA_BINARY_PACKED"},
        )
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def batches_to_table(batches: list[Batch]) -> pa.Table:
    """One sensor's batches as a table sorted by time: ``time_ns`` then the value columns
    (float64, or string for text values), identical readings once. A column missing from a
    batch is null there. Raises :class:`RecordingError` for a value named ``time_ns``."""
    names = dict.fromkeys(chain.from_iterable(map(_VALUES, batches)))
    if TIME in names:
        raise RecordingError(f"a value named {TIME!r} would replace the reading times")
    # The writer runs while the event loop answers POSTs, and a C call holds the GIL until it
    # returns (the loop waits that long, plus the 5 ms switch interval): so the batches are
    # merged a piece at a time, one C call per column and piece, yielding between pieces.
    pieces = [_merge(batches[i : i + _PIECE], names) for i in range(0, len(batches), _PIECE)]
    time_ns = np.concatenate([p[0] for p in pieces])
    columns = {name: np.concatenate([p[1][name] for p in pieces]) for name in names}
    # Readings mostly come in time order: then no sort and no copy. (numpy's argsort holds
    # the GIL: 2 million readings stalled every POST for ~90 ms.)
    steps = np.diff(time_ns)
    order = None if bool(np.all(steps >= 0)) else np.argsort(time_ns, kind="stable")
    sorted_ns = time_ns if order is None else time_ns[order]
    arrays = {TIME: pa.array(sorted_ns, pa.int64())}
    for name, values in columns.items():
        if order is not None:
            values = values[order]
        if values.dtype == object:
            arrays[name] = pa.array(
                [None if v is None or isinstance(v, float) else str(v) for v in values],
                pa.string(),
            )
        else:
            arrays[name] = pa.array(values, pa.float64())
    table = pa.table(arrays)
    strictly = bool(np.all(steps > 0)) if order is None else bool(np.all(np.diff(sorted_ns) > 0))
    if not strictly:
        frame = table.to_pandas().drop_duplicates(ignore_index=True)  # same reading twice
        table = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
    return table


def _merge(
    batches: list[Batch], names: dict[str, None]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Times and value columns of some batches, one array each; then the GIL is let go."""
    time_ns = np.concatenate(list(map(_TIMES, batches)))
    by_batch = list(map(_VALUES, batches))
    columns: dict[str, np.ndarray] = {}
    for name in names:
        try:
            # all float64: float64; any text: object, numbers as floats (as astype(object))
            columns[name] = np.concatenate(list(map(itemgetter(name), by_batch)))
        except KeyError:
            columns[name] = _filled(name, batches)
    time.sleep(0)  # releases the GIL: a waiting POST goes first
    return time_ns, columns


def _filled(name: str, batches: list[Batch]) -> np.ndarray:
    """Column ``name`` over batches some of which lack it: null there."""
    parts = [b.values.get(name) for b in batches]
    numeric = all(p is None or p.dtype.kind == "f" for p in parts)
    filled = [
        p if p is not None else np.full(len(b), np.nan if numeric else None, dtype=object)
        for p, b in zip(parts, batches, strict=True)
    ]
    if numeric:
        return np.concatenate([f.astype(np.float64, copy=False) for f in filled])
    return np.concatenate([f if f.dtype == object else f.astype(object) for f in filled])


def unify_types(tables: list[pa.Table]) -> list[pa.Table]:
    """The tables with a column that is numbers in one and text in another made text in all.

    The hub refuses a value that changes type, but only for what it remembers (a device in
    memory since the last start): one odd part must never make a whole session unreadable."""
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for f in table.schema:
            types.setdefault(f.name, set()).add(f.type)
    mixed = {name for name, seen in types.items() if len(seen - {pa.null()}) > 1}
    if not mixed:
        return tables
    out = []
    for table in tables:
        for name in mixed & set(table.column_names):
            i = table.schema.get_field_index(name)
            if table.schema.field(i).type != pa.string():
                table = table.set_column(i, name, pc.cast(table.column(i), pa.string()))
        out.append(table)
    return out


def frame_from_tables(tables: list[pa.Table]) -> pd.DataFrame:
    """Tables of one sensor as one DataFrame sorted by time, identical readings once (a column
    whose type differs between tables is read as text: :func:`unify_types`)."""
    if not tables:
        return pd.DataFrame({TIME: np.empty(0, np.int64)})
    tables = unify_types(tables)
    table = (
        tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    )
    frame = table.to_pandas()
    time_ns = frame[TIME].to_numpy()
    if len(time_ns) > 1 and not bool(np.all(time_ns[1:] > time_ns[:-1])):
        frame = frame.iloc[np.argsort(time_ns, kind="stable")]
        frame = frame.drop_duplicates(ignore_index=True)
    return frame.reset_index(drop=True)


def write_session_parts(
    data_dir: Path, segment: str, end: int, pending: Pending
) -> tuple[list[Path], dict[SessionKey, str]]:
    """Write ``pending`` (a segment's lines up to byte ``end``) as one part per session and
    sensor. Returns the parts written and, by session, why a session could not be.

    Raises :class:`DiskError` if the disk refused a write; the parts this call wrote are
    removed again (the journal still has everything), so a retry starts clean.
    """
    written: list[Path] = []
    failed: dict[SessionKey, str] = {}
    for key, sensors in pending.items():
        mine: list[Path] = []
        try:
            for sensor, batches in sensors.items():
                part = sensor_dir(data_dir, *key, sensor) / f"part-{segment}-{end:012d}.parquet"
                write_table(part, batches_to_table(batches))
                mine.append(part)
        except OSError as e:
            if e.errno in _DISK_ERRNOS:
                _remove([*written, *mine])
                raise DiskError(e.errno, e.strerror, e.filename) from None
            failed[key] = _describe(e)
            _remove(mine)
            continue
        except Exception as e:  # this session's data: a bad column, a type Arrow refuses
            failed[key] = _describe(e)
            _remove(mine)
            continue
        written.extend(mine)
    return written, failed


def _remove(parts: list[Path]) -> None:
    for part in parts:
        part.unlink(missing_ok=True)


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror} ({type(e).__name__})"
    return f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- compaction
def compact_session(
    data_dir: Path, device_id: str, session_id: str, settled: set[str] | None = None
) -> int:
    """Merge a session's parts into one file per sensor (sorted, de-duplicated); returns how
    many files were written. Only parts for which ``settled(part)`` holds are merged.

    ``settled``: the parts whose journal range is checkpointed (a part past its segment's
    checkpoint may still be rewritten by a recovery). A crash during compaction leaves
    duplicates (dropped on read), never a gap. Raises OSError or ArrowException.
    """
    written = 0
    for sensor, parts in list_parts(session_dir(data_dir, device_id, session_id)).items():
        merge = [p for p in parts if settled is None or p.name in settled]
        if len(merge) < 2:
            continue
        frame = frame_from_tables([pq.read_table(p) for p in merge])
        target = merge[0].with_name(f"part-compact-{uuid.uuid4().hex}.parquet")
        write_table(target, pa.Table.from_pandas(frame, preserve_index=False))
        for part in merge:
            part.unlink(missing_ok=True)
        written += 1
        log.debug("compacted %d parts of %s/%s/%s", len(merge), device_id, session_id, sensor)
    return written


def remove_dead_temporaries(data_dir: Path) -> int:
    """Remove the temporary files (``.<part>.<pid>.<thread>.tmp``) of session parts whose
    writing process is gone (killed mid-write, e.g. in a compaction); returns how many."""
    removed = 0
    for tmp in (data_dir / SESSIONS).glob("device=*/session=*/sensor=*/.part-*.tmp"):
        bits = tmp.name.rsplit(".", 3)  # [.part-....parquet, pid, thread, "tmp"]
        if len(bits) == 4 and bits[1].isdigit() and process_alive(int(bits[1])):
            continue
        try:
            tmp.unlink()
            removed += 1
        except OSError as e:
            log.warning("cannot remove %s: %s", tmp.name, e.strerror)
    return removed


#: The folder (under the data directory) an import writes into before its session's: a dot
#: folder, so that nothing lists it; the importing process's id follows (see
#: :func:`remove_dead_imports`).
IMPORTING = ".importing-"


def remove_dead_imports(data_dir: Path) -> int:
    """Remove what imports killed half-way left (their folders, ``.importing-<pid>-*``)."""
    removed = 0
    for folder in data_dir.glob(f"{IMPORTING}*"):
        pid = folder.name[len(IMPORTING) :].split("-", 1)[0]
        if pid.isdigit() and process_alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def process_alive(pid: int) -> bool:
    """Whether the process ``pid`` (on this machine) still runs."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settled_parts(
    data_dir: Path, device_id: str, session_id: str, checkpoint: Callable[[str], int]
) -> set[str]:
    """Names of a session's parts whose journal range is checkpointed (``checkpoint(origin)``
    gives a segment's checkpoint), plus compacted and imported parts."""
    names = set()
    for parts in list_parts(session_dir(data_dir, device_id, session_id)).values():
        for part in parts:
            origin, end = part_origin(part)
            if origin in ("compact", "import") or (
                end.isdigit() and int(end) <= checkpoint(origin)
            ):
                names.add(part.name)
    return names


# ---------------------------------------------------------------------------------- stats
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
    index = meta.schema.to_arrow_schema().get_field_index(TIME)
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_min_max:
            column = pq.read_table(path, columns=[TIME])[TIME].to_numpy()
            return meta.num_rows, int(column.min()), int(column.max())
        lows.append(stats.min)
        highs.append(stats.max)
    return meta.num_rows, int(min(lows)), int(max(highs))
