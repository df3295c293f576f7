"""Plots of the session report (HoloViews/Bokeh, wrapped in Panel objects).

Every function returns a Panel object, never a bare HoloViews element: Panel renders its
stylesheets inline when the notebook runs ``pn.extension(inline=True)``, which is what lets
:mod:`hitting_coach.report` export one HTML file that needs no network. The numbers come from
:class:`hitting_coach.analysis.report_data.ReportData`; nothing here computes a metric.

Long signals are reduced for display by :func:`minmax_downsample` (the smallest and largest
reading of each bucket, so spikes such as a foot plant or an impact survive), and a sampling
gap breaks the line instead of being drawn across.
"""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.layouts import column as bk_column
from bokeh.models import (
    CDSView,
    ColumnDataSource,
    CustomJS,
    Div,
    GroupFilter,
    HoverTool,
    Slider,
)
from bokeh.plotting import figure

from hitting_coach.analysis.report_data import ReportData, headline_metrics, swing_number
from hitting_coach.analysis.swings import REFERENCE_SOURCE, place_against_reference, reference_table

__all__ = [
    "at_a_glance",
    "heading",
    "minmax_downsample",
    "raw_signals",
    "reference_comparison",
    "swing_sequences",
    "swing_table_view",
    "trends",
]

hv.Store.set_current_backend("bokeh")

#: Columns drawn for a sensor (default: x, y, z) and their unit.
PLOT_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "gyroscope": (("x", "y", "z"), "rad/s"),
    "accelerometer": (("x", "y", "z"), "m/s²"),
    "gravity": (("x", "y", "z"), "m/s²"),
    "wrist motion": (("rotationRateX", "rotationRateY", "rotationRateZ"), "rad/s"),
    "orientation": (("roll", "pitch", "yaw"), "rad"),
}
_AXIS_COLORS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd")
_SEGMENT_COLORS = {"pelvis": "#1f77b4", "hand": "#ff7f0e", "bat": "#2ca02c"}
_EVENT_COLORS = {
    "foot plant": "#7f7f7f",
    "pelvis peak": _SEGMENT_COLORS["pelvis"],
    "hand peak": _SEGMENT_COLORS["hand"],
    "downswing start": "#8c564b",
    "bat peak": _SEGMENT_COLORS["bat"],
    "impact": "#d62728",
}
_WIDTH = 900


# ---------------------------------------------------------------------------- reduction
def minmax_downsample(
    time_ns: np.ndarray, values: np.ndarray, buckets: int = 2000, gap_factor: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce one signal to at most ``2 * buckets`` points for display.

    ``time_ns`` (int64, sorted) and ``values`` (float, same length) in; ``(t_s, v)`` out, with
    ``t_s`` in seconds from ``time_ns[0]``. Each bucket of consecutive readings keeps its
    smallest and largest value, in time order. Where the sampling has a gap (a step over
    ``gap_factor`` times the median step), a NaN is inserted so the line breaks there.
    """
    time_ns = np.asarray(time_ns, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    n = len(time_ns)
    if n == 0:
        return np.empty(0), np.empty(0)
    steps = np.diff(time_ns)
    gaps = np.zeros(n, dtype=np.int64)
    if n > 2:
        limit = gap_factor * max(float(np.median(steps)), 1.0)
        gaps[1:] = np.cumsum(steps > limit)
    if n <= 2 * buckets:
        keep = np.arange(n)
    else:
        size = math.ceil(n / buckets)
        padded = np.full(size * math.ceil(n / size), np.nan)
        padded[:n] = values
        blocks = padded.reshape(-1, size)
        filled = np.where(np.isnan(blocks), np.inf, blocks)
        lo = np.argmin(filled, axis=1)
        hi = np.argmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=1)
        base = np.arange(len(blocks)) * size
        keep = np.unique(np.concatenate([base + lo, base + hi]))
        keep = keep[keep < n]
    t_s = (time_ns[keep] - time_ns[0]) / 1e9
    v = values[keep]
    breaks = np.flatnonzero(np.diff(gaps[keep]) > 0) + 1
    if len(breaks):
        t_s = np.insert(t_s, breaks, np.nan)
        v = np.insert(v, breaks, np.nan)
    return t_s, v


def _rel_s(data: ReportData, time_ns: Any) -> float:
    return (float(time_ns) - data.start_ns) / 1e9


# ------------------------------------------------------------------------------ glance
def heading(data: ReportData) -> pn.viewable.Viewable:
    """The report's title (session name, device, take) and one line under it. Ids and names
    come from whatever sent the data and a report is mailed around: every part is escaped
    and shown as text (a Markdown pane would pass HTML through)."""
    line = f"{data.start_text} · {data.placement_text} · {len(data.table)} swings found"
    return pn.pane.HTML(
        f"<h2>{html.escape(data.title)}</h2><p>{html.escape(line)}</p>",
        sizing_mode="stretch_width",
    )


def _card(label: str, value: str, note: str = "") -> str:
    return (
        '<div class="hc-card"><div class="hc-card-value">'
        f"{html.escape(value)}</div><div class='hc-card-label'>{html.escape(label)}</div>"
        f"<div class='hc-card-note'>{html.escape(note)}</div></div>"
    )


_CARD_CSS = """
.hc-cards {display: flex; flex-wrap: wrap; gap: 12px; font-family: sans-serif;}
.hc-card {border: 1px solid #ddd; border-radius: 8px; padding: 10px 16px; min-width: 150px;}
.hc-card-value {font-size: 28px; font-weight: 600;}
.hc-card-label {font-size: 13px; color: #444;}
.hc-card-note {font-size: 11px; color: #888;}
"""


def at_a_glance(data: ReportData) -> pn.viewable.Viewable:
    """Headline cards (duration, swings, two or three medians with their spread, quality)
    above a timeline of angular speed with every swing marked."""
    cards = [
        _card("session length", _duration(data.duration_s), data.start_text),
        _card("swings found", str(len(data.table)), data.placement_text),
    ]
    for column, label, unit in headline_metrics(data.placement):
        values = data.table[column].astype(float).dropna() if len(data.table) else pd.Series()
        if len(values):
            q1, q3 = np.percentile(values, [25, 75])
            of = (
                ""
                if len(values) == len(data.table)
                else f", {len(values)} of {len(data.table)} swings"
            )
            cards.append(
                _card(
                    f"median {label}", f"{values.median():.0f} {unit}", f"IQR {q1:.0f}-{q3:.0f}{of}"
                )
            )
        else:
            cards.append(_card(f"median {label}", "-", "not measured"))
    flags = data.quality_flags()
    cards.append(
        _card("quality", "ok" if not flags else f"{len(flags)} flag(s)", "; ".join(flags)[:80])
    )
    head = pn.pane.HTML(
        f"<style>{_CARD_CSS}</style><div class='hc-cards'>{''.join(cards)}</div>",
        sizing_mode="stretch_width",
    )
    return pn.Column(head, pn.pane.HoloViews(_timeline(data), linked_axes=False))


def _timeline(data: ReportData) -> hv.Overlay:
    layers = []
    for segment, sensor in data.segments():
        t_ns, omega = data.angular_speed(sensor)
        t_s, v = minmax_downsample(t_ns, omega, buckets=1500)
        t_s = t_s + (int(t_ns[0]) - data.start_ns) / 1e9 if len(t_ns) else t_s
        layers.append(
            hv.Curve((t_s, v), "Time (s)", "|ω| (°/s)", label=f"{segment} ({sensor})").opts(
                color=_SEGMENT_COLORS.get(segment, "black"), line_width=1
            )
        )
    if len(data.table):
        peaks = data.peak_points()
        layers.append(
            hv.Scatter(peaks, "Time (s)", ["|ω| (°/s)", "swing", "metric"], label="swing").opts(
                color="black", size=7, marker="triangle", tools=["hover"]
            )
        )
    if not layers:
        layers.append(hv.Curve([], "Time (s)", "|ω| (°/s)"))
    return hv.Overlay(layers).opts(
        width=_WIDTH,
        height=260,
        title="Angular speed over the session; triangles mark each swing's peak",
        legend_position="top_left",
        tools=["xwheel_zoom", "xpan"],
        active_tools=["xwheel_zoom"],
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(max(0.0, seconds), 1), 60)
    return f"{int(minutes)}:{secs:04.1f}"


# ------------------------------------------------------------------------- raw signals
def raw_signals(data: ReportData, buckets: int = 2000) -> pn.viewable.Viewable:
    """One plot per sensor, each on its own readings' times (seconds from the session start;
    nothing aligned or resampled), zooms linked, swing windows shaded."""
    plots = []
    spans = [(_rel_s(data, s), _rel_s(data, e)) for s, e in data.windows()]
    for sensor, frame in data.session.frames.items():
        columns, unit = PLOT_COLUMNS.get(sensor, (_numeric_columns(frame), ""))
        columns = tuple(c for c in columns if c in frame)
        if not columns or not len(frame):
            continue
        t_ns = frame["time_ns"].to_numpy(np.int64)
        offset = (int(t_ns[0]) - data.start_ns) / 1e9
        label = f"{sensor} ({unit})" if unit else sensor
        curves = []
        for column_name, color in zip(columns, _AXIS_COLORS, strict=False):
            t_s, v = minmax_downsample(t_ns, frame[column_name].to_numpy(float), buckets)
            curves.append(
                hv.Curve((t_s + offset, v), "Time (s)", hv.Dimension(sensor, label=label))
                .relabel(column_name)
                .opts(color=color, line_width=1)
            )
        overlay = hv.Overlay(curves)
        if spans:
            overlay = hv.VSpans(spans).opts(color="#ffd54f", alpha=0.35) * overlay
        rate = data.rates_hz.get(sensor)
        title = f"{sensor}: {len(frame):,} readings" + (f" at {rate:.0f} Hz" if rate else "")
        plots.append(
            overlay.opts(
                xlabel="Time (s)",
                ylabel=label,
                width=_WIDTH,
                height=220,
                title=title,
                legend_position="top_left",
                tools=["hover", "xwheel_zoom", "xpan"],
                active_tools=["xwheel_zoom"],
            )
        )
    if not plots:
        return pn.pane.Markdown("*No numeric sensor readings in this session.*")
    return pn.pane.HoloViews(hv.Layout(plots).cols(1))


def _numeric_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    return tuple(c for c in frame.columns if c != "time_ns" and frame[c].dtype.kind == "f")[:4]


# -------------------------------------------------------------------------- swing table
def swing_table_view(data: ReportData) -> pn.viewable.Viewable:
    """The swings and their metrics for this placement, one row each, quality flags last;
    every row shown (no scroll box)."""
    shown = data.display_table()
    if shown.empty:
        return pn.pane.Markdown("*No swings found in this session.*")
    return pn.pane.DataFrame(shown, index=False, sizing_mode="stretch_width")


# ---------------------------------------------------------------------- swing sequences
def swing_sequences(data: ReportData) -> pn.viewable.Viewable:
    """Each swing's angular speed per segment around the swing, events marked; a slider
    (in the browser, no kernel needed) steps through the swings, numbered from 1.

    Each segment's curve has its own small source holding the shown swing; every swing's
    readings sit in a second source that is never drawn, and the slider copies one swing's
    slice across. (Filtering one source with a ``CDSView`` does not work for lines: Bokeh
    supports views only on unconnected glyphs, and a line shows nothing once the view
    leaves the first rows.) Models are named for tests: ``sequence-<segment>`` (the line),
    ``sequence-<segment>-source``, ``swing-slider``, ``swing-summary``."""
    traces = data.traces
    if not len(data.table) or traces.empty:
        return pn.pane.Markdown("*No swings to show.*")
    numbers = [swing_number(s) for s in data.table["swing"]]
    first = str(numbers[0])
    plot = figure(
        width=_WIDTH,
        height=320,
        x_axis_label=data.trace_axis_label,
        y_axis_label="|ω| (°/s)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        title="Kinematic sequence",
        name="swing-sequence",
    )
    curves = []
    for segment, part in traces.groupby("segment", sort=False):
        part = part.assign(number=part["swing"].astype(int) + 1).sort_values(
            "number", kind="stable"
        )
        number = part["number"].to_numpy(int)
        t = part["t_ms"].to_numpy(float)
        w = part["omega_dps"].to_numpy(float)
        bounds = {
            str(n): [int(np.searchsorted(number, n)), int(np.searchsorted(number, n, "right"))]
            for n in numbers
        }
        every = ColumnDataSource({"t": t, "w": w}, name=f"sequence-{segment}-all")
        lo, hi = bounds[first]
        shown = ColumnDataSource({"t": t[lo:hi], "w": w[lo:hi]}, name=f"sequence-{segment}-source")
        plot.line(
            "t",
            "w",
            source=shown,
            legend_label=str(segment),
            color=_SEGMENT_COLORS.get(str(segment), "black"),
            line_width=2,
            name=f"sequence-{segment}",
        )
        curves.append({"shown": shown, "every": every, "bounds": bounds})
    events = data.events()
    group = GroupFilter(column_name="key", group=first)
    event_sources = []
    if not events.empty:
        events["color"] = events["event"].map(_EVENT_COLORS).fillna("black")
        ev = ColumnDataSource(
            {
                "t": events["t_ms"].to_numpy(float),
                "key": events["swing"].astype(str).to_numpy(),
                "event": events["event"].to_numpy(str),
                "color": events["color"].to_numpy(str),
                "top": np.full(len(events), float(traces["omega_dps"].max()) * 1.05),
                "bottom": np.zeros(len(events)),
            },
            name="sequence-events-source",
        )
        event_sources.append(ev)
        view = CDSView(filter=group)  # markers are unconnected glyphs: a view works for them
        renderer = plot.segment(
            "t",
            "bottom",
            "t",
            "top",
            source=ev,
            view=view,
            color="color",
            line_width=2,
            line_dash="dashed",
            name="sequence-events",
        )
        plot.scatter("t", "top", source=ev, view=view, color="color", size=8, legend_field="event")
        plot.add_tools(
            HoverTool(renderers=[renderer], tooltips=[("event", "@event"), ("t", "@t{0} ms")])
        )
    plot.legend.location = "top_left"
    summaries = data.swing_summaries()
    info = Div(text=summaries.get(first, ""), width=_WIDTH, name="swing-summary")
    slider = Slider(
        start=min(numbers),
        end=max(max(numbers), min(numbers) + 1),
        value=int(first),
        step=1,
        title="Swing",
        name="swing-slider",
        width=_WIDTH // 2,
    )
    slider.js_on_change(
        "value",
        CustomJS(
            args={
                "curves": curves,
                "group": group,
                "events": event_sources,
                "info": info,
                "summaries": summaries,
            },
            code="""
            const key = String(cb_obj.value);
            for (const c of curves) {
              const [lo, hi] = c.bounds[key] || [0, 0];
              const all = c.every.data;
              c.shown.data = {t: all.t.slice(lo, hi), w: all.w.slice(lo, hi)};
            }
            group.group = key;
            for (const ev of events) { ev.change.emit(); }
            info.text = summaries[key] || "<i>no swing " + key + "</i>";
            """,
        ),
    )
    return pn.pane.Bokeh(bk_column(slider, info, plot))


# ------------------------------------------------------------------------------ trends
def trends(data: ReportData) -> pn.viewable.Viewable:
    """Each headline metric swing by swing over the session, with a rolling median."""
    plots = []
    if len(data.table):
        t_s = (data.table["start_ns"].astype("float64") - data.start_ns) / 1e9
        for column, label, unit in headline_metrics(data.placement):
            y = data.table[column].astype(float)
            if y.notna().sum() == 0:
                continue
            number = data.table["swing"].astype(int) + 1
            frame = pd.DataFrame({"t": t_s, "y": y, "swing": number}).dropna()
            dim = hv.Dimension(column, label=f"{label} ({unit})")
            points = (
                hv.Scatter(frame, "t", [("y", dim.label), "swing"])
                .redim(t="Time (s)")
                .opts(size=6, tools=["hover"], color="#1f77b4")
            )
            window = max(3, len(frame) // 10)
            rolling = frame["y"].rolling(window, min_periods=1, center=True).median()
            line = hv.Curve((frame["t"], rolling), "Time (s)", dim.label).opts(
                color="black", line_width=2
            )
            plots.append(
                (points * line).opts(
                    width=_WIDTH // 2 - 10, height=240, title=f"{label}: rolling median of {window}"
                )
            )
    if not plots:
        return pn.pane.Markdown("*No swing metrics to trend.*")
    return pn.pane.HoloViews(hv.Layout(plots).cols(2), linked_axes=False)


# --------------------------------------------------------------------------- reference
def reference_comparison(data: ReportData) -> pn.viewable.Viewable:
    """This session's median and IQR beside the reference figures by level, per metric."""
    plots, tables = [], []
    ref = reference_table()
    for column, label, unit in headline_metrics(data.placement):
        if column not in set(ref["metric"]):
            continue
        values = data.table[column].astype(float).dropna() if len(data.table) else pd.Series()
        rows = ref[ref["metric"] == column]
        levels = [*rows["level"], "this session"]
        bars = [
            (lv, lo, hi) for lv, lo, hi in zip(rows["level"], rows["q1"], rows["q3"], strict=True)
        ]
        medians = [(lv, m) for lv, m in zip(rows["level"], rows["median"], strict=True)]
        if len(values):
            q1, med, q3 = np.percentile(values, [25, 50, 75])
            bars.append(("this session", q1, q3))
            medians.append(("this session", med))
        y = hv.Dimension("value", label=f"{label} ({unit})")
        iqr = hv.Segments(
            [(lv, lo, lv, hi) for lv, lo, hi in bars], ["level", y, "level2", "value2"]
        ).opts(line_width=12, alpha=0.4, color="#1f77b4")
        mid = hv.Scatter(medians, "level", y).opts(size=10, color="black", tools=["hover"])
        plots.append(
            (iqr * mid)
            .opts(
                width=_WIDTH // 2 - 10,
                height=260,
                title=f"{label}: median and IQR",
                xlim=(None, None),
                xrotation=20,
                default_tools=["save"],
            )
            .redim.values(level=levels)
        )
        if len(values):
            placed = place_against_reference(column, float(values.median()))
            placed.insert(0, "metric", label)
            tables.append(placed)
    if not plots:
        return pn.pane.Markdown("*No reference figures for the metrics of this placement.*")
    parts: list[Any] = [pn.pane.HoloViews(hv.Layout(plots).cols(2), linked_axes=False)]
    if tables:
        table = pd.concat(tables, ignore_index=True)
        table["percentile"] = table["percentile"].round(0)
        parts.append(pn.pane.DataFrame(table, index=False, sizing_mode="stretch_width"))
    parts.append(pn.pane.Markdown(f"Source: {REFERENCE_SOURCE}. Group figures, not targets."))
    return pn.Column(*parts)
