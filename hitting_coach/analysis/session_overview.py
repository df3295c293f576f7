"""What the sessions page shows of each session: player, date, duration, takes, swings, and
the median of the headline numbers (for a player's trend across sessions).

Counting swings means loading and analysing a session, so each session's swing summary is
cached on disk beside its other derived files (and in memory), under a name carrying the
session's last reading time, reading count and its marks' stamp: a session that grows, or
whose marks change, is analysed again; one being recorded at most every
:data:`LIVE_SUMMARY_S`. The page lists one page of sessions at a time from the index
(:func:`sessions_page`), so its cost does not grow with the sessions on disk.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hitting_coach.analysis.corrections import session_swings
from hitting_coach.analysis.report_data import headline_metrics
from hitting_coach.analysis.swing_metrics import counted_swings
from hitting_coach.errors import SessionError
from hitting_coach.store.layout import read_meta, session_dir
from hitting_coach.store.marks import marks_stamp
from hitting_coach.store.players import display_name, read_players
from hitting_coach.store.session_admin import derived_dir, read_derived_json, write_derived_json
from hitting_coach.store.sessions import indexed_summaries, list_sessions, list_takes
from hitting_coach.store.takes import read_takes
from hitting_coach.store.video import has_video, swing_clips
from hitting_coach.values import present, show_value

__all__ = [
    "HEADLINES",
    "SessionRow",
    "SessionListing",
    "device_trend_rows",
    "forget_summary",
    "player_trend",
    "session_rows",
    "sessions_page",
    "swing_summary",
]

log = logging.getLogger(__name__)

#: Every headline number of any placement: ``{column: (label, unit)}``.
HEADLINES: dict[str, tuple[str, str]] = {
    column: (label, unit)
    for placement in ("pelvis+wrist", "pelvis", "wrist", "bat")
    for column, label, unit in headline_metrics(placement)
}


@dataclass
class SessionRow:
    """One session as the sessions page lists it. ``swings`` is None until counted (or when
    the session cannot be analysed: ``problem`` says why)."""

    device_id: str
    session_id: str
    name: str
    player: str
    start: pd.Timestamp
    duration_s: float
    readings: int
    end_ns: int
    takes: list[dict] = field(default_factory=list)
    swings: int | None = None
    medians: dict[str, float] = field(default_factory=dict)
    problem: str = ""
    #: Swings listed but not counted (practice, arms only), and those judged by speed alone.
    not_counted: int = 0
    speed_only: int = 0
    #: The summary is of the session as it was a little while ago (it is being recorded).
    so_far: bool = False
    #: Each counted swing's headline values (``{column: [value, ...]}``).
    values: dict[str, list[float]] = field(default_factory=dict)
    #: A session with video: each swing (marked "not a swing" ones left out) with its clip
    #: (:func:`~hitting_coach.store.video.swing_clips`) and ``numbers`` (``[label, text]``
    #: of its headline numbers); empty for a session without video (nothing is computed).
    clips: list[dict] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.device_id, self.session_id


#: A session still growing (recorded right now) keeps the summary last made for it, in memory,
#: this long (after that, the one on disk).
LIVE_SUMMARY_S = 120.0
#: A session being recorded with more readings than this is not analysed on a page open (an
#: hour at 50 Hz: 360,000 readings, seconds of CPU that would stall the phone's POSTs).
LIVE_ANALYSE_MAX_READINGS = 100_000
_memo_lock = threading.Lock()
#: The last summary made per session: ``{(data_dir, device, session): (key, made, doc)}``.
_memo: dict[tuple[str, str, str], tuple[tuple[int, int, int], float, dict]] = {}


def _summary_path(data_dir: Path, device: str, session: str, key: tuple[int, int, int]) -> Path:
    end_ns, readings, marks = key
    # v3: swings, medians and values of the counted swings (practice and arms-only rows apart)
    return derived_dir(data_dir, device, session) / f"swings-v3-{end_ns}-{readings}-m{marks}.json"


def swing_summary(
    data_dir: Path,
    device: str,
    session: str,
    end_ns: int,
    readings: int,
    *,
    growing: bool = False,
    swing_rows: bool = False,
) -> dict:
    """``{"swings": n, "medians": {column: value}, "problem": "", "not_counted": n,
    "speed_only": n}`` (swings and medians of the counted swings) of a
    session, from the cache or computed (and cached). A session that cannot be analysed
    gives ``swings`` None and ``problem`` "cannot analyse: reason".

    The cache holds until the session's readings (``end_ns``, ``readings``) or its marks
    change. A ``growing`` session (being recorded) reuses the summary last made for it with
    the same marks for :data:`LIVE_SUMMARY_S` (``"so_far": true``); one of more than
    :data:`LIVE_ANALYSE_MAX_READINGS` is not analysed at all while it grows (counting a live
    hour took seconds of CPU, stalling the phone's POSTs): it shows the summary last made for
    it, or none yet (``swings`` None, ``"recording": true``), and is counted once it stops."""
    data_dir = Path(data_dir)
    key = (int(end_ns), int(readings), marks_stamp(data_dir, device, session))
    memo_key = (str(data_dir), device, session)
    now = time.monotonic()
    with _memo_lock:
        memo = _memo.get(memo_key)
    if memo is not None and (not swing_rows or "swing_rows" in memo[2]):
        if memo[0] == key:
            return memo[2]
        if growing and memo[0][2] == key[2] and now - memo[1] < LIVE_SUMMARY_S:
            return {**memo[2], "so_far": True}
    path = _summary_path(data_dir, device, session, key)
    doc = read_derived_json(path)
    if doc is not None and swing_rows and "swing_rows" not in doc:
        doc = None  # made before the session had video: made again, with its swings
    if doc is None and growing and readings > LIVE_ANALYSE_MAX_READINGS:
        # Being recorded: counting it (seconds of CPU for an hour) would stall the phone's
        # POSTs. The last summary on disk, if any, says how it was; else it is counted later.
        older = sorted(path.parent.glob(f"swings-*-m{key[2]}.json"), key=_mtime)
        found = read_derived_json(older[-1]) if older else None
        if found is not None:
            return {**found, "so_far": True}
        return {"swings": None, "medians": {}, "problem": "", "recording": True}
    if doc is None:
        doc = _summarise(data_dir, device, session, swing_rows=swing_rows)
        if doc["swings"] is not None:
            _prune_summaries(path)
            write_derived_json(path, doc)
    with _memo_lock:
        _memo[memo_key] = (key, now, doc)
    return doc


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def forget_summary(data_dir: Path, device: str, session: str) -> None:
    """Drop the remembered summary of a session (deleted, or its marks changed)."""
    with _memo_lock:
        _memo.pop((str(Path(data_dir)), device, session), None)


def _prune_summaries(keep: Path) -> None:
    for old in keep.parent.glob("swings-*.json"):
        if old != keep:
            old.unlink(missing_ok=True)


def _swing_row(row: dict) -> dict:
    """What a swing's clip is shown with: its number, peak times (the clip's centre and
    marks) and headline numbers as text (:func:`~hitting_coach.values.show_value`)."""
    out: dict = {"swing": int(row["swing"])}
    for key in ("hand_peak_ns", "pelvis_peak_ns", "bat_peak_ns"):
        value = row.get(key)
        out[key] = int(value) if present(value) else None
    out["numbers"] = [
        [label, show_value(row, column, unit=True)]
        for column, label, _ in headline_metrics(str(row.get("placement") or ""))
    ]
    return out


def _summarise(data_dir: Path, device: str, session: str, *, swing_rows: bool = False) -> dict:
    try:
        table = session_swings((device, session), data_dir)
    except SessionError as e:
        return {"swings": None, "medians": {}, "problem": _problem(str(e), session)}
    except Exception as e:  # one bad session is one bad row, never the whole page
        log.exception("cannot analyse %s/%s", device, session)
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        return {"swings": None, "medians": {}, "problem": _problem(reason, session)}
    counted = counted_swings(table)  # practice swings and arms-only motions are not counted
    medians: dict[str, float] = {}
    every: dict[str, list[float]] = {}
    for column in HEADLINES:
        if column in counted.columns:
            values = pd.to_numeric(counted[column], errors="coerce").dropna()
            values = values[values.map(math.isfinite)]
            if len(values):
                medians[column] = float(values.median())
                every[column] = [round(float(v), 2) for v in values]
    speed_only = int(table["speed_only"].fillna(False).sum()) if "speed_only" in table else 0
    more = {}
    if swing_rows:  # the marks are applied: a swing marked "not a swing" is not in the table
        more["swing_rows"] = [
            _swing_row({**r, "swing": r.get("swing") if present(r.get("swing")) else i + 1})
            for i, r in enumerate(table.to_dict("records"))
        ]
    return {
        **more,
        "swings": len(counted),
        "medians": medians,
        "values": every,  # each counted swing's value (a player's distribution)
        "problem": "",
        "not_counted": len(table) - len(counted),
        "speed_only": speed_only,
    }


def _problem(reason: str, session: str) -> str:
    """``cannot analyse: reason`` (the session's own name is on its row already)."""
    for prefix in (f"cannot analyse session {session}: ", "cannot analyse: "):
        reason = reason.removeprefix(prefix)
    return f"cannot analyse: {reason}"


def session_rows(data_dir: Path, *, count_swings: bool = True) -> list[SessionRow]:
    """Every session, newest first, with its player's name (or device id), takes and (when
    ``count_swings``) its swing summary."""
    data_dir = Path(data_dir)
    players = read_players(data_dir)
    frame = list_sessions(data_dir)
    takes = list_takes(None, data_dir) if len(frame) else pd.DataFrame()
    rows = []
    for r in frame.itertuples():
        end_ns = 0 if pd.isna(r.end) else int(r.end.value)
        row = SessionRow(
            device_id=r.device_id,
            session_id=r.session_id,
            name=r.name,
            player=display_name(r.device_id, players),
            start=r.start,
            duration_s=float(r.duration_s),
            readings=int(r.readings),
            end_ns=end_ns,
        )
        if len(takes):
            start_ns = 0 if pd.isna(r.start) else int(r.start.value)
            for t in takes[takes["device_id"] == r.device_id].itertuples():
                mine = (
                    t.session_id == r.session_id
                    if t.session_id
                    else (t.start_ns <= end_ns and (pd.isna(t.end_ns) or t.end_ns >= start_ns))
                )
                if mine:
                    row.takes.append({"name": t.name, "start": t.start, "duration_s": t.duration_s})
        if count_swings:
            summary = swing_summary(data_dir, r.device_id, r.session_id, end_ns, row.readings)
            row.swings = summary["swings"]
            row.medians = summary["medians"]
            row.problem = summary["problem"]
            row.not_counted = summary.get("not_counted", 0)
            row.speed_only = summary.get("speed_only", 0)
        rows.append(row)
    rows.reverse()
    return rows


@dataclass
class SessionListing:
    """One page of the sessions list: its rows (newest first), how many sessions there are
    (of the chosen device, or all), and every device with a session (for the picker)."""

    rows: list[SessionRow]
    total: int
    page: int
    per_page: int
    devices: list[str]


def sessions_page(
    data_dir: Path,
    page: int = 0,
    per_page: int = 20,
    *,
    device: str | None = None,
    growing: Callable[[str, str], bool] = lambda device, session: False,
    count_swings: bool = True,
) -> SessionListing:
    """Page ``page`` (0: the newest) of the sessions, ``per_page`` of them, optionally only
    ``device``'s. Listed from the index (no walk of the session folders); only the rows of
    the page are named, matched with takes and (``count_swings``) summarised, each summary
    cached (:func:`swing_summary`; ``growing(device, session)``: being recorded)."""
    data_dir = Path(data_dir)
    summaries = indexed_summaries(data_dir)
    devices = sorted({s.device_id for s in summaries})
    if device is not None:
        summaries = [s for s in summaries if s.device_id == device]
    summaries.reverse()  # newest first
    total = len(summaries)
    pages = max(1, -(-total // per_page))
    page = min(max(0, page), pages - 1)
    chosen = summaries[page * per_page : (page + 1) * per_page]
    players = read_players(data_dir)
    takes = read_takes(data_dir) if chosen else []
    rows = []
    for s in chosen:
        start, end = s.start_ns, s.end_ns
        meta = read_meta(session_dir(data_dir, s.device_id, s.session_id))
        row = SessionRow(
            device_id=s.device_id,
            session_id=s.session_id,
            name=str(meta.get("name", "")),
            player=display_name(s.device_id, players),
            start=pd.Timestamp(start, unit="ns", tz="UTC") if start else pd.NaT,
            duration_s=(end - start) / 1e9 if start and end else 0.0,
            readings=sum(st.count for st in s.sensors.values()),
            end_ns=end or 0,
        )
        for t in takes:
            if t.device_id == s.device_id and (
                t.session_id == s.session_id
                if t.session_id
                else (
                    start is not None
                    and end is not None
                    and t.start_ns <= end
                    and (t.end_ns is None or t.end_ns >= start)
                )
            ):
                row.takes.append(
                    {
                        "name": t.name,
                        "start": pd.Timestamp(t.start_ns, unit="ns", tz="UTC"),
                        "duration_s": float("nan") if t.duration_s is None else t.duration_s,
                    }
                )
        if count_swings:
            video = has_video(data_dir, s.device_id, s.session_id)
            summary = swing_summary(
                data_dir,
                s.device_id,
                s.session_id,
                row.end_ns,
                row.readings,
                growing=growing(s.device_id, s.session_id),
                swing_rows=video,
            )
            row.swings = summary["swings"]
            row.medians = summary["medians"]
            row.problem = summary["problem"]
            row.not_counted = summary.get("not_counted", 0)
            row.speed_only = summary.get("speed_only", 0)
            row.so_far = bool(summary.get("so_far"))
            row.values = summary.get("values", {})
            if video and summary.get("swing_rows"):
                clips = swing_clips(data_dir, s.device_id, summary["swing_rows"], s.session_id)
                row.clips = [
                    {**c, "numbers": r["numbers"]}
                    for c, r in zip(clips, summary["swing_rows"], strict=True)
                    if c["clip"] is not None
                ]
        rows.append(row)
    return SessionListing(rows, total, page, per_page, devices)


def device_trend_rows(
    data_dir: Path, device: str, growing: Callable[[str, str], bool] = lambda d, s: False
) -> list[SessionRow]:
    """Every session of ``device`` with its summary (for its trend), newest first."""
    everything = sessions_page(data_dir, 0, 1 << 30, device=device, growing=growing)
    return everything.rows


def player_trend(rows: list[SessionRow], device: str) -> pd.DataFrame:
    """One row per session of the player of ``device`` (a device id: players are keyed by
    their device, names are only shown), oldest first: ``start``, ``session``, ``swings`` and
    the per-session median of each headline number measured in them (columns named as in the
    swing table)."""
    mine = [r for r in rows if r.device_id == device and r.swings]
    mine.sort(key=lambda r: r.end_ns)
    records = []
    for r in mine:
        record = {"start": r.start, "session": r.name or r.session_id, "swings": r.swings}
        record.update({c: v for c, v in r.medians.items() if c in HEADLINES and math.isfinite(v)})
        records.append(record)
    return pd.DataFrame(records)
