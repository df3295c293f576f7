"""A season's swings as one Parquet table, for a query engine: DuckDB on one machine, Dask on
a cluster, both reading the same Hive-partitioned files.

The table is derived (the recordings and the coach's marks are the truth) and written once per
session::

    DATA_DIR/season/swings/device=<d>/session=<s>/swings.parquet   one session's swings
    DATA_DIR/season/swings/_manifest.json   what each file was built from

:func:`build_season` writes the files of the sessions that are new or changed since they were
built (more readings, other marks) and of every session when the detector changed (a
fingerprint of its source), and removes those of deleted sessions. A row is one swing of the
detector's table with the coach's marks applied: ``device_id``, ``session_id``, ``swing``,
``placement``, ``start`` (UTC), ``week`` (its Monday, UTC), ``counted`` (False for practice
swings and arms-only motions, which the medians leave out) and the headline numbers.

:func:`weekly_medians` answers "a roster's (or one player's) median by week" with either
engine; both give the same answer on the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from hitting_coach.analysis import corrections, swing_metrics, swings
from hitting_coach.analysis.corrections import session_swings
from hitting_coach.analysis.session_overview import HEADLINES
from hitting_coach.analysis.swing_metrics import counted_swings
from hitting_coach.errors import SessionError
from hitting_coach.store.layout import session_dir, write_json
from hitting_coach.store.marks import marks_stamp
from hitting_coach.store.parts import write_table
from hitting_coach.store.sessions import data_path, indexed_summaries

__all__ = [
    "ENGINES",
    "METRICS",
    "SEASON_DIR",
    "SeasonBuild",
    "build_season",
    "detector_version",
    "season_files",
    "weekly_medians",
    "write_session_swings",
]

log = logging.getLogger(__name__)

SEASON_DIR = Path("season") / "swings"
MANIFEST = "_manifest.json"  # a leading underscore: DuckDB's glob and Dask skip it
FILE = "swings.parquet"
METRICS = tuple(HEADLINES)
ENGINES = ("duckdb", "dask")

SCHEMA = pa.schema(
    [
        ("device_id", pa.string()),
        ("session_id", pa.string()),
        ("swing", pa.int64()),
        ("placement", pa.string()),
        ("start", pa.timestamp("ns", tz="UTC")),
        ("week", pa.date32()),
        ("counted", pa.bool_()),
        *[(m, pa.float64()) for m in METRICS],
    ]
)


def detector_version() -> str:
    """A fingerprint of the swing detector and the marks' rules (their source): the table is
    rebuilt when it changes."""
    digest = hashlib.sha256()
    for module in (swings, swing_metrics, corrections):
        digest.update(Path(module.__file__).read_bytes())  # type: ignore[arg-type]
    return digest.hexdigest()[:16]


def season_root(data_dir: str | Path) -> Path:
    return data_path(data_dir) / SEASON_DIR


def season_files(data_dir: str | Path) -> str:
    """The glob of the table's files (what DuckDB's ``read_parquet`` takes)."""
    return str(season_root(data_dir) / "device=*" / "session=*" / FILE)


# --------------------------------------------------------------------------------- build
def swing_rows(table: pd.DataFrame, device_id: str, session_id: str) -> pa.Table:
    """A session's swing table (marks applied) as rows of the season table."""
    n = len(table)
    counted = pd.Series(False, index=table.index)
    counted[counted_swings(table).index] = True
    start = pd.to_datetime(table["start_ns"].astype("int64"), unit="ns", utc=True)
    week = start.dt.tz_convert(None).dt.normalize() - pd.to_timedelta(start.dt.day_of_week, "D")
    columns: dict[str, Any] = {
        "device_id": [device_id] * n,
        "session_id": [session_id] * n,
        "swing": table["swing"].astype("int64").to_numpy(),
        "placement": table["placement"].astype(str).to_numpy(),
        "start": start,
        "week": week.dt.date,
        "counted": counted.to_numpy(bool),
    }
    for m in METRICS:
        values = table[m] if m in table else pd.Series(float("nan"), index=table.index)
        numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        # not measured is null, not NaN: DuckDB sorts NaN above every number (into medians)
        columns[m] = pa.array(numbers, pa.float64(), from_pandas=True)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def write_session_swings(
    data_dir: str | Path, device_id: str, session_id: str, rows: pa.Table
) -> Path:
    """Write one session's rows (atomically) where the season table keeps them."""
    sdir = session_dir(Path(), device_id, session_id)  # device=<d>/session=<s>, encoded
    path = season_root(data_dir) / sdir.relative_to("sessions") / FILE
    write_table(path, rows)
    return path


@dataclass
class SeasonBuild:
    """What :func:`build_season` did: sessions written, kept as they were, removed, and those
    that could not be analysed (with why; they have no rows)."""

    built: int = 0
    kept: int = 0
    removed: int = 0
    swings: int = 0
    problems: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one build at a time; a second waits for the first
        yield
    finally:
        os.close(fd)


def build_season(
    data_dir: str | Path | None = None, progress: Callable[[str], None] | None = None
) -> SeasonBuild:
    """Bring the season table up to date with the store (see the module's docstring)."""
    root = season_root(data_dir)
    data_dir = data_path(data_dir)
    version = detector_version()
    result = SeasonBuild()
    with _locked(root):
        manifest = _read_manifest(root)
        if manifest.get("detector") != version:
            manifest = {"detector": version, "sessions": {}}
        built: dict[str, Any] = manifest["sessions"]
        present: set[str] = set()
        for summary in indexed_summaries(data_dir):
            device, session = summary.device_id, summary.session_id
            name = f"{device}/{session}"
            present.add(name)
            readings = sum(s.count for s in summary.sensors.values())
            key = [summary.end_ns or 0, readings, marks_stamp(data_dir, device, session)]
            if built.get(name, {}).get("key") == key:
                result.kept += 1
                continue
            try:
                rows = swing_rows(session_swings((device, session), data_dir), device, session)
            except SessionError as e:
                result.problems[name] = str(e)
                _remove(root, device, session)
                built[name] = {"key": key, "problem": str(e)}
                continue
            write_session_swings(data_dir, device, session, rows)
            built[name] = {"key": key, "swings": rows.num_rows}
            result.built += 1
            result.swings += rows.num_rows
            if progress is not None:
                progress(f"{name}: {rows.num_rows} swings")
        for name in sorted(set(built) - present):
            device, session = name.split("/", 1) if "/" in name else (name, "")
            _remove(root, device, session)
            del built[name]
            result.removed += 1
        write_json(root / MANIFEST, manifest)
    return result


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads((root / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) and isinstance(doc.get("sessions"), dict) else {}


def _remove(root: Path, device_id: str, session_id: str) -> None:
    sdir = root / session_dir(Path(), device_id, session_id).relative_to("sessions")
    shutil.rmtree(sdir, ignore_errors=True)
    with contextlib.suppress(OSError):
        sdir.parent.rmdir()  # the device's folder, once it holds no session


# --------------------------------------------------------------------------------- query
def weekly_medians(
    metric: str = "hand_peak_dps",
    *,
    data_dir: str | Path | None = None,
    device: str | None = None,
    engine: str = "duckdb",
    scheduler: Any = None,
) -> pd.DataFrame:
    """Per device and week (its Monday): counted swings, and the median of ``metric`` over
    those that measured it; one device's with ``device`` (a player's trend). Sorted by device
    and week. ``engine``: ``duckdb`` (this machine) or ``dask`` (``scheduler``: a
    ``distributed.Client`` or a scheduler name; default Dask's own). In a notebook,
    ``hitting_coach.weekly_medians("bat_speed_mph")`` reads the configured data directory."""
    data_dir = data_path(data_dir)
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: one of {', '.join(METRICS)}")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
    if not any(season_root(data_dir).glob(f"device=*/session=*/{FILE}")):
        raise SessionError(
            f"no season table in {season_root(data_dir)}: run `hitting-coach season build`"
        )
    query = _duckdb if engine == "duckdb" else _dask
    out = query(data_dir, metric, device, scheduler)
    out = out.sort_values(["device_id", "week"], kind="stable").reset_index(drop=True)
    out["device_id"] = out["device_id"].astype("str")
    out["week"] = pd.to_datetime(out["week"]).dt.date
    out["swings"] = out["swings"].astype("int64")
    out["median"] = out["median"].astype("float64")
    return out[["device_id", "week", "swings", "median"]]


def _duckdb(data_dir: str | Path, metric: str, device: str | None, scheduler: Any) -> pd.DataFrame:
    import duckdb

    where = "counted" + (" AND device_id = $device" if device is not None else "")
    sql = f"""
        SELECT device_id, week, count(*) AS swings, median("{metric}") AS median
        FROM read_parquet($files, hive_partitioning = false)
        WHERE {where}
        GROUP BY device_id, week
    """  # noqa: S608 (metric is one of METRICS, checked above)
    params: dict[str, Any] = {"files": season_files(data_dir)}
    if device is not None:
        params["device"] = device
    with duckdb.connect() as con:
        return con.execute(sql, params).df()


def _dask(data_dir: str | Path, metric: str, device: str | None, scheduler: Any) -> pd.DataFrame:
    """One task per device folder (the Hive partition): each reads its device's files and
    groups them; a (device, week) group never spans two tasks, so no shuffle is needed (a
    groupby-median across 1,000 one-file partitions spent seconds shuffling)."""
    import dask
    import dask.dataframe as dd

    root = season_root(data_dir)
    if device is not None:
        folders = [root / session_dir(Path(), device, "-").parent.relative_to("sessions")]
    else:
        folders = sorted(root.glob("device=*"))
    meta = pd.DataFrame(
        {
            "device_id": pd.Series(dtype="str"),
            "week": pd.Series(dtype="object"),
            "swings": pd.Series(dtype="int64"),
            "median": pd.Series(dtype="float64"),
        }
    )
    frame = dd.from_map(
        _weekly_of_device, folders, metric=metric, meta=meta, enforce_metadata=False
    )
    (out,) = dask.compute(frame, scheduler=scheduler)
    return out


def _weekly_of_device(folder: Path, metric: str) -> pd.DataFrame:
    """A Dask task: the weekly counts and medians of one device folder's counted swings."""
    import pyarrow.parquet as pq

    files = sorted(folder.glob(f"session=*/{FILE}"))
    columns = ["device_id", "week", metric]
    tables = [pq.read_table(f, columns=columns, filters=[("counted", "==", True)]) for f in files]
    if not tables:
        return pd.DataFrame(columns=["device_id", "week", "swings", "median"])
    frame = pa.concat_tables(tables).to_pandas()
    grouped = frame.groupby(["device_id", "week"])[metric]
    return pd.DataFrame({"swings": grouped.size(), "median": grouped.median()}).reset_index()
