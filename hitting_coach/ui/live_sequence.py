"""The live page's kinematic-sequence plot: the last swing's angular speed, pelvis then hand
(or the bat), in °/s over the swing's window, from the readings the hub still holds.

It is redrawn once per new swing (a few hundred points), never per tick.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, Span
from bokeh.plotting import figure

from hitting_coach.analysis.swing_metrics import angular_speed_dps
from hitting_coach.ingest.hub import Hub
from hitting_coach.sensors import GYROSCOPE, WRIST_MOTION, detector_sensors

__all__ = ["SequencePlot"]

#: segment -> (sensor, its angular-velocity columns in rad/s, line colour)
_SEGMENTS = {
    "pelvis": (GYROSCOPE, detector_sensors()[GYROSCOPE].columns, "#1f77b4"),
    "hand": (WRIST_MOTION, detector_sensors()[WRIST_MOTION].columns, "#d62728"),
    "bat": (GYROSCOPE, detector_sensors()[GYROSCOPE].columns, "#2ca02c"),
}
_PAD_NS = 200_000_000  # shown before the swing's start and after its end


def segments_for(placement: str) -> list[str]:
    """The segments measured for a placement (``pelvis+wrist``: pelvis, then hand)."""
    if placement == "bat":
        return ["bat"]
    return [s for s in ("pelvis", "hand") if s in placement.replace("wrist", "hand")]


def _empty() -> dict[str, np.ndarray]:
    return {"t": np.empty(0), "w": np.empty(0)}


class SequencePlot:
    """|ω| in °/s of each segment of the newest swing, time in ms from the swing's start.
    Models are named for tests: ``sequence-figure``, ``sequence-<segment>-source``,
    ``sequence-<segment>-peak`` (a vertical line at the segment's peak)."""

    def __init__(self) -> None:
        self.figure = figure(
            name="sequence-figure",
            title="Last swing: no swing yet",
            height=260,
            sizing_mode="stretch_width",
            min_width=0,
            min_border_right=24,
            x_axis_label="ms from the swing's start",
            y_axis_label="|ω| (°/s)",
            tools="save",
            toolbar_location=None,
            output_backend="canvas",
            visible=False,  # until there is a swing to show
        )
        self.sources: dict[str, ColumnDataSource] = {}
        self.peaks: dict[str, Span] = {}
        for segment, (_, _, color) in _SEGMENTS.items():
            source = ColumnDataSource(_empty(), name=f"sequence-{segment}-source")
            self.figure.line(
                "t", "w", source=source, color=color, line_width=3, legend_label=segment
            )
            self.figure.legend.items[-1].visible = False  # shown once the segment is drawn
            peak = Span(
                name=f"sequence-{segment}-peak",
                dimension="height",
                location=0,
                visible=False,
                line_color=color,
                line_dash="dashed",
                line_width=2,
            )
            self.figure.add_layout(peak)
            self.sources[segment], self.peaks[segment] = source, peak
        self.figure.legend.location = "top_left"
        self.figure.legend.orientation = "horizontal"
        self._shown: Any = None

    def forget(self) -> None:
        """Send the next :meth:`show` whole, as if nothing were drawn (for a browser that
        missed what was sent)."""
        self._shown = ()
        self.figure.visible = False
        for segment in self.sources:
            self.sources[segment].data = _empty()

    def show(self, hub: Hub, device: str | None, row: dict[str, Any] | None) -> None:
        """Draw ``row``'s swing (None: clear the plot) from ``device``'s readings in ``hub``."""
        key = None if row is None else (device, row.get("start_ns"), row.get("end_ns"))
        if key == self._shown:
            return
        self._shown = key
        drawn = segments_for(str(row.get("placement") or "")) if row is not None else []
        for item, (segment, (sensor, columns, _)) in zip(
            self.figure.legend.items, _SEGMENTS.items(), strict=True
        ):
            data, peak = _empty(), None
            if segment in drawn and device is not None:
                data, peak = self._trace(hub, device, sensor, columns, row)
                peak = _peak_ms(row, segment, peak)
            self.sources[segment].data = data
            item.visible = len(data["t"]) > 0
            if peak is None:
                self.peaks[segment].visible = False
            else:
                self.peaks[segment].update(location=peak, visible=True)
        self.figure.title.text = _title(row)
        self.figure.visible = row is not None

    @staticmethod
    def _trace(
        hub: Hub, device: str, sensor: str, columns: tuple[str, ...], row: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], float | None]:
        start, end = int(row["start_ns"]), int(row["end_ns"])
        frame = hub.frame(device, sensor)
        if frame.empty or not set(columns) <= set(frame.columns):
            return _empty(), None
        time_ns = frame["time_ns"].to_numpy(np.int64)
        inside = (time_ns >= start - _PAD_NS) & (time_ns <= end + _PAD_NS)
        if not inside.any():
            return _empty(), None
        omega = angular_speed_dps(frame.loc[inside, list(columns)].to_numpy(float))
        t_ms = (time_ns[inside] - start) / 1e6
        in_swing = (t_ms >= 0) & (t_ms <= (end - start) / 1e6)
        peak = float(t_ms[in_swing][np.argmax(omega[in_swing])]) if in_swing.any() else None
        return {"t": t_ms, "w": omega}, peak


def _peak_ms(row: dict[str, Any], segment: str, fallback: float | None) -> float | None:
    """The segment's peak as measured for the swing's numbers, in ms from its start."""
    peak_ns = row.get(f"{segment}_peak_ns")
    if peak_ns is None or (isinstance(peak_ns, float) and math.isnan(peak_ns)):
        return fallback
    return (peak_ns - row["start_ns"]) / 1e6


def _title(row: dict[str, Any] | None) -> str:
    """Short enough for a phone's 390 px: ``Swing #3: pelvis → hand, 66 ms apart``."""
    if row is None:
        return "Last swing: no swing yet"
    number = f"{'Added swing' if row.get('added_by_coach') else 'Swing'} #{row['swing']}"
    gap = row.get("peak_gap_ms")
    if gap is None or (isinstance(gap, float) and math.isnan(gap)):
        return f"{number}: angular speed"
    order = "pelvis → hand" if row.get("sequence_ok") else "hand first"
    return f"{number}: {order}, {abs(gap):.0f} ms apart"
