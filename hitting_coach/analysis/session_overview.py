"""What the sessions page shows of each session: player, date, duration, takes, swings, and
the median of the headline numbers (for a player's trend across sessions).

Counting swings means loading and analysing a session, so each session's swing summary is
cached on disk beside its other derived files, under a name carrying the session's last
reading time and reading count: a session that grows is analysed again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hitting_coach.analysis.corrections import session_swings
from hitting_coach.analysis.report_data import headline_metrics
from hitting_coach.errors import SessionError
from hitting_coach.store.players import display_name, read_players
from hitting_coach.store.session_admin import derived_dir, read_derived_json, write_derived_json
from hitting_coach.store.sessions import list_sessions, list_takes

__all__ = ["HEADLINES", "SessionRow", "player_trend", "session_rows", "swing_summary"]

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

    @property
    def key(self) -> tuple[str, str]:
        return self.device_id, self.session_id


def _summary_path(data_dir: Path, device: str, session: str, end_ns: int, readings: int) -> Path:
    return derived_dir(data_dir, device, session) / f"swings-{end_ns}-{readings}.json"


def swing_summary(data_dir: Path, device: str, session: str, end_ns: int, readings: int) -> dict:
    """``{"swings": n, "medians": {column: value}, "problem": ""}`` of a
    session, from the cache or computed (and cached). A session that cannot be analysed
    gives ``swings`` None and the reason in ``problem``."""
    path = _summary_path(data_dir, device, session, end_ns, readings)
    cached = read_derived_json(path)
    if cached is not None:
        return cached
    try:
        table = session_swings((device, session), data_dir)
    except SessionError as e:
        return {"swings": None, "medians": {}, "problem": _problem(str(e), session)}
    except Exception as e:  # one bad session is one bad row, never the whole page
        log.exception("cannot analyse %s/%s", device, session)
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        return {"swings": None, "medians": {}, "problem": _problem(reason, session)}
    medians: dict[str, float] = {}
    for column in HEADLINES:
        if column in table.columns:
            values = pd.to_numeric(table[column], errors="coerce").dropna()
            if len(values):
                medians[column] = float(values.median())
    doc = {"swings": len(table), "medians": medians, "problem": ""}
    write_derived_json(path, doc)
    return doc


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
        rows.append(row)
    rows.reverse()
    return rows


def player_trend(rows: list[SessionRow], player: str) -> pd.DataFrame:
    """One row per session of ``player`` (a name or device id as :class:`SessionRow.player`
    shows it), oldest first: ``start``, ``session``, ``swings`` and the per-session median of
    each headline number measured in them (columns named as in the swing table)."""
    mine = [r for r in rows if r.player == player and r.swings]
    mine.sort(key=lambda r: r.end_ns)
    records = []
    for r in mine:
        record = {"start": r.start, "session": r.name or r.session_id, "swings": r.swings}
        record.update({c: v for c, v in r.medians.items() if c in HEADLINES and math.isfinite(v)})
        records.append(record)
    return pd.DataFrame(records)
