"""The coach's marks applied to detected swings (the marks themselves: :mod:`hitting_coach.store.marks`).

A mark finds its swing by time: the swing whose window contains the marked time, else the one
with a peak nearest to it within :data:`MATCH_TOLERANCE_NS` (0.5 s). A ``not_swing`` mark drops
its swing; an ``add_swing`` mark with no detected swing there adds one, measured by
:func:`~hitting_coach.analysis.swing_metrics.swing_row` over the burst of rotation around the
marked time and flagged ``added_by_coach``. The same rules serve recorded sessions
(:func:`apply_marks`, used by reports and ``hitting-coach swings``) and the live swing list
(:class:`MarkedLiveSwings`, used by the dashboard and ``swings.json``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pandas as pd

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.swing_metrics import (
    COLUMNS,
    SwingRow,
    SwingWindow,
    angular_speed_dps,
    swing_row,
    swing_table,
)
from hitting_coach.analysis.swings import SWEET_SPOT_M, guess_placement, swings
from hitting_coach.errors import SessionError
from hitting_coach.sensors import GYROSCOPE, WRIST_MOTION, detector_sensors
from hitting_coach.store.marks import (
    Mark,
    marks_path,
    new_mark,
    read_marks,
    read_marks_file,
    remove_mark,
    save_mark,
    swing_time_ns,
)
from hitting_coach.store.sessions import data_path, load_session, schema_problem
from hitting_coach.text import printable
from hitting_coach.values import MISSING, is_set, plural, present, show_value, swing_flags

__all__ = [
    "MATCH_TOLERANCE_NS",
    "MarkedLiveSwings",
    "apply_marks",
    "correct_rows",
    "session_swings",
    "swings_text",
    "json_ready",
    "match_swing",
    "measure_at",
]

log = logging.getLogger(__name__)

MATCH_TOLERANCE_NS = 500_000_000
_SEARCH_NS = 600_000_000  # an added swing's peak is looked for this far either side of the mark
_MAX_HALF_NS = 500_000_000  # and its window reaches at most this far from the peak
_EDGE_FRACTION = 0.25  # the window spans where |ω| stays above this fraction of the peak
_PRE_NS = 500_000_000
_SETTLE_NS = 10_000_000_000  # an added live swing is measured again until then
_POST_NS = 50_000_000
#: The columns the detector measures each sensor by (what its tracker keeps per reading).
_COLUMNS_OF = {
    sensor: (*role.columns, *role.optional) for sensor, role in detector_sensors().items()
}


def _value(row: Mapping[str, Any], key: str) -> int | None:
    v = row.get(key)
    return None if v is None or pd.isna(v) else int(v)


def match_swing(rows: Sequence[Mapping[str, Any]], time_ns: int) -> int | None:
    """Index of the swing a mark at ``time_ns`` refers to, or None: the swing whose window
    (``start_ns``..``end_ns``) contains it (the one whose middle is nearest if several), else
    the one with a ``*_peak_ns`` nearest to it within 0.5 s."""
    best: tuple[int, int] | None = None
    for i, row in enumerate(rows):
        start, end = _value(row, "start_ns"), _value(row, "end_ns")
        if start is not None and end is not None and start <= time_ns <= end:
            d = abs((start + end) // 2 - time_ns)
            if best is None or d < best[0]:
                best = (d, i)
    if best is not None:
        return best[1]
    for i, row in enumerate(rows):
        for key in row:
            if key.endswith("_peak_ns") and (peak := _value(row, key)) is not None:
                d = abs(peak - time_ns)
                if d <= MATCH_TOLERANCE_NS and (best is None or d < best[0]):
                    best = (d, i)
    return None if best is None else best[1]


def correct_rows(
    rows: Sequence[Mapping[str, Any]],
    marks: Iterable[Mark],
    measure: Callable[[Mark], dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Swing rows with the marks applied, by start time: swings marked ``not_swing`` left
    out, a row per ``add_swing`` mark where no swing was detected (``measure(mark)``, or just
    the marked time if it gives None; marks within 0.5 s of an earlier one add nothing); an
    ``add_swing`` mark on a swing listed as practice or arms only counts it.
    Every row gets ``added_by_coach`` and ``mark_id``."""
    rows = [dict(r) for r in rows]
    marks = sorted(marks, key=lambda m: m.created_ns)
    dropped: set[int] = set()
    for m in marks:
        if m.kind == "not_swing":
            i = match_swing(rows, m.time_ns)
            if i is not None:
                dropped.add(i)
    out = [{**r, "added_by_coach": False, "mark_id": None} for i, r in enumerate(rows)]
    out = [r for i, r in enumerate(out) if i not in dropped]
    kept = [r for i, r in enumerate(rows) if i not in dropped]
    added: list[int] = []
    for m in marks:
        if m.kind != "add_swing":
            continue
        i = match_swing(out, m.time_ns)
        if i is not None and not out[i]["added_by_coach"]:
            # a swing listed but not counted (practice, arms only): the coach counts it
            if out[i].get("practice") or out[i].get("arms_only"):
                out[i].update(practice=False, arms_only=False, mark_id=m.mark_id)
            continue
        if match_swing(kept, m.time_ns) is not None:
            continue
        # two added swings are one when the coach marked them within 0.5 s of each other
        if any(abs(m.time_ns - t) <= MATCH_TOLERANCE_NS for t in added):
            continue
        row = (measure(m) if measure else None) or _bare_row(m.time_ns)
        row.update(added_by_coach=True, mark_id=m.mark_id)
        out.append(row)
        added.append(m.time_ns)
    return sorted(out, key=lambda r: _value(r, "start_ns") or 0)


def _bare_row(time_ns: int) -> dict[str, Any]:
    """An added swing with nothing measured: its time only."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(start_ns=time_ns, end_ns=time_ns, placement="")
    return row


def _slice(frame: pd.DataFrame, sensor: str, lo_ns: int, hi_ns: int):
    """``(time_ns, values)`` of ``frame`` in ``lo_ns..hi_ns``, sorted, in the detector's
    columns (NaN for an optional one the frame lacks); None without readings there."""
    cols = _COLUMNS_OF[sensor]
    need = detector_sensors()[sensor].columns
    if any(c not in frame for c in need) or "time_ns" not in frame:
        return None
    t = frame["time_ns"].to_numpy(np.int64)
    keep = (t >= lo_ns) & (t <= hi_ns)
    if not keep.any():
        return None
    part = frame.loc[keep]
    v = np.column_stack(
        [part[c].to_numpy(float) if c in part else np.full(len(part), np.nan) for c in cols]
    )
    t = t[keep]
    order = np.argsort(t, kind="stable")
    return t[order], v[order]


def measure_at(
    frames: Mapping[str, pd.DataFrame],
    time_ns: int,
    placement: str | None = None,
    *,
    gyro_range_dps: float = 2000.0,
    wrist_gyro_range_dps: float | None = None,
    sweet_spot_m: float = SWEET_SPOT_M,
) -> SwingRow | None:
    """Measure a swing the detector did not report, at ``time_ns``: the peak of |ω| of the
    driving sensor (the watch's ``wrist motion``, else the phone's gyroscope) within 0.6 s of
    it, the window where |ω| stays above a quarter of that peak, then the swing table's usual
    metrics (:func:`~hitting_coach.analysis.swing_metrics.swing_row`). None when there are no
    readings there."""
    try:
        placement = placement or guess_placement(frames)
    except ValueError:
        return None
    driver = WRIST_MOTION if "wrist" in placement else GYROSCOPE
    if driver not in frames:
        return None
    near = _slice(
        frames[driver],
        driver,
        time_ns - _SEARCH_NS - _MAX_HALF_NS,
        time_ns + _SEARCH_NS + _MAX_HALF_NS,
    )
    if near is None or len(near[0]) < 3:
        return None
    t, v = near
    w = angular_speed_dps(v[:, :3])
    search = np.flatnonzero(np.abs(t - time_ns) <= _SEARCH_NS)
    if not search.size:
        return None
    k = int(search[np.argmax(w[search])])
    edge = _EDGE_FRACTION * w[k]
    i = k
    while i > 0 and w[i - 1] > edge and t[k] - t[i - 1] <= _MAX_HALF_NS:
        i -= 1
    j = k
    while j < len(t) - 1 and w[j + 1] > edge and t[j + 1] - t[k] <= _MAX_HALF_NS:
        j += 1
    start, end = int(t[max(i - 1, 0)]), int(t[min(j + 1, len(t) - 1)])
    win = SwingWindow(start, end, float(w[k]), int(t[k]))
    data = {}
    for sensor, frame in frames.items():
        if sensor in _COLUMNS_OF:
            part = _slice(frame, sensor, start - _PRE_NS, end + _POST_NS)
            if part is not None:
                data[sensor] = part
    ranges = SimpleNamespace(
        gyro_range_dps=float(gyro_range_dps),
        wrist_gyro_range_dps=float(wrist_gyro_range_dps or gyro_range_dps),
        sweet_spot_m=float(sweet_spot_m),
    )
    return swing_row(win, placement, driver, data, ranges)


def _span(frames: Mapping[str, pd.DataFrame]) -> tuple[int, int] | None:
    ends = [
        (int(f["time_ns"].min()), int(f["time_ns"].max()))
        for f in frames.values()
        if "time_ns" in f and len(f)
    ]
    return (min(a for a, _ in ends), max(b for _, b in ends)) if ends else None


def apply_marks(
    table: pd.DataFrame,
    marks: Iterable[Mark],
    frames: Mapping[str, pd.DataFrame] | None = None,
    placement: str | None = None,
    **measure: Any,
) -> pd.DataFrame:
    """The swing table (:func:`~hitting_coach.analysis.swings.swings`) with the coach's marks
    applied (see :func:`correct_rows`), plus the columns ``added_by_coach`` and ``mark_id``.
    Added swings are measured from ``frames`` (keyword arguments as for :func:`measure_at`);
    added marks outside the frames' time span (another take) are left out. Swings keep their
    numbers (from 1); added ones, by time, get the next numbers after the last detected one,
    as the live list (:class:`MarkedLiveSwings`) numbers them."""
    marks = list(marks)
    span = _span(frames) if frames is not None else None
    if span is not None:
        marks = [m for m in marks if m.kind != "add_swing" or span[0] <= m.time_ns <= span[1]]
    elif frames is not None:
        marks = [m for m in marks if m.kind != "add_swing"]

    def measured(mark: Mark) -> dict[str, Any] | None:
        if frames is None:
            return None
        row = measure_at(frames, mark.time_ns, placement, **measure)
        return None if row is None else row.as_dict()

    rows = correct_rows(table.to_dict("records"), marks, measured)
    number = int(table["swing"].max()) + 1 if len(table) else 1
    for row in rows:
        if row["added_by_coach"]:
            row["swing"], number = number, number + 1
    out = swing_table(rows)
    out["added_by_coach"] = pd.array([bool(r["added_by_coach"]) for r in rows], dtype="boolean")
    out["mark_id"] = pd.array([r["mark_id"] for r in rows], dtype="string")
    return out.reset_index(drop=True)


def session_swings(
    session: Any,
    data_dir: str | Path | None = None,
    *,
    take: str | None = None,
    placement: str | None = None,
    marks: bool = True,
) -> pd.DataFrame:
    """The swing table of a recorded session (any reference
    :func:`~hitting_coach.store.sessions.load_session` takes), with the coach's marks
    applied unless ``marks`` is False. Raises SessionError for a missing or unreadable
    session."""
    loaded = load_session(session, data_dir, take=take)
    if not loaded.readings:
        raise SessionError(f"session {loaded.session_id} has no readings")
    check_columns(loaded.session_id, loaded.frames)
    try:
        placement = placement or guess_placement(loaded.frames)
        table = swings(loaded.frames, placement)
    except ValueError as e:
        raise SessionError(f"cannot analyse session {loaded.session_id}: {e}") from None
    except (KeyError, TypeError, IndexError, ArithmeticError) as e:  # data the detector cannot take
        log.warning("cannot analyse %s/%s", loaded.device_id, loaded.session_id, exc_info=True)
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise SessionError(f"cannot analyse session {loaded.session_id}: {reason}") from None
    found = read_marks(data_path(data_dir), loaded.device_id, loaded.session_id) if marks else []
    return apply_marks(table, found, loaded.frames, placement)


def stored_swing_count(
    data_dir: str | Path, device_id: str, session_id: str, before_ns: int
) -> int:
    """How many swings the recorded ``device_id``/``session_id`` holds before ``before_ns``
    (as its report numbers them, before the coach's marks): where a server restarted in the
    middle of the session numbers on from. 0 for a session not (yet) on disk."""
    try:
        loaded = load_session((device_id, session_id), data_dir, end_ns=before_ns)
    except SessionError:
        return 0
    if not loaded.readings or check_columns_problem(loaded.frames):
        return 0
    try:
        return len(swings(loaded.frames, guess_placement(loaded.frames)))
    except ValueError:  # too little data to guess from
        return 0


def check_columns_problem(frames: Mapping[str, pd.DataFrame]) -> str | None:
    """The first reason a sensor's readings cannot be analysed, or None."""
    for sensor, frame in frames.items():
        problem = schema_problem(sensor, frame)
        if problem:
            return problem
    return None


def check_columns(session_id: str, frames: Mapping[str, pd.DataFrame]) -> None:
    """Raise :class:`SessionError` naming the sensor if a known sensor's readings cannot be
    analysed (:func:`~hitting_coach.store.sessions.schema_problem`; an import made before
    imports checked them): the swing detector would fail on it."""
    problem = check_columns_problem(frames)
    if problem:
        raise SessionError(f"cannot analyse session {session_id}: {problem}")


#: The readable table's value columns: (swing table column, header), shown when any swing of
#: the table has that value (or a lower bound of it).
_READABLE = (
    ("pelvis_peak_dps", "pelvis"),
    ("hand_peak_dps", "hand"),
    ("peak_gap_ms", "pelvis → hand"),
    ("bat_speed_mph", "bat speed"),
    ("time_to_contact_ms", "to contact"),
)


def _readable_flags(row: Mapping[str, Any]) -> str:
    flags = swing_flags(row)
    if is_set(row.get("added_by_coach")):
        flags.insert(0, "added by coach")
    if is_set(row.get("checked")):
        flags.insert(0, "checked swing")
    stride = row.get("stride")
    if present(stride) and not bool(stride):
        flags.append("no stride")
    return ", ".join(flags) or "ok"


def swings_readable(table: pd.DataFrame) -> str:
    """The swing table as a coach reads it: one line per swing, numbered as everywhere else
    (from 1), its clock time (local), placement, the values of its placement rounded with
    their units (``≥`` for a clipped peak, ``–`` where not measured) and its flags in words;
    then a count of the swings."""
    if table.empty:
        return "no swings found\n"
    rows = table.to_dict("records")
    shown = [
        (column, header)
        for column, header in _READABLE
        if any(show_value(r, column) != MISSING for r in rows)
    ]
    head = ["#", "time", "placement", *(h for _, h in shown), "flags"]
    lines = []
    for r in rows:
        clock = datetime.fromtimestamp(int(r["start_ns"]) / 1e9).strftime("%H:%M:%S")
        values = [show_value(r, column, unit=True) for column, _ in shown]
        lines.append(
            [
                str(int(r["swing"])),
                clock,
                str(r.get("placement") or ""),
                *values,
                _readable_flags(r),
            ]
        )
    widths = [max(len(head[i]), *(len(line[i]) for line in lines)) for i in range(len(head))]
    right = {0, *range(3, 3 + len(shown))}  # numbers right-aligned, words left

    def fmt(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    counted = sum(1 for r in rows if not (is_set(r.get("practice")) or is_set(r.get("arms_only"))))
    total = plural(len(rows), "swing")
    tail = total if counted == len(rows) else f"{total}, {counted:,} counted"
    return "\n".join([fmt(head), *(printable(fmt(line)) for line in lines), tail]) + "\n"


def swings_text(table: pd.DataFrame, format: str = "table") -> str:
    """The swing table as a coach reads it (``table``: :func:`swings_readable`), or with all
    its columns as CSV (a header row, then one row per swing; empty cells where not
    measured) or JSON (a list of objects, null where not measured, times in epoch ns)."""
    if format == "table":
        return swings_readable(table)
    if format == "json":
        rows = [json_ready(r) for r in table.to_dict("records")]
        return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n"
    if format != "csv":
        raise ValueError(f"unknown format {format!r}; use table, csv or json")
    return table.to_csv(index=False)


def json_ready(row: Mapping[str, Any]) -> dict[str, Any]:
    """A swing row with plain JSON values: NaN and NA as None, numpy scalars as Python ones."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif isinstance(value, bool | np.bool_):
            out[key] = bool(value)
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            out[key] = None if math.isnan(value) else float(value)
        else:
            out[key] = str(value)
    return out


class MarkedLiveSwings:
    """The live swings of :class:`LiveSwings` with the coach's marks applied, and the marks
    made on them, stored with the device's session in ``data_dir``.

    ``session_of(device)`` gives the device's current session (None if unknown); a swing
    belongs to the session its device was in when it was first seen here. ``frames_of(device)``
    gives the readings the server still holds (sensor to DataFrame), to measure added swings.
    Thread-safe: the dashboard's sessions and the HTTP handler share one.
    """

    def __init__(
        self,
        live: LiveSwings,
        data_dir: str | Path,
        session_of: Callable[[str], str | None],
        frames_of: Callable[[str], Mapping[str, pd.DataFrame]] | None = None,
    ) -> None:
        self.live = live
        self.data_dir = Path(data_dir)
        self.session_of = session_of
        self.frames_of = frames_of
        self._lock = threading.Lock()
        self._session: dict[tuple[str, str | None, int], str | None] = {}
        self._sessions: dict[str, list[str]] = {}
        self._files: dict[tuple[str, str], tuple[tuple[int, int], list[Mark]]] = {}
        self._measured: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------------------- reading
    def _current_session(self, device: str) -> str | None:
        session = self.session_of(device)
        with self._lock:
            known = self._sessions.setdefault(device, [])
            if session is not None and session not in known:
                known.append(session)
            return session if session is not None else (known[-1] if known else None)

    def _stamped(self, device: str) -> list[dict[str, Any]]:
        """The device's live rows, each naming its ``session_id``: the live detector's when it
        knows the sessions, else the session the device was in when the row was first seen."""
        rows = self.live.rows(device)
        unseen = [r for r in rows if (device, r["session_id"], r["swing"]) not in self._session]
        session = self._current_session(device) if unseen else None
        with self._lock:
            for r in unseen:
                self._session[(device, r["session_id"], r["swing"])] = r["session_id"] or session
            return [
                {**r, "session_id": self._session[(device, r["session_id"], r["swing"])]}
                for r in rows
            ]

    def marks(self, device: str) -> list[tuple[str, Mark]]:
        """``(session, mark)`` of every session of ``device`` seen live."""
        self._current_session(device)
        named = {r["session_id"]: None for r in self.live.rows(device) if r["session_id"]}
        with self._lock:
            known = self._sessions.setdefault(device, [])
            known += [s for s in named if s not in known]
            sessions = list(known)
        out = []
        for session in sessions:
            out += [(session, m) for m in self._read(device, session)]
        return out

    def _read(self, device: str, session: str) -> list[Mark]:
        path = marks_path(self.data_dir, device, session)
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return []
        cached = self._files.get((device, session))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            marks = read_marks_file(path)
        except SessionError as e:  # a damaged file must not stop the live list
            log.error("%s", e)
            marks = []
        self._files[(device, session)] = (stamp, marks)
        return marks

    def rows(self, device: str) -> list[dict[str, Any]]:
        """The device's swings, oldest first, marks applied; each row names its ``session_id``
        and has its number in that session (``swing``, from 1): an added swing gets, by time,
        the next numbers of its session after the last detected one (as its report does)."""
        rows = self._stamped(device)
        marked = self.marks(device)
        session_of_mark = {m.mark_id: session for session, m in marked}
        out = correct_rows(rows, [m for _, m in marked], lambda m: self._measure(device, m))
        last: dict[str | None, int] = {}
        for r in rows:
            last[r["session_id"]] = max(last.get(r["session_id"], 0), r["swing"])
        for r in out:
            if r["added_by_coach"]:
                session = session_of_mark.get(r["mark_id"])
                last[session] = r["swing"] = last.get(session, 0) + 1
                r["session_id"] = session
        return out

    def revision(self, device: str) -> tuple[int, tuple[str, ...]]:
        """Changes whenever the device's list does (a new swing, a mark made or removed)."""
        return self.live.count(device), tuple(m.mark_id for _, m in self.marks(device))

    def count(self, device: str) -> int:
        return self.live.count(device)

    def now_ns(self, device: str) -> int | None:
        """The newest reading time of ``device`` the server holds (the device's clock)."""
        frames = self.frames_of(device) if self.frames_of is not None else {}
        span = _span(frames)
        return None if span is None else span[1]

    def held_ns(self, device: str) -> tuple[int, int] | None:
        """``(oldest, newest)`` reading time of ``device`` the server still holds."""
        return _span(self.frames_of(device)) if self.frames_of is not None else None

    def _measure(self, device: str, mark: Mark) -> dict[str, Any] | None:
        if mark.mark_id in self._measured:
            found = self._measured[mark.mark_id]
            return None if found is None else dict(found)
        if self.frames_of is None:
            return None
        frames = self.frames_of(device)
        span = _span(frames)
        row = None
        if span is not None and span[0] <= mark.time_ns:
            rows = self.live.rows(device)
            placement = rows[-1]["placement"] if rows else None
            measured = measure_at(frames, mark.time_ns, placement)
            row = None if measured is None else measured.as_dict()
        complete = row is not None and span is not None and span[1] > row["end_ns"] + _POST_NS
        if complete or time.time_ns() - mark.created_ns > _SETTLE_NS:  # no more data will come
            self._measured[mark.mark_id] = row
        return row

    # ---------------------------------------------------------------------------- marking
    def mark_not_swing(
        self, device: str, number: int, note: str = "", session: str | None = None
    ) -> Mark:
        """Mark live swing ``number`` of ``device`` "not a swing": of ``session``, or of the
        latest session with such a swing. Raises SessionError if there is no such swing,
        RecordingError if the mark cannot be saved."""
        rows = [r for r in self._stamped(device) if r["swing"] == number]
        row = next((r for r in reversed(rows) if session in (None, r["session_id"])), None)
        if row is None:
            raise SessionError(f"no swing #{number} on {device}")
        session = row["session_id"] or self._current_session(device)
        if session is None:
            raise SessionError(f"no recorded session of {device} to keep the mark with")
        mark = new_mark("not_swing", swing_time_ns(row), note, source="dashboard")
        return save_mark(self.data_dir, device, session, mark)

    def add_swing(self, device: str, time_ns: int, note: str = "") -> Mark:
        """Add a swing the detector missed on ``device`` at ``time_ns`` (reading time)."""
        session = self._current_session(device)
        if session is None:
            raise SessionError(f"nothing recorded from {device} yet: no session to add it to")
        mark = new_mark("add_swing", time_ns, note, source="dashboard")
        return save_mark(self.data_dir, device, session, mark)

    def unmark(self, device: str, mark_id: str) -> Mark:
        """Remove a mark made on ``device`` (e.g. an undo)."""
        for session, mark in self.marks(device):
            if mark.mark_id == mark_id:
                return remove_mark(self.data_dir, device, session, mark_id)
        raise SessionError(f"no mark {mark_id!r} on {device}")
