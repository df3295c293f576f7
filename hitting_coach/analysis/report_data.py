"""What a session report shows: the session, its swings and the tables derived from them.

:class:`ReportData` is what the report notebook's cells show. It imports no plotting library,
so it runs headless; :mod:`hitting_coach.ui.report_plots` draws it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.analysis.corrections import apply_marks
from hitting_coach.analysis.swings import (
    angular_speed_dps,
    guess_placement,
    swing_traces,
    swings,
)
from hitting_coach.errors import SessionError
from hitting_coach.sensors import ACCELEROMETER, GYROSCOPE, WRIST_MOTION
from hitting_coach.store.marks import Mark, read_marks
from hitting_coach.store.players import read_players
from hitting_coach.store.sessions import Session, data_path, load_session
from hitting_coach.values import MISSING, plural, rate_hz, show_value

__all__ = ["ReportData", "format_metric", "headline_metrics"]

_HEADLINES: dict[str, list[tuple[str, str, str]]] = {
    "pelvis": [("pelvis_peak_dps", "peak pelvis speed", "°/s")],
    "wrist": [("hand_peak_dps", "peak hand speed", "°/s")],
    "pelvis+wrist": [
        ("pelvis_peak_dps", "peak pelvis speed", "°/s"),
        ("hand_peak_dps", "peak hand speed", "°/s"),
        ("peak_gap_ms", "pelvis-to-hand gap", "ms"),
    ],
    "bat": [
        ("bat_speed_mph", "bat speed", "mph"),
        ("time_to_contact_ms", "time to contact", "ms"),
        ("rot_accel_g", "rotational acceleration", "g"),
    ],
}
_SEGMENTS = {
    "pelvis": [("pelvis", GYROSCOPE)],
    "wrist": [("hand", WRIST_MOTION)],
    "pelvis+wrist": [("pelvis", GYROSCOPE), ("hand", WRIST_MOTION)],
    "bat": [("bat", GYROSCOPE)],
}
_TABLE_COLUMNS = {
    "pelvis": ["pelvis_peak_dps", "pelvis_peak_after_fp_ms", "foot_plant_g"],
    "wrist": ["hand_peak_dps"],
    "pelvis+wrist": [
        "pelvis_peak_dps",
        "hand_peak_dps",
        "pelvis_peak_after_fp_ms",
        "hand_peak_after_fp_ms",
        "peak_gap_ms",
        "speed_gain",
        "sequence_ok",
    ],
    "bat": ["bat_speed_mph", "bat_peak_dps", "time_to_contact_ms", "rot_accel_g", "impact_found"],
}
#: What the report's swing table calls a column of the swing table, and how it writes a value
#: (a format for numbers; ``None`` for a yes/no flag).
_COLUMN_LABELS: dict[str, tuple[str, str | None]] = {
    "pelvis_peak_dps": ("Peak pelvis speed (°/s)", "{:.0f}"),
    "hand_peak_dps": ("Peak hand speed (°/s)", "{:.0f}"),
    "bat_peak_dps": ("Peak bat speed (°/s)", "{:.0f}"),
    "pelvis_peak_after_fp_ms": ("Pelvis peak after foot plant (ms)", "{:.0f}"),
    "hand_peak_after_fp_ms": ("Hand peak after foot plant (ms)", "{:.0f}"),
    "foot_plant_g": ("Foot plant (g)", "{:.1f}"),
    "peak_gap_ms": ("Pelvis-to-hand gap (ms)", "{:.0f}"),
    "speed_gain": ("Speed gain (hand ÷ pelvis)", "{:.2f}"),
    "sequence_ok": ("Sequence OK", None),
    "bat_speed_mph": ("Bat speed (mph)", "{:.1f}"),
    "time_to_contact_ms": ("Time to contact (ms)", "{:.0f}"),
    "rot_accel_g": ("Rotational acceleration (g)", "{:.1f}"),
    "impact_found": ("Contact found", None),
}
_MISSING = MISSING
_EVENT_COLUMNS = {
    "foot_plant_ns": "foot plant",
    "pelvis_peak_ns": "pelvis peak",
    "hand_peak_ns": "hand peak",
    "downswing_start_ns": "downswing start",
    "bat_peak_ns": "bat peak",
    "impact_ns": "impact",
}


def headline_metrics(placement: str) -> list[tuple[str, str, str]]:
    """The two or three numbers a report leads with: ``(column, label, unit)``."""
    return list(_HEADLINES.get(placement, []))


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _flag(value: Any) -> bool:
    return not _missing(value) and bool(value)


def format_metric(row: dict[str, Any], column: str, fmt: str | None = None) -> str:
    """One metric of a swing as text (:func:`hitting_coach.values.show_value`): the value,
    ``≥value`` when its sensor clipped (only a lower bound is known), ``–`` when not measured.
    ``fmt`` is ignored: every column has one format, the same on every page."""
    return show_value(row, column)


@dataclass
class ReportData:
    """A session and its swings, ready to show. Build with :meth:`load` or :meth:`from_session`.

    ``table`` is :func:`hitting_coach.analysis.swings.swings` of the session, ``traces`` its
    :func:`~hitting_coach.analysis.swings.swing_traces`. Times are epoch ns unless a name says otherwise.
    """

    session: Session
    placement: str
    table: pd.DataFrame
    traces: pd.DataFrame
    placement_guessed: bool = False
    take: str | None = None
    marks: list[Mark] = field(default_factory=list)
    player: str = ""  # the device's player name (store.players), shown instead of its id
    _omega: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        session: Any = "latest",
        data_dir: str | Path | None = None,
        *,
        take: str | None = None,
        placement: str | None = None,
    ) -> ReportData:
        """Load a recorded session (any reference :func:`load_session` takes) and find its
        swings, the coach's marks applied. Raises :class:`SessionError` for a missing or
        empty session."""
        loaded = load_session(session, data_dir, take=take)
        marks = read_marks(data_path(data_dir), loaded.device_id, loaded.session_id)
        data = cls.from_session(loaded, placement=placement, take=take, marks=marks)
        data.player = read_players(data_path(data_dir)).get(loaded.device_id, "")
        return data

    @classmethod
    def from_session(
        cls,
        session: Session,
        *,
        placement: str | None = None,
        take: str | None = None,
        marks: list[Mark] | tuple[Mark, ...] = (),
    ) -> ReportData:
        """Analyse an already loaded session (or a simulated one wrapped in a Session).
        ``marks`` (:mod:`hitting_coach.store.marks`): swings marked "not a swing" are left
        out, swings the coach added are measured and flagged ``added_by_coach``."""
        if not session.readings:
            raise SessionError(f"session {session.session_id} has no readings")
        guessed = placement is None
        try:
            placement = placement or guess_placement(session.frames)
            table = swings(session.frames, placement)
            table = apply_marks(table, marks, session.frames, placement) if marks else table
        except ValueError as e:
            raise SessionError(f"cannot analyse session {session.session_id}: {e}") from None
        traces = swing_traces(session.frames, table)
        return cls(session, placement, table, traces, guessed, take, marks=list(marks))

    # ------------------------------------------------------------------------ facts
    @property
    def start_ns(self) -> int:
        return int(self.session.start_ns or 0)

    @property
    def duration_s(self) -> float:
        end = self.session.end_ns
        return 0.0 if end is None else (end - self.start_ns) / 1e9

    @property
    def start_text(self) -> str:
        return datetime.fromtimestamp(self.start_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M")

    @property
    def placement_text(self) -> str:
        return f"placement: {self.placement}" + (" (guessed)" if self.placement_guessed else "")

    @property
    def title(self) -> str:
        s = self.session
        name = s.name or s.session_id
        take = f", take {self.take}" if self.take else ""
        return f"{name} ({self.player or s.device_id}{take})"

    @property
    def rates_hz(self) -> dict[str, float]:
        rates = {}
        for sensor, frame in self.session.frames.items():
            rate = rate_hz(frame["time_ns"].to_numpy(np.int64))  # the median interval's
            if rate is not None:
                rates[sensor] = rate
        return rates

    def sensors_table(self) -> pd.DataFrame:
        """One row per sensor, as a reader sees it: readings, first and last reading (s from
        the start), rate, columns."""
        rows = []
        for sensor, frame in self.session.frames.items():
            t = frame["time_ns"].to_numpy(np.int64)
            rate = self.rates_hz.get(sensor)
            rows.append(
                {
                    "Sensor": sensor,
                    "Readings": f"{len(t):,}",
                    "First (s)": f"{(t[0] - self.start_ns) / 1e9:.2f}" if len(t) else _MISSING,
                    "Last (s)": f"{(t[-1] - self.start_ns) / 1e9:.2f}" if len(t) else _MISSING,
                    "Rate (Hz)": _MISSING if rate is None else f"{rate:.1f}",
                    "Columns": ", ".join(c for c in frame.columns if c != "time_ns"),
                }
            )
        return pd.DataFrame(rows)

    def segments(self) -> list[tuple[str, str]]:
        """``(segment, sensor)`` pairs measured for this placement and present in the data."""
        return [(g, s) for g, s in _SEGMENTS.get(self.placement, []) if s in self.session]

    def angular_speed(self, sensor: str) -> tuple[np.ndarray, np.ndarray]:
        """``(time_ns, |ω| in °/s)`` of a gyroscope or wrist motion stream."""
        if sensor not in self._omega:
            frame = self.session[sensor]
            cols = (
                ["x", "y", "z"]
                if sensor != WRIST_MOTION
                else [
                    "rotationRateX",
                    "rotationRateY",
                    "rotationRateZ",
                ]
            )
            self._omega[sensor] = (
                frame["time_ns"].to_numpy(np.int64),
                angular_speed_dps(frame[cols].to_numpy(float)),
            )
        return self._omega[sensor]

    def windows(self) -> list[tuple[int, int]]:
        return [
            (int(a), int(b))
            for a, b in zip(self.table["start_ns"], self.table["end_ns"], strict=True)
        ]

    def peak_points(self) -> pd.DataFrame:
        """Per swing: time (s from start) and |ω| of the leading segment's peak, a label."""
        lead = self.segments()[-1][0] if self.segments() else "pelvis"
        rows = []
        for sw in self.table.itertuples(index=False):
            peak_ns = getattr(sw, f"{lead}_peak_ns")
            value = getattr(sw, f"{lead}_peak_measured_dps")
            if pd.isna(peak_ns):
                peak_ns, value = sw.start_ns, 0.0
            rows.append(
                {
                    "Time (s)": (int(peak_ns) - self.start_ns) / 1e9,
                    "|ω| (°/s)": float(value),
                    "swing": int(sw.swing),
                    "metric": self.swing_summary_text(sw._asdict()),
                }
            )
        return pd.DataFrame(rows, columns=["Time (s)", "|ω| (°/s)", "swing", "metric"])

    def quality_flags(self) -> list[str]:
        """Plain sentences for what lowers trust in the numbers (clipping, gaps, low rate)."""
        flags = []
        t = self.table
        for seg in ("pelvis", "hand", "bat"):
            clipped = t[f"{seg}_clipped"].fillna(False).astype(bool).sum() if len(t) else 0
            if clipped:
                flags.append(f"{seg} clipped in {plural(int(clipped), 'swing')}")
            gaps = t[f"{seg}_gap"].fillna(False).astype(bool).sum() if len(t) else 0
            if gaps:
                flags.append(f"sampling gap near the {seg} peak in {plural(int(gaps), 'swing')}")
        for sensor, rate in self.rates_hz.items():
            if sensor in (GYROSCOPE, ACCELEROMETER, WRIST_MOTION) and rate < 90:
                flags.append(f"{sensor} at {rate:.0f} Hz: peaks may be missed (100+ Hz advised)")
        added = int(t["added_by_coach"].fillna(False).sum()) if "added_by_coach" in t else 0
        dropped = sum(m.kind == "not_swing" for m in self.marks)
        if added or dropped:
            flags.append(
                f"coach's marks: {plural(dropped, 'detection')} marked not a swing, "
                f"{plural(added, 'swing')} "
                "added by the coach"
            )
        return flags

    def display_table(self) -> pd.DataFrame:
        """The swing table as a reader sees it: plain column names with units, swings numbered
        from 1, times in s from the start, every value as text (``≥ value`` for a clipped
        peak, ``yes``/``no`` for flags, ``–`` when not measured), quality notes last."""
        t = self.table
        if t.empty:
            return pd.DataFrame()
        rows = []
        for row in t.to_dict("records"):
            shown = {
                "Swing": int(row["swing"]),
                "Time (s)": f"{(int(row['start_ns']) - self.start_ns) / 1e9:.1f}",
                "Duration (ms)": format_metric(row, "duration_ms"),
            }
            for column in _TABLE_COLUMNS.get(self.placement, []):
                label, fmt = _COLUMN_LABELS[column]
                if fmt is None:
                    value = row.get(column)
                    shown[label] = _MISSING if _missing(value) else ("yes" if value else "no")
                else:
                    shown[label] = format_metric(row, column, fmt)
            notes = [
                f"{seg} {kind}"
                for seg in ("pelvis", "hand", "bat")
                for kind in ("clipped", "gap")
                if _flag(row.get(f"{seg}_{kind}"))
            ]
            notes += ["added by coach"] if _flag(row.get("added_by_coach")) else []
            shown["Quality"] = ", ".join(notes) or "ok"
            rows.append(shown)
        return pd.DataFrame(rows)

    def events(self) -> pd.DataFrame:
        """Long table of marked events: ``swing`` (numbered from 1, as the reader sees it),
        ``event``, ``t_ms`` (on the traces' axis)."""
        rows = []
        for sw in self.table.itertuples(index=False):
            ref = sw.foot_plant_ns if not pd.isna(sw.foot_plant_ns) else sw.start_ns
            for column, label in _EVENT_COLUMNS.items():
                value = getattr(sw, column)
                if not pd.isna(value):
                    rows.append(
                        {
                            "swing": int(sw.swing),
                            "event": label,
                            "t_ms": (value - ref) / 1e6,
                        }
                    )
        return pd.DataFrame(rows, columns=["swing", "event", "t_ms"])

    @property
    def trace_axis_label(self) -> str:
        if len(self.table) and self.table["foot_plant_ns"].notna().any():
            return "ms from foot plant (from the swing start without one)"
        return "ms from the swing start"

    def swing_summary_text(self, row: dict[str, Any]) -> str:
        """One line of a swing's headline numbers, e.g. ``peak pelvis speed 712 °/s, peak hand
        speed ≥ 2000 °/s`` (``≥``: the sensor clipped, so only a lower bound is known)."""
        parts = []
        for column, label, unit in headline_metrics(self.placement):
            shown = format_metric(row, column)
            if shown != _MISSING:
                parts.append(f"{label} {shown} {unit}")
        return ", ".join(parts) or "no metrics"

    def swing_summaries(self) -> dict[str, str]:
        """HTML line per swing for the sequence viewer, keyed by the swing's number (from 1)
        as text."""
        out = {}
        for row in self.table.to_dict("records"):
            at = (int(row["start_ns"]) - self.start_ns) / 1e9
            text = html.escape(self.swing_summary_text(row))
            number = int(row["swing"])
            out[str(number)] = f"<b>Swing {number}</b> at {at:.1f} s: {text}"
        return out
