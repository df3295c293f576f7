"""Plots of the session report (Bokeh figures, wrapped in Panel objects).

The figures are built with Bokeh directly, not through HoloViews: importing HoloViews and
rendering through it was a large part of a report's time (docs/benchmarks.md), for plots Bokeh
draws as they are. Every function returns a Panel object, never a bare Bokeh model: Panel renders its
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

import numpy as np
import pandas as pd
import panel as pn
from bokeh.layouts import column as bk_column
from bokeh.layouts import gridplot
from bokeh.models import (
    CDSView,
    ColumnDataSource,
    CustomJS,
    Div,
    FactorRange,
    GroupFilter,
    HoverTool,
    Slider,
    WheelZoomTool,
)
from bokeh.plotting import figure

from hitting_coach.analysis.report_data import ReportData, headline_metrics
from hitting_coach.analysis.swings import (
    REFERENCE_SOURCE,
    counted_swings,
    place_against_reference,
    reference_table,
)
from hitting_coach.sensors import SENSORS
from hitting_coach.values import against_reference, plural, reference_range, show_value

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

#: Columns drawn for a sensor and their unit, from the registry (others: their numeric
#: columns, no unit).
PLOT_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    s.name: (s.plot_columns, s.unit) for s in SENSORS.values() if s.plot_columns
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
#: The narrowest a report figure gets (a 390 px phone screen, less the page's margins).
_MIN_WIDTH = 280
#: Plots of a session's time: zoom and pan along time only.
_TOOLS_X = "xpan,xwheel_zoom,box_zoom,reset,save"
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


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
    line = f"{data.start_text} · {data.placement_text} · {plural(len(data.table), 'swing')} found"
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
    counted = counted_swings(data.table)  # practice swings and arms-only motions: not counted
    for column, label, unit in headline_metrics(data.placement):
        values = counted[column].astype(float).dropna() if len(counted) else pd.Series()
        if len(values):
            q1, q3 = np.percentile(values, [25, 75])
            of = "" if len(values) == len(counted) else f", {len(values)} of {len(counted)} swings"
            cards.append(
                _card(
                    f"median {label}", f"{values.median():.0f} {unit}", f"IQR {q1:.0f}-{q3:.0f}{of}"
                )
            )
        else:
            cards.append(_card(f"median {label}", "-", "not measured"))
    flags = data.quality_flags()
    cards.append(
        _card("quality", "ok" if not flags else plural(len(flags), "flag"), "; ".join(flags)[:80])
    )
    head = pn.pane.HTML(
        f"<style>{_CARD_CSS}</style><div class='hc-cards'>{''.join(cards)}</div>",
        sizing_mode="stretch_width",
    )
    return pn.Column(
        head,
        pn.pane.Bokeh(_timeline(data), sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )


def _timeline(data: ReportData) -> figure:
    plot = _figure(
        "Angular speed over the session; triangles mark each swing's peak",
        "Time (s)",
        "|ω| (°/s)",
        width=_WIDTH,
        height=260,
        tools=_TOOLS_X,
    )
    for segment, sensor in data.segments():
        t_ns, omega = data.angular_speed(sensor)
        t_s, v = minmax_downsample(t_ns, omega, buckets=1500)
        t_s = t_s + (int(t_ns[0]) - data.start_ns) / 1e9 if len(t_ns) else t_s
        plot.line(
            t_s,
            v,
            legend_label=f"{segment} ({sensor})",
            color=_SEGMENT_COLORS.get(segment, "black"),
            line_width=1,
        )
    if len(data.table):
        peaks = data.peak_points()
        source = ColumnDataSource(
            {
                "t": peaks["Time (s)"].to_numpy(float),
                "w": peaks["|ω| (°/s)"].to_numpy(float),
                "swing": peaks["swing"].to_numpy(),
                "metric": peaks["metric"].to_numpy(str),
            }
        )
        swings = plot.scatter(
            "t", "w", source=source, color="black", size=7, marker="triangle", legend_label="swing"
        )
        plot.add_tools(
            HoverTool(
                renderers=[swings],
                tooltips=[
                    ("Time (s)", "@t"),
                    ("|ω| (°/s)", "@w"),
                    ("swing", "@swing"),
                    ("metric", "@metric"),
                ],
            )
        )
    _legend_top_left(plot)
    return plot


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(max(0.0, seconds), 1), 60)
    return f"{int(minutes)}:{secs:04.1f}"


# ------------------------------------------------------------------------- raw signals
def raw_signals(data: ReportData, buckets: int = 2000) -> pn.viewable.Viewable:
    """One plot per sensor, each on its own readings' times (seconds from the session start;
    nothing aligned or resampled), zooms linked, swing windows shaded."""
    plots: list[figure] = []
    spans = [(_rel_s(data, s), _rel_s(data, e)) for s, e in data.windows()]
    span_source = ColumnDataSource(
        {"x0": [a for a, _ in spans], "x1": [b for _, b in spans]}
    )  # one source shared by every plot: the windows are in the file once
    for sensor, frame in data.session.frames.items():
        columns, unit = PLOT_COLUMNS.get(sensor, (_numeric_columns(frame), ""))
        columns = tuple(c for c in columns if c in frame)
        if not columns or not len(frame):
            continue
        t_ns = frame["time_ns"].to_numpy(np.int64)
        offset = (int(t_ns[0]) - data.start_ns) / 1e9
        label = f"{sensor} ({unit})" if unit else sensor
        rate = data.rates_hz.get(sensor)
        title = f"{sensor}: {plural(len(frame), 'reading')}" + (
            f" at {rate:.0f} Hz" if rate else ""
        )
        plot = _figure(
            title,
            "Time (s)",
            label,
            width=_WIDTH,
            height=220,
            tools=_TOOLS_X,
            x_range=plots[0].x_range if plots else None,
        )
        if spans:
            plot.vstrip(
                x0="x0", x1="x1", source=span_source, fill_color="#ffd54f", fill_alpha=0.35,
                line_alpha=0,
            )  # fmt: skip
        for column_name, color in zip(columns, _AXIS_COLORS, strict=False):
            t_s, v = minmax_downsample(t_ns, frame[column_name].to_numpy(float), buckets)
            plot.line(t_s + offset, v, legend_label=column_name, color=color, line_width=1)
        _legend_top_left(plot)
        plots.append(plot)
    if not plots:
        return pn.pane.Markdown("*No numeric sensor readings in this session.*")
    return _grid(plots, ncols=1)


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
    numbers = [int(s) for s in data.table["swing"]]
    first = str(numbers[0])
    plot = figure(
        width=_WIDTH,
        sizing_mode="stretch_width",
        min_width=_MIN_WIDTH,
        max_width=_WIDTH,
        height=320,
        x_axis_label=data.trace_axis_label,
        y_axis_label="|ω| (°/s)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        title="Kinematic sequence",
        name="swing-sequence",
    )
    curves = []
    for segment, part in traces.groupby("segment", sort=False):
        part = part.sort_values("swing", kind="stable")
        number = part["swing"].to_numpy(int)
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
    info = Div(
        text=summaries.get(first, ""),
        sizing_mode="stretch_width",
        min_width=_MIN_WIDTH,
        max_width=_WIDTH,
        name="swing-summary",
    )
    slider = Slider(
        start=min(numbers),
        end=max(max(numbers), min(numbers) + 1),
        value=int(first),
        step=1,
        title="Swing",
        name="swing-slider",
        sizing_mode="stretch_width",
        min_width=_MIN_WIDTH,
        max_width=_WIDTH // 2,
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
    return pn.pane.Bokeh(
        bk_column(slider, info, plot, sizing_mode="stretch_width", max_width=_WIDTH),
        sizing_mode="stretch_width",
    )


# ------------------------------------------------------------------------------ trends
def trends(data: ReportData) -> pn.viewable.Viewable:
    """Each headline metric swing by swing over the session, with a rolling median."""
    plots: list[figure] = []
    if len(data.table):
        t_s = (data.table["start_ns"].astype("float64") - data.start_ns) / 1e9
        for column, label, unit in headline_metrics(data.placement):
            y = data.table[column].astype(float)
            if y.notna().sum() == 0:
                continue
            number = data.table["swing"].astype(int)
            frame = pd.DataFrame({"t": t_s, "y": y, "swing": number}).dropna()
            y_label = f"{label} ({unit})"
            window = max(3, len(frame) // 10)
            rolling = frame["y"].rolling(window, min_periods=1, center=True).median()
            plot = _figure(
                f"{label}: rolling median of {window}",
                "Time (s)",
                y_label,
                width=_WIDTH // 2 - 10,
                height=240,
                x_range=plots[0].x_range if plots else None,
            )
            points = plot.scatter(
                "t",
                "y",
                # columns, not the DataFrame: Bokeh reads a frame through narwhals (0.2 s import)
                source=ColumnDataSource({c: frame[c].to_numpy() for c in frame}),
                size=6,
                color="#1f77b4",
            )
            plot.add_tools(
                HoverTool(
                    renderers=[points],
                    tooltips=[("Time (s)", "@t"), (y_label, "@y"), ("swing", "@swing")],
                )
            )
            plot.line(frame["t"].to_numpy(), rolling.to_numpy(), color="black", line_width=2)
            plots.append(plot)
    if not plots:
        return pn.pane.Markdown("*No swing metrics to trend.*")
    return _grid(plots, ncols=2)


# --------------------------------------------------------------------------- reference
def reference_comparison(data: ReportData) -> pn.viewable.Viewable:
    """This session's median and IQR beside the reference figures by level, per metric."""
    plots: list[figure] = []
    tables = []
    ref = reference_table()
    for column, label, unit in headline_metrics(data.placement):
        if column not in set(ref["metric"]):
            continue
        counted = counted_swings(data.table)
        values = counted[column].astype(float).dropna() if len(counted) else pd.Series()
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
        y_label = f"{label} ({unit})"
        plot = _figure(
            f"{label}: median and IQR",
            "level",
            y_label,
            width=_WIDTH // 2 - 10,
            height=260,
            x_range=FactorRange(*[str(lv) for lv in levels]),
        )
        plot.segment(
            x0=[str(lv) for lv, _, _ in bars],
            y0=[float(lo) for _, lo, _ in bars],
            x1=[str(lv) for lv, _, _ in bars],
            y1=[float(hi) for _, _, hi in bars],
            line_width=12,
            alpha=0.4,
            color="#1f77b4",
        )
        mid = plot.scatter(
            "level",
            "value",
            source=ColumnDataSource(
                {"level": [str(lv) for lv, _ in medians], "value": [float(m) for _, m in medians]}
            ),
            size=10,
            color="black",
        )
        plot.add_tools(
            HoverTool(renderers=[mid], tooltips=[("level", "@level"), (y_label, "@value")])
        )
        plot.xaxis.major_label_orientation = math.radians(20)
        plots.append(plot)
        if len(values):
            tables.extend(_reference_rows(column, label, float(values.median())))
    if not plots:
        return pn.pane.Markdown("*No reference figures for the metrics of this placement.*")
    parts: list[Any] = [_grid(plots, ncols=2)]
    if tables:
        table = pd.DataFrame(tables)
        parts.append(pn.pane.DataFrame(table, index=False, sizing_mode="stretch_width"))
    note = f"Source: {REFERENCE_SOURCE}. Group figures, not targets."
    parts.append(pn.pane.HTML(f"<p>{html.escape(note)}</p>"))  # a Markdown pane: 0.15 s import
    return pn.Column(*parts)


def _reference_rows(column: str, label: str, median: float) -> list[dict[str, str]]:
    """The reference table's rows for one metric, in words: per level its median and middle
    half (the quartiles, as :func:`hitting_coach.values.reference_range` says them), this
    session's median and where it sits."""
    rows = []
    for placed in place_against_reference(column, median).itertuples(index=False):
        where = against_reference(column, placed.level, placed.q1, placed.q3, placed.position)
        rows.append(
            {
                "Metric": label,
                "Level": placed.level,
                "Level's median": show_value({column: placed.median}, column, unit=True),
                "Middle half of the level's swings": reference_range(
                    column, placed.level, placed.q1, placed.q3
                ).removeprefix(f"{placed.level} middle half "),
                "This session's median": show_value({column: median}, column, unit=True),
                "Where it sits": f"{where}; faster than about {placed.percentile:.0f}% of "
                f"{placed.level} swings",
            }
        )
    return rows


# ------------------------------------------------------------------------------ figures
def _figure(
    title: str,
    x_label: str,
    y_label: str,
    *,
    width: int,
    height: int,
    tools: str = _TOOLS,
    x_range: Any = None,
) -> figure:
    """A report figure: its title and axis labels, scroll to zoom (along time for plots of a
    session), and ``x_range`` shared when given (plots that zoom together)."""
    plot = figure(
        title=title,
        x_axis_label=x_label,
        y_axis_label=y_label,
        width=width,
        height=height,
        sizing_mode="stretch_width",  # the page's width on a phone, at most ``width``
        min_width=min(width, _MIN_WIDTH),
        max_width=width,
        tools=tools,
        **({"x_range": x_range} if x_range is not None else {}),
    )
    plot.toolbar.active_scroll = plot.select_one({"type": WheelZoomTool})
    return plot


def _legend_top_left(plot: figure) -> None:
    if plot.legend:
        plot.legend.location = "top_left"


def _grid(plots: list[figure], ncols: int) -> Any:
    """Plots one under the other with one toolbar above them all (``ncols=1``), or side by
    side as the page's width allows (two on a desktop, one on a phone)."""
    if ncols == 1:
        grid = gridplot(
            plots, ncols=1, toolbar_location="above", merge_tools=True, sizing_mode="stretch_width"
        )
        return pn.pane.Bokeh(grid, sizing_mode="stretch_width", max_width=_WIDTH)
    return pn.FlexBox(
        *(pn.pane.Bokeh(p, sizing_mode="stretch_width", min_width=_MIN_WIDTH) for p in plots),
        sizing_mode="stretch_width",
        max_width=_WIDTH,
    )


# ------------------------------------------------------------------------ swing clips
_CLIP_CSS = """
.hc-rclips {display: flex; flex-wrap: wrap; gap: 12px; font-family: sans-serif;}
.hc-rclip {border: 1px solid #ddd; border-radius: 8px; padding: 8px; width: 340px;
  max-width: 100%; box-sizing: border-box; margin: 0;}
.hc-rclip img {display: block; width: 100%; height: auto; border-radius: 4px;}
.hc-rclip figcaption {font-size: 14px; margin-top: 4px; overflow-wrap: anywhere;}
"""


def swing_clips_view(
    data: ReportData, data_dir: Any, clips_dir: Any = None
) -> pn.viewable.Viewable | None:
    """Each swing the session's video shows: a still frame at its peak (a JPEG inside the
    report, so it stays one file) beside its numbers, and, with ``clips_dir`` (a folder beside
    the report), its clip (:data:`~hitting_coach.store.video.CLIP_BEFORE_S` before the peak to
    :data:`~hitting_coach.store.video.CLIP_AFTER_S` after) written there as
    ``swing-N.webm`` and linked relatively, with a link to it on the server as well. None (no
    output at all) for a session without video: nothing is read for it."""
    import base64
    from pathlib import Path
    from urllib.parse import quote

    from hitting_coach.store.video import (
        cut_clip,
        has_video,
        read_videos,
        still_jpeg,
        swing_clips,
    )

    s = data.session
    if data_dir is None or not has_video(Path(data_dir), s.device_id, s.session_id):
        return None
    rows = data.table.to_dict("records")
    for i, row in enumerate(rows):
        row["swing"] = int(row["swing"]) if pd.notna(row.get("swing")) else i + 1
    clips = swing_clips(Path(data_dir), s.device_id, rows, s.session_id)
    videos = {v.video_id: v for v in read_videos(Path(data_dir), s.device_id, s.session_id)}
    folder = Path(clips_dir) if clips_dir else None
    items = []
    for found, row in zip(clips, rows, strict=True):
        clip = found["clip"]
        if clip is None:
            continue
        video = videos[clip["video_id"]]
        n = int(row["swing"])
        jpeg = still_jpeg(video, clip["peak_s"])
        still = (
            f'<img alt="swing {n} at its peak" src="data:image/jpeg;base64,'
            f'{base64.b64encode(jpeg).decode()}">'
            if jpeg
            else '<p class="hc-muted">(no frame could be read at the peak)</p>'
        )
        numbers = " · ".join(
            f"{label} {show_value(row, column, unit=True)}"
            for column, label, _ in headline_metrics(data.placement)
        )
        links = []
        if folder is not None:
            name = f"swing-{n}.webm"
            seconds = cut_clip(video, clip["start_s"], clip["end_s"], folder / name)
            if seconds is not None:
                href = f"{quote(folder.name)}/{name}"
                links.append(
                    f'<a class="hc-clip-file" href="{html.escape(href)}">clip, {seconds:.1f} s '
                    "(the file beside this report)</a>"
                )
        server = f"/sensor/{clip['video']}#t={clip['start_s']:.3f},{clip['end_s']:.3f}"
        links.append(f'<a class="hc-clip-server" href="{html.escape(server)}">on the server</a>')
        items.append(
            f'<figure class="hc-rclip" data-swing="{n}">{still}<figcaption><b>Swing {n}</b>'
            f" · {html.escape(numbers)}<br>{' · '.join(links)}</figcaption></figure>"
        )
    if not items:
        return None
    intro = (
        f"<h2>Each swing on video</h2><p>{plural(len(items), 'swing')} of this session on the "
        "camera page's video: the frame at each swing's peak (hand, else pelvis) and its "
        "numbers; the clip runs from 1.5 s before the peak to 1 s after.</p>"
    )
    return pn.pane.HTML(
        f"<style>{_CLIP_CSS}</style>{intro}<div class='hc-rclips'>{''.join(items)}</div>",
        sizing_mode="stretch_width",
    )
