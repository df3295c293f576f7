"""Recorded sessions for notebooks and the CLI: list them, load them as pandas DataFrames.

A session is one Sensor Logger recording: a (device id, session id) pair. Loading reads the
session's Parquet parts plus whatever the journal holds that is not converted yet, so a session
that is still being recorded loads complete up to the last accepted message::

    from hitting_coach import list_sessions, load_session
    list_sessions()                       # one row per session: start, end, sensors, rates
    s = load_session("latest")            # or a session id, a unique prefix, a name
    s["gyroscope"]                        # time_ns + x, y, z; sorted by time, no duplicates
    load_session(s, take="tee work")      # only a take's time range

Every sensor keeps its own time axis; nothing is aligned or resampled here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hitting_coach.errors import SessionError
from hitting_coach.ingest.parse import SCHEMAS
from hitting_coach.store.journal import read_tail
from hitting_coach.store.layout import (
    SESSIONS,
    list_parts,
    read_meta,
    session_dir,
    session_dirs,
    write_json,
)
from hitting_coach.store.parts import (
    TIME,
    SensorStats,
    batches_to_table,
    frame_from_tables,
    part_stats,
)
from hitting_coach.store.players import read_players
from hitting_coach.store.takes import Take, read_takes
from hitting_coach.text import printable
from hitting_coach.values import plural, rate_hz

__all__ = [
    "schema_problem",
    "Session",
    "SessionSummary",
    "data_path",
    "indexed_summaries",
    "list_sessions",
    "list_takes",
    "load_session",
    "refresh_index",
    "resolve_session",
    "sensor_frames",
    "session_summaries",
    "session_summary",
    "sessions_report",
]

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
_INDEX_VERSION = 1
SessionRef = Any  # str (id, prefix, "device/session", name, "latest"), (device, session), ...


@dataclass
class Session:
    """One session's readings: ``frames[sensor]`` is a DataFrame of ``time_ns`` (int64 epoch
    nanoseconds, the phone's clock) and the value columns, sorted by time, de-duplicated."""

    device_id: str
    session_id: str
    name: str = ""
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    takes: list[Take] = field(default_factory=list)

    def __getitem__(self, sensor: str) -> pd.DataFrame:
        try:
            return self.frames[sensor]
        except KeyError:
            have = ", ".join(self.frames) or "no sensors"
            raise KeyError(f"no {sensor!r} in this session (it has {have})") from None

    def __contains__(self, sensor: object) -> bool:
        return sensor in self.frames

    @property
    def sensors(self) -> list[str]:
        return list(self.frames)

    @property
    def readings(self) -> int:
        return sum(len(f) for f in self.frames.values())

    @property
    def start_ns(self) -> int | None:
        starts = [int(f["time_ns"].iloc[0]) for f in self.frames.values() if len(f)]
        return min(starts) if starts else None

    @property
    def end_ns(self) -> int | None:
        ends = [int(f["time_ns"].iloc[-1]) for f in self.frames.values() if len(f)]
        return max(ends) if ends else None

    def take(self, take: str | Take) -> Take:
        """A take of this session by id or name (or a :class:`Take`)."""
        if isinstance(take, Take):
            return take
        found = [t for t in self.takes if t.take_id == take] or [
            t for t in self.takes if t.name == take
        ]
        if not found:
            names = ", ".join(repr(t.name) for t in self.takes) or "none"
            raise SessionError(f"no take {take!r} in session {self.session_id} (takes: {names})")
        if len(found) > 1:
            ids = ", ".join(t.take_id for t in found)
            raise SessionError(f"{len(found)} takes are named {take!r}; use an id: {ids}")
        return found[0]

    def __repr__(self) -> str:
        sensors = ", ".join(f"{s} {len(f)}" for s, f in self.frames.items())
        span = ""
        if self.start_ns is not None and self.end_ns is not None:
            span = f", {_local(self.start_ns)}, {(self.end_ns - self.start_ns) / 1e9:.1f} s"
        name = f" {self.name!r}" if self.name else ""
        return f"<Session {self.device_id}/{self.session_id}{name}: {sensors}{span}>"


@dataclass
class SessionSummary:
    """A session as the index knows it (counts before de-duplication)."""

    device_id: str
    session_id: str
    name: str = ""
    sensors: dict[str, SensorStats] = field(default_factory=dict)
    #: When the session last received data (epoch ns): its newest journal line, else its
    #: newest Parquet part's write time. ``latest`` is the session with the highest.
    received_ns: int = 0

    @property
    def start_ns(self) -> int | None:
        starts = [s.start_ns for s in self.sensors.values() if s.start_ns is not None]
        return min(starts) if starts else None

    @property
    def end_ns(self) -> int | None:
        ends = [s.end_ns for s in self.sensors.values() if s.end_ns is not None]
        return max(ends) if ends else None


# ------------------------------------------------------------------------------ listing
def data_path(data_dir: str | Path | None) -> Path:
    """``data_dir`` as a Path. The store reads no settings: its caller passes the data
    directory (``Settings.data_path``; ``hitting_coach.list_sessions()`` and the other notebook
    functions fill in the setting). Raises TypeError for None."""
    if data_dir is None:
        raise TypeError(
            "no data directory given: pass data_dir (the store does not read the settings; "
            "hitting_coach.list_sessions() and the other notebook functions use the setting)"
        )
    return Path(data_dir).expanduser()


def session_summaries(data_dir: str | Path | None = None) -> list[SessionSummary]:
    """Every session in ``data_dir``, from the index (parts changed since it was written are
    read again, in memory: listing writes nothing) plus what only the journal holds. Sorted
    by start time."""
    root = data_path(data_dir)
    for attempt in range(3):
        try:
            summaries = _index(root, write=False)
            break
        except FileNotFoundError:  # a part was compacted away while we looked
            if attempt == 2:
                raise
    tail = read_tail(root)
    for (device, session), sensors in tail.batches.items():
        key = (device, session)
        if key not in summaries:
            meta = read_meta(session_dir(root, device, session))
            summaries[key] = SessionSummary(device, session, str(meta.get("name", "")))
        summaries[key].received_ns = max(summaries[key].received_ns, tail.received_ns[key])
        for sensor, batches in sensors.items():
            stats = summaries[key].sensors.setdefault(sensor, SensorStats())
            for b in batches:
                if len(b):
                    stats.add(len(b), int(b.time_ns.min()), int(b.time_ns.max()))
    return sorted(summaries.values(), key=lambda s: (s.start_ns or 0, s.device_id, s.session_id))


def session_summary(data_dir: str | Path, device_id: str, session_id: str) -> SessionSummary:
    """One session as :func:`session_summaries` lists it, reading only its own parts and
    journal lines (an empty summary for a session that does not exist)."""
    root = data_path(data_dir)
    key = (device_id, session_id)
    sdir = session_dir(root, device_id, session_id)
    summary = SessionSummary(device_id, session_id, str(read_meta(sdir).get("name", "")))
    for attempt in range(3):
        try:
            sensors: dict[str, SensorStats] = {}
            received = 0
            for sensor, files in list_parts(sdir).items():
                stats = sensors.setdefault(sensor, SensorStats())
                for p in files:
                    received = max(received, p.stat().st_mtime_ns)
                    got = part_stats(p)
                    if got:
                        stats.add(*got)
            break
        except FileNotFoundError:  # a part was compacted away while we looked
            if attempt == 2:
                raise
    summary.sensors = {s: st for s, st in sensors.items() if st.count}
    summary.received_ns = received
    tail = read_tail(root, only=key)
    if key in tail.received_ns:
        summary.received_ns = max(summary.received_ns, tail.received_ns[key])
    for sensor, batches in tail.batches.get(key, {}).items():
        stats = summary.sensors.setdefault(sensor, SensorStats())
        for b in batches:
            if len(b):
                stats.add(len(b), int(b.time_ns.min()), int(b.time_ns.max()))
    return summary


def sensor_frames(
    data_dir: str | Path, device_id: str, session_id: str
) -> Iterator[tuple[str, pd.DataFrame]]:
    """A session's readings one sensor at a time, by sensor name: ``(sensor, frame)`` as
    :func:`load_session` gives them, with only that sensor in memory."""
    root = data_path(data_dir)
    tail = read_tail(root, only=(device_id, session_id))
    from_tail = tail.batches.get((device_id, session_id), {})
    del tail
    parts = list_parts(session_dir(root, device_id, session_id))
    for sensor in sorted(set(parts) | set(from_tail)):
        for attempt in range(3):
            try:
                tables = [pq.read_table(p) for p in parts.get(sensor, [])]
                break
            except FileNotFoundError:  # compacted while we read: read the new parts
                if attempt == 2:
                    raise
                parts = list_parts(session_dir(root, device_id, session_id))
        if sensor in from_tail:
            tables.append(batches_to_table(from_tail.pop(sensor)))
        frame = frame_from_tables(tables)
        del tables
        yield sensor, frame


def refresh_index(data_dir: str | Path, only: Iterable[tuple[str, str]] | None = None) -> None:
    """Bring ``index.json`` up to date with the Parquet parts on disk (the recorder does it
    whenever it wrote parts, an import after storing one). ``only``: just these sessions'
    entries (added, updated, or dropped if their folder is gone), without walking the
    others: what the recorder and a delete do, so the cost does not grow with the sessions
    on disk."""
    root = Path(data_dir)
    with _index_lock:
        if only is None:
            _index(root, write=True)
            return
        path = root / INDEX_FILE
        old = _read_index(path)
        if not old and not path.exists():
            _index(root, write=True)
            return
        entries = dict(old)
        for device, session in only:
            sdir = session_dir(root, device, session)
            rel = sdir.relative_to(root / SESSIONS).as_posix()
            if sdir.is_dir():
                entries[rel] = _entry(device, session, sdir, entries.get(rel))
            else:
                entries.pop(rel, None)
        if entries != old:
            _write_index(path, entries)


_index_lock = threading.Lock()
#: ``indexed_summaries``: index.json as last parsed, by data directory and its (mtime, size).
_parsed: dict[Path, tuple[tuple[int, int], dict[tuple[str, str], SessionSummary]]] = {}


def _read_index(path: Path) -> dict[str, Any]:
    try:
        cached = orjson.loads(path.read_bytes())
        if not isinstance(cached, dict) or cached.get("version") != _INDEX_VERSION:
            return {}
    except (OSError, orjson.JSONDecodeError):
        return {}
    sessions = cached.get("sessions", {})
    return sessions if isinstance(sessions, dict) else {}


def _write_index(path: Path, entries: dict[str, Any]) -> None:
    try:
        write_json(path, {"version": _INDEX_VERSION, "sessions": entries})
    except OSError as e:  # a read-only copy of a data directory still lists
        log.debug("cannot write %s: %s", path, e)


def _entry(device: str, session: str, sdir: Path, old: dict | None) -> dict[str, Any]:
    """A session's index entry: its parts' fingerprint and per-sensor counts and times (read
    again only if the fingerprint changed)."""
    parts = list_parts(sdir)
    fingerprint = [
        [f"{sensor}/{p.name}", (st := p.stat()).st_size, st.st_mtime_ns]
        for sensor, files in parts.items()
        for p in files
    ]
    if old is not None and old.get("fingerprint") == fingerprint:
        return old
    sensors: dict[str, list[int]] = {}
    for sensor, files in parts.items():
        stats = SensorStats()
        for p in files:
            got = part_stats(p)
            if got:
                stats.add(*got)
        if stats.count:
            sensors[sensor] = [stats.count, stats.start_ns, stats.end_ns]
    return {
        "device_id": device,
        "session_id": session,
        "fingerprint": fingerprint,
        "sensors": sensors,
    }


def _summary_from(entry: dict[str, Any], name: str = "") -> SessionSummary:
    summary = SessionSummary(str(entry["device_id"]), str(entry["session_id"]), name)
    summary.received_ns = max((mtime for _, _, mtime in entry["fingerprint"]), default=0)
    for sensor, (count, start, end) in entry["sensors"].items():
        summary.sensors[sensor] = SensorStats(count, start, end)
    return summary


def _index(root: Path, write: bool) -> dict[tuple[str, str], SessionSummary]:
    path = root / INDEX_FILE
    old = _read_index(path)
    entries: dict[str, Any] = {}
    out: dict[tuple[str, str], SessionSummary] = {}
    for device, session, sdir in session_dirs(root):
        rel = sdir.relative_to(root / SESSIONS).as_posix()
        entry = entries[rel] = _entry(device, session, sdir, old.get(rel))
        out[(device, session)] = _summary_from(entry, str(read_meta(sdir).get("name", "")))
    if write and entries != old:
        _write_index(path, entries)
    return out


def indexed_summaries(data_dir: str | Path) -> list[SessionSummary]:
    """Every session as ``index.json`` and the journal know it, without walking the session
    folders (what the sessions page lists: the recorder, imports and deletes keep the index
    up to date; one that does not exist yet is made). Names are left empty (read the
    ``meta.json`` of the sessions shown). The parsed index is reused while the file is
    unchanged. Sorted by start time."""
    root = data_path(data_dir)
    path = root / INDEX_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        refresh_index(root)
        try:
            st = path.stat()
        except FileNotFoundError:  # read-only: list the slow way
            return session_summaries(root)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _parsed.get(root)
    if cached is None or cached[0] != stamp:
        parsed = {}
        for entry in _read_index(path).values():
            try:
                summary = _summary_from(entry)
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry: the next full refresh writes it again
            parsed[(summary.device_id, summary.session_id)] = summary
        cached = _parsed[root] = (stamp, parsed)
    summaries = {k: dataclasses.replace(v, sensors=dict(v.sensors)) for k, v in cached[1].items()}
    tail = read_tail(root)
    for key, sensors in tail.batches.items():
        summary = summaries.setdefault(key, SessionSummary(*key))
        summary.received_ns = max(summary.received_ns, tail.received_ns[key])
        for sensor, batches in sensors.items():
            stats = summary.sensors.setdefault(sensor, SensorStats())
            for b in batches:
                if len(b):
                    stats.add(len(b), int(b.time_ns.min()), int(b.time_ns.max()))
    return sorted(summaries.values(), key=lambda s: (s.start_ns or 0, s.device_id, s.session_id))


def schema_problem(sensor: str, frame: pd.DataFrame) -> str | None:
    """What keeps a known sensor's readings from being analysed, in words (``None``: nothing):
    a value column it must have is missing, or holds text where it must hold numbers. Imports
    refuse such files, and the analysis refuses sessions stored before imports checked."""
    need = SCHEMAS.get(sensor, ())
    missing = [c for c in need if c not in frame.columns]
    if missing:
        have = ", ".join(c for c in frame.columns if c != "time_ns")[:200] or "none"
        return (
            f"{sensor} readings need the columns {', '.join(need)}; it has {have} "
            f"(missing {', '.join(missing)})"
        )
    text = [c for c in need if frame[c].dtype.kind not in "fiu"]
    if text:
        return f"column {text[0]} holds text; {sensor} readings need numbers there"
    return None


def list_sessions(data_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per session, oldest first.

    Columns: ``device_id``, ``session_id``, ``name``, ``start`` and ``end`` (UTC timestamps of
    the first and last reading), ``duration_s``, ``readings``, ``sensors`` (list), ``counts``
    and ``rates_hz`` (dicts by sensor), ``takes`` (how many). ``data_dir``: the data directory
    (``hitting_coach.list_sessions()`` uses the ``HITTING_COACH_DATA_DIR`` setting).
    """
    root = data_path(data_dir)
    takes = read_takes(root)
    rows = []
    for s in session_summaries(root):
        start, end = s.start_ns, s.end_ns
        rows.append(
            {
                "device_id": s.device_id,
                "session_id": s.session_id,
                "name": s.name,
                "start": pd.Timestamp(start, unit="ns", tz="UTC") if start else pd.NaT,
                "end": pd.Timestamp(end, unit="ns", tz="UTC") if end else pd.NaT,
                "duration_s": (end - start) / 1e9 if start and end else 0.0,
                "readings": sum(st.count for st in s.sensors.values()),
                "sensors": sorted(s.sensors),
                "counts": {k: v.count for k, v in sorted(s.sensors.items())},
                "rates_hz": {
                    k: round(v.rate_hz, 1) for k, v in sorted(s.sensors.items()) if v.rate_hz
                },
                "takes": sum(_take_in(t, s.device_id, s.session_id, start, end) for t in takes),
            }
        )
    columns = ["device_id", "session_id", "name", "start", "end", "duration_s", "readings"]
    columns += ["sensors", "counts", "rates_hz", "takes"]
    return pd.DataFrame(rows, columns=columns)


def _take_in(take: Take, device: str, session: str, start: int | None, end: int | None) -> bool:
    if take.device_id != device:
        return False
    if take.session_id is not None:
        return take.session_id == session
    if start is None or end is None:
        return False
    return take.start_ns <= end and (take.end_ns is None or take.end_ns >= start)


def list_takes(session: SessionRef = None, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Takes (all, or one session's) as a DataFrame: ``take_id``, ``name``, ``device_id``,
    ``session_id``, ``start``, ``end`` (UTC; NaT while running), ``duration_s``, ``start_ns``,
    ``end_ns``."""
    root = data_path(data_dir)
    takes = read_takes(root)
    if session is not None:
        summary = _summary_of(resolve_session(session, root), root)
        takes = [
            t
            for t in takes
            if _take_in(t, summary.device_id, summary.session_id, summary.start_ns, summary.end_ns)
        ]
    rows = [
        {
            "take_id": t.take_id,
            "name": t.name,
            "device_id": t.device_id,
            "session_id": t.session_id,
            "start": pd.Timestamp(t.start_ns, unit="ns", tz="UTC"),
            "end": pd.NaT if t.end_ns is None else pd.Timestamp(t.end_ns, unit="ns", tz="UTC"),
            "duration_s": t.duration_s,
            "start_ns": t.start_ns,
            "end_ns": t.end_ns,
        }
        for t in takes
    ]
    columns = ["take_id", "name", "device_id", "session_id", "start", "end", "duration_s"]
    return pd.DataFrame(rows, columns=[*columns, "start_ns", "end_ns"])


def _summary_of(key: tuple[str, str], root: Path) -> SessionSummary:
    for s in session_summaries(root):
        if (s.device_id, s.session_id) == key:
            return s
    return SessionSummary(*key)


# ------------------------------------------------------------------------------ resolving
def started_ns(summary: SessionSummary) -> int:
    """When a session started, as ``latest`` orders sessions: its first reading's time, but
    never later than when the server last received the session (a sender dating its
    readings ahead does not make its session the last one started)."""
    start = summary.start_ns or 0
    return min(start, summary.received_ns) if summary.received_ns else start


def resolve_session(ref: SessionRef, data_dir: str | Path | None = None) -> tuple[str, str]:
    """``(device_id, session_id)`` for a reference: a :class:`Session`, a ``(device,
    session)`` pair, a row of :func:`list_sessions`, or a string: a session id, a
    ``device/session`` pair, a session name, a unique prefix of a session id, or ``latest``.
    Raises :class:`SessionError` if there is no such session or the string is ambiguous."""
    if isinstance(ref, Session | SessionSummary):
        return ref.device_id, ref.session_id
    if isinstance(ref, pd.Series):
        return str(ref["device_id"]), str(ref["session_id"])
    if isinstance(ref, tuple) and len(ref) == 2:
        return str(ref[0]), str(ref[1])
    if not isinstance(ref, str) or not ref:
        raise SessionError(f"not a session reference: {ref!r}")
    root = data_path(data_dir)
    if not root.is_dir():
        raise SessionError(f"no data directory {root}: give the folder the server records into")
    summaries = session_summaries(root)
    if not summaries:
        raise SessionError(f"no sessions recorded in {root}")
    if ref == "latest":
        last = max(summaries, key=lambda s: (started_ns(s), s.received_ns))
        return last.device_id, last.session_id
    tests: list[Callable[[SessionSummary], bool]] = [
        # a device/session pair first: a session id holding a "/" cannot hide it
        lambda s: f"{s.device_id}/{s.session_id}" == ref,
        lambda s: s.session_id == ref or f"{s.device_id}/{s.session_id}" == ref,
        lambda s: s.name == ref,
        lambda s: len(ref) >= 3 and s.session_id.startswith(ref),
    ]
    for test in tests:
        found = [s for s in summaries if test(s)]
        if len(found) == 1:
            return found[0].device_id, found[0].session_id
        if len(found) > 1:
            shown = ", ".join(f"{s.device_id}/{s.session_id}" for s in found[:5])
            raise SessionError(f"{ref!r} matches {len(found)} sessions ({shown}); be specific")
    raise SessionError(f"no session {ref!r} in {root}; `hitting-coach sessions` lists them")


# -------------------------------------------------------------------------------- loading
def load_session(
    session: SessionRef,
    data_dir: str | Path | None = None,
    *,
    take: str | Take | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Session:
    """Load a session (see :func:`resolve_session`) as one DataFrame per sensor.

    ``take`` (a take's id or name, or a :class:`Take`) and ``start_ns <= time_ns < end_ns``
    narrow it to a time range. Works while the session is being recorded. Raises
    :class:`SessionError` if the session or take does not exist.
    """
    root = data_path(data_dir)
    device, session_id = resolve_session(session, root)
    for attempt in range(3):
        try:
            tables = _read_tables(root, device, session_id)
            break
        except FileNotFoundError:  # compacted while we read: the new file is there now
            if attempt == 2:
                raise
    if not tables:
        raise SessionError(f"no session {device}/{session_id} in {root}")
    frames = {sensor: frame_from_tables(t) for sensor, t in sorted(tables.items())}
    meta = read_meta(session_dir(root, device, session_id))
    result = Session(device, session_id, str(meta.get("name", "")), frames)
    start, end = result.start_ns, result.end_ns
    result.takes = [t for t in read_takes(root) if _take_in(t, device, session_id, start, end)]
    if take is not None:
        chosen = result.take(take)
        start_ns = chosen.start_ns if start_ns is None else max(start_ns, chosen.start_ns)
        if chosen.end_ns is not None:
            end_ns = chosen.end_ns if end_ns is None else min(end_ns, chosen.end_ns)
    if start_ns is not None or end_ns is not None:
        result.frames = {s: _slice(f, start_ns, end_ns) for s, f in result.frames.items()}
    return result


def _read_tables(root: Path, device: str, session_id: str) -> dict[str, list[pa.Table]]:
    # The tail first: it reads each segment's checkpoint before we list the parts, so a part
    # written in between overlaps the tail (duplicates, dropped) instead of leaving a gap.
    tail = read_tail(root, only=(device, session_id))
    tables: dict[str, list[pa.Table]] = {}
    for sensor, parts in list_parts(session_dir(root, device, session_id)).items():
        tables[sensor] = [pq.read_table(p) for p in parts]
    for sensor, batches in tail.batches.get((device, session_id), {}).items():
        tables.setdefault(sensor, []).append(batches_to_table(batches))
    return tables


def _slice(frame: pd.DataFrame, start_ns: int | None, end_ns: int | None) -> pd.DataFrame:
    time_ns = frame["time_ns"].to_numpy()
    lo = 0 if start_ns is None else int(np.searchsorted(time_ns, start_ns, "left"))
    hi = len(time_ns) if end_ns is None else int(np.searchsorted(time_ns, end_ns, "left"))
    return frame.iloc[lo:hi].reset_index(drop=True)


# --------------------------------------------------------------------------------- report
def _local(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def sessions_report(data_dir: str | Path | None = None, takes: bool = False) -> str:
    """The ``hitting-coach sessions`` table (local times), optionally with each session's
    takes under it."""
    root = data_path(data_dir)
    if not root.is_dir():
        raise SessionError(
            f"no data directory {root}: give --data-dir the folder `hitting-coach serve` "
            "records into (default: data in the project directory)"
        )
    frame = list_sessions(root)
    if frame.empty:
        raise SessionError(
            f"no sessions in {root}: record one (`hitting-coach serve`, then send from the "
            "phone) or import an export (`hitting-coach import PATH`)"
        )
    all_takes = read_takes(root) if takes else []
    players = read_players(root)
    lines = []
    header = f"{'start':19}  {'duration':>8}  {'player':20}  {'session':38}  {'name':20}  sensors"
    lines.append(header)
    for row in frame.itertuples():
        start = _local(row.start.value) if not pd.isna(row.start) else "-"
        # Ids, names and sensors come from the phone: escaped, so none forges a line.
        rates = median_rates(root, row.device_id, row.session_id)
        sensors = ", ".join(
            f"{printable(s)} {rates[s]:.0f} Hz"
            if s in rates
            else f"{printable(s)} ({row.counts[s]})"
            for s in row.sensors
        )
        player = players.get(row.device_id, row.device_id)  # a named device shows its player
        device, session, name = (printable(v) for v in (player, row.session_id, row.name))
        lines.append(
            f"{start:19}  {_duration(row.duration_s):>8}  {device[:20]:20}  "
            f"{session[:38]:38}  {name[:20]:20}  {sensors}"
        )
        for t in all_takes:
            s_ns, e_ns = row.start.value, row.end.value
            if _take_in(t, row.device_id, row.session_id, s_ns, e_ns):
                length = "running" if t.end_ns is None else _duration(t.duration_s or 0)
                lines.append(f"{'':21}take {t.name!r} at {_local(t.start_ns)}, {length}")
    readings = plural(int(frame["readings"].sum()), "reading")
    lines.append(f"{plural(len(frame), 'session')}, {readings} in {root}")
    return "\n".join(lines)


def median_rates(data_dir: Path, device_id: str, session_id: str) -> dict[str, float]:
    """Each sensor's sampling rate in a session from its median interval between readings
    (:func:`hitting_coach.values.rate_hz`, as the live page's status line says it): a watch
    sending 50 Hz with pauses is 50 Hz. Reads only the time column."""
    times: dict[str, list[np.ndarray]] = {}
    for sensor, files in list_parts(session_dir(data_dir, device_id, session_id)).items():
        for p in files:
            try:
                column = pq.read_table(p, columns=[TIME])[TIME].to_numpy()
            except FileNotFoundError:  # compacted away while we looked
                continue
            times.setdefault(sensor, []).append(column)
    tail = read_tail(data_dir, only=(device_id, session_id))
    for sensor, batches in tail.batches.get((device_id, session_id), {}).items():
        times.setdefault(sensor, []).extend(b.time_ns for b in batches if len(b))
    rates = {}
    for sensor, chunks in times.items():
        rate = rate_hz(np.concatenate(chunks)) if chunks else None
        if rate:
            rates[sensor] = rate
    return rates


def _duration(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"
