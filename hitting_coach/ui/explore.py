"""Linked views of a recorded session, built with HoloViews: ``hitting_coach.explore(session)``.

- **Timeline**: every sensor's plotted columns (the sensor registry's) on one time axis, one
  plot per sensor, zoom and pan linked; each swing's window shaded, the coach's marks as lines.
  A sensor with more than ``rasterize_above`` readings is rasterized with datashader
  (``holoviews.operation.datashader.rasterize``): in a live kernel each zoom is drawn again
  at full resolution, so a 10-minute 500 Hz session pans smoothly.
- **Swings scatter**: pelvis against hand peak speed, the pelvis-to-hand gap as colour. Select
  swings there (tap, box or lasso) and they are highlighted on the timeline (a
  :class:`holoviews.streams.Selection1D` stream; :attr:`SessionExplorer.selection`).
- **Sequence**: a DynamicMap over the swing number (a slider): each segment's angular speed
  around that swing.
- **Marks**: the coach's marks are listed and drawn on the timeline; *Not a swing* marks the
  swings selected on the scatter, *Remove mark* takes one back. They are written to the
  session's marks (:mod:`hitting_coach.store.marks`, the store the dashboard writes, so the
  dashboard, ``swings.json`` and reports follow), and the views are drawn again with them
  applied (:meth:`SessionExplorer.mark_not_swing`, :meth:`SessionExplorer.unmark`).

It renders in JupyterLab and under ``panel serve``; :meth:`SessionExplorer.save` writes one
HTML file with Bokeh and Panel inline (no CDN). Saved, the plots zoom and the swing slider
works, but what needs Python (re-rasterizing a zoom, the selection's highlight, marking) does
not.
"""

from __future__ import annotations

import base64
import functools
import html
import operator
import re
from pathlib import Path
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (the Bokeh backend, for the options set here)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.resources import INLINE
from holoviews.operation.datashader import rasterize

from hitting_coach.analysis.report_data import ReportData
from hitting_coach.errors import SessionError
from hitting_coach.sensors import SENSORS
from hitting_coach.store import marks as marks_store
from hitting_coach.store.marks import Mark
from hitting_coach.values import plural

__all__ = ["SessionExplorer", "explore"]

if hv.Store.current_backend not in hv.Store.renderers:  # no hv.extension yet: Bokeh's
    hv.Store.set_current_backend("bokeh")

_COLORS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
_SEGMENT_COLORS = {"pelvis": "#1f77b4", "hand": "#d62728", "bat": "#2ca02c"}
_MARK_COLORS = {"not_swing": "#d62728", "add_swing": "#2ca02c"}
_KIND_TEXT = {"not_swing": "not a swing", "add_swing": "swing added"}
_CDN_ICON = re.compile(r'<link rel="(?:apple-touch-icon|icon)"[^>]*href="https?://[^"]*">\n?')
_CDN_CSS = re.compile(r"https://cdn\.holoviz\.org/panel/[^/]+/dist/([\w./-]+\.css)(?:\?v=[\w.]*)?")
_PANEL_DIST = Path(pn.__file__).parent / "dist"
_TIME = hv.Dimension("time", label="time (UTC)")


def _datetimes(ns: Any) -> np.ndarray:
    return np.asarray(pd.array(ns, dtype="Int64").to_numpy(np.int64, na_value=0), "datetime64[ns]")


class SessionExplorer(pn.viewable.Viewer):
    """The linked views of one session (a :class:`ReportData`); see the module docstring.

    ``swings`` is the swing table shown (marks applied; ``swing`` its number in the session,
    from 1) with ``start`` and ``end`` (datetimes); :attr:`selection` the scatter's selection (row
    positions in ``swings``), :attr:`highlight` the selected swings' windows. Marks are written
    to the session's marks in ``data_dir`` (None: the ``HITTING_COACH_DATA_DIR`` setting)."""

    def __init__(
        self,
        data: ReportData,
        rasterize_above: int = 20_000,
        data_dir: str | Path | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.rasterize_above = rasterize_above
        self.data_dir = data_dir
        self._layout: pn.Column | None = None
        self.not_swing_button = pn.widgets.Button(
            label="Not a swing (the selected swings)", color="danger"
        )
        self.marks_select = pn.widgets.Select(label="marks", options={})
        self.unmark_button = pn.widgets.Button(label="Remove mark")
        self.message = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.not_swing_button.on_click(lambda _: self._say(self.mark_not_swing))
        self.unmark_button.on_click(lambda _: self._say(self.unmark, self.marks_select.value))
        self._build(data)

    def _build(self, data: ReportData) -> None:
        """Make every view of ``data`` (again, after the marks changed)."""
        self.data = data
        self.rasterized = []
        table = data.table.reset_index(drop=True)
        self.swings = table.assign(
            start=_datetimes(table["start_ns"]),
            end=_datetimes(table["end_ns"]),
        )
        self.scatter = self._scatter()
        self.selection = hv.streams.Selection1D(source=self.scatter)
        self.highlight = hv.DynamicMap(self._highlighted, streams=[self.selection])
        self.timeline = self._timeline()
        self.sequence = self._sequence()
        start = data.start_ns
        self.marks_select.options = {
            f"{_KIND_TEXT.get(m.kind, m.kind)} at {(m.time_ns - start) / 1e9:.1f} s"
            + (f" ({m.note})" if m.note else ""): m.mark_id
            for m in sorted(data.marks, key=lambda m: m.time_ns)
        }

    # ------------------------------------------------------------------------ marks
    @property
    def ref(self) -> str:
        """The session, as ``device/session`` (what the marks functions take)."""
        return f"{self.data.session.device_id}/{self.data.session.session_id}"

    def reload(self) -> None:
        """Read the session and its marks again and draw every view anew."""
        data = ReportData.load(
            self.ref,
            self.data_dir,
            take=self.data.take,
            placement=None if self.data.placement_guessed else self.data.placement,
        )
        self._build(data)
        if self._layout is not None:
            self._layout[:] = self._children()

    def mark_not_swing(self, rows: pd.DataFrame | None = None, note: str = "") -> list[Mark]:
        """Mark swings "not a swing" (rows of :attr:`swings`; default: the ones selected on
        the scatter) in the session's marks, then draw the views again without them.
        Raises :class:`SessionError` when there is no swing to mark (nothing is written)."""
        rows = self.selected() if rows is None else rows
        if not len(rows):
            raise SessionError("no swing selected: select swings on the scatter first")
        marks = [
            marks_store.mark_not_swing(self.ref, row, note=note, data_dir=self.data_dir)
            for _, row in rows.iterrows()
        ]
        self.reload()
        return marks

    def unmark(self, mark_id: str | None) -> Mark:
        """Take back the mark ``mark_id`` (one of ``data.marks``), then draw the views again.
        Raises :class:`SessionError` for a mark this session does not have."""
        if mark_id not in {m.mark_id for m in self.data.marks}:
            raise SessionError(f"no mark {mark_id!r} on {self.ref}: pick one of the list")
        mark = marks_store.unmark(self.ref, mark_id, data_dir=self.data_dir)
        self.reload()
        return mark

    def _say(self, action: Any, *args: Any) -> None:  # a button's click: say what happened
        try:
            done = action(*args)
        except SessionError as e:
            self.message.object = f"**Not done:** {html.escape(str(e))}"
            return
        done = done if isinstance(done, list) else [done]
        what = "marked not a swing" if action == self.mark_not_swing else "mark removed"
        self.message.object = f"{len(done)} {what} · {plural(len(self.swings), 'swing')} now"

    # ------------------------------------------------------------------------ views
    def _spans(self, rows: pd.DataFrame, color: str, alpha: float) -> hv.VSpans:
        return hv.VSpans((rows["start"], rows["end"]), kdims=[_TIME, "end"]).opts(
            color=color, alpha=alpha, line_width=0
        )

    def _highlighted(self, index: list[int]) -> hv.VSpans:
        rows = self.swings.iloc[[i for i in index if 0 <= i < len(self.swings)]]
        return self._spans(rows, "#ff7f0e", 0.45)

    def selected(self) -> pd.DataFrame:
        """The swings selected on the scatter (rows of :attr:`swings`)."""
        return self.swings.iloc[list(self.selection.index)]

    def _sensor_plot(self, sensor: str, frame: pd.DataFrame) -> hv.Overlay:
        known = SENSORS.get(sensor)
        columns = [c for c in (known.plot_columns if known else ()) if c in frame]
        columns = columns or [c for c in frame.columns if c != "time_ns"][:3]
        unit = known.unit if known and known.plot_columns else ""
        shown = pd.DataFrame({"time": _datetimes(frame["time_ns"])})
        for c in columns:
            shown[c] = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)
        big = len(shown) > self.rasterize_above
        if big:
            self.rasterized.append(sensor)
        layers = []
        for c, color in zip(columns, _COLORS, strict=False):
            curve = hv.Curve(shown, _TIME, hv.Dimension(c, label=f"{c} ({unit})" if unit else c))
            curve = curve.relabel(c)
            if big:  # each zoom drawn again by datashader, at the plot's resolution
                layers.append(
                    rasterize(curve, line_width=1).opts(cmap=[color], alpha=0.9, colorbar=False)
                )
            else:
                layers.append(curve.opts(color=color, line_width=1))
        marks = [
            hv.VLine(np.datetime64(m.time_ns, "ns")).opts(
                color=_MARK_COLORS.get(m.kind, "black"), line_dash="dashed", line_width=2
            )
            for m in self.data.marks
        ]
        # ``*`` (not hv.Overlay) combines elements with DynamicMaps into one DynamicMap
        overlay = functools.reduce(
            operator.mul,
            [self._spans(self.swings, "#7f7f7f", 0.18), *layers, self.highlight, *marks],
        )
        return overlay.opts(title=sensor + (" (rasterized)" if big else ""), show_legend=not big)

    def _timeline(self) -> hv.Layout:
        #: the sensors on the timeline, top to bottom
        self.sensors = [
            sensor
            for sensor, frame in self.data.session.frames.items()
            if len(frame) and sensor in SENSORS and SENSORS[sensor].columns
        ]
        plots = [self._sensor_plot(s, self.data.session.frames[s]) for s in self.sensors]
        return (
            hv.Layout(plots)
            .cols(1)
            .opts(
                {
                    "Curve": {"responsive": True, "height": 200, "tools": ["hover"]},
                    "Image": {"responsive": True, "height": 200},
                    "Overlay": {"responsive": True, "height": 200},
                }
            )
        )

    def _scatter(self) -> hv.Points:
        frame = self.swings[["pelvis_peak_dps", "hand_peak_dps", "peak_gap_ms", "swing"]]
        return hv.Points(
            frame,
            kdims=[
                hv.Dimension("pelvis_peak_dps", label="pelvis peak (°/s)"),
                hv.Dimension("hand_peak_dps", label="hand peak (°/s)"),
            ],
            vdims=[hv.Dimension("peak_gap_ms", label="pelvis→hand gap (ms)"), "swing"],
        ).opts(
            color="peak_gap_ms",
            cmap="viridis",
            colorbar=True,
            size=10,
            tools=["tap", "box_select", "lasso_select", "hover"],
            active_tools=["box_select"],
            nonselection_alpha=0.3,
            width=420,
            height=360,
            title="Swings: select to see them on the timeline",
        )

    def _sequence_of(self, swing: int) -> hv.Overlay:
        traces = self.data.traces
        curves = []
        for segment, color in _SEGMENT_COLORS.items():
            part = traces[(traces["swing"] == swing) & (traces["segment"] == segment)]
            if len(part):
                curves.append(hv.Curve(part, "t_ms", "omega_dps", label=segment).opts(color=color))
        overlay = hv.Overlay(curves or [hv.Curve([], "t_ms", "omega_dps")])
        return overlay.opts(
            {
                "Curve": {
                    "width": 460,
                    "height": 300,
                    "xlabel": "ms (0: foot plant, or the window's start)",
                    "ylabel": "angular speed (°/s)",
                },
                "Overlay": {"title": f"Swing {swing}: kinematic sequence"},
            }
        )

    def _sequence(self) -> hv.DynamicMap:
        numbers = [int(n) for n in self.swings["swing"]] or [0]
        swing = hv.Dimension("swing", values=numbers, default=numbers[0])
        return hv.DynamicMap(self._sequence_of, kdims=[swing])

    # ------------------------------------------------------------------------ layout
    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = pn.Column(*self._children(), sizing_mode="stretch_width")
        return self._layout

    def _children(self, editable: bool = True) -> list[pn.viewable.Viewable]:
        title = pn.pane.HTML(
            f"<h3>{html.escape(self.data.title)}</h3>"
            f"{plural(len(self.swings), 'swing')} · {self.data.placement_text}"
            + (f" · rasterized: {', '.join(self.rasterized)}" if self.rasterized else ""),
            sizing_mode="stretch_width",
        )
        marks = [self.not_swing_button, self.marks_select, self.unmark_button, self.message]
        return [
            title,
            pn.Row(pn.pane.HoloViews(self.scatter), pn.panel(self.sequence)),  # with its slider
            *([pn.Row(*marks)] if editable else []),  # marking needs Python: not in a saved file
            pn.pane.HoloViews(self.timeline, sizing_mode="stretch_width"),
        ]

    def save(self, path: str | Path) -> Path:
        """One self-contained HTML file (Bokeh and Panel inline: nothing from the network)."""
        path = Path(path)
        pn.Column(*self._children(editable=False), sizing_mode="stretch_width").save(
            path, resources=INLINE, embed=True, title=self.data.title, progress=False
        )
        # Panel's page links its icons on its CDN (dropped) and its components' stylesheets
        # (made data: URLs of the same files from this install): opening it fetches nothing.
        text = _CDN_ICON.sub("", path.read_text(encoding="utf-8"))
        path.write_text(_CDN_CSS.sub(_inline_css, text), encoding="utf-8")
        return path


def _inline_css(match: re.Match[str]) -> str:
    local = _PANEL_DIST / match[1]
    if not local.is_file():
        return match[0]
    return "data:text/css;base64," + base64.b64encode(local.read_bytes()).decode("ascii")


def explore(
    session: Any = "latest",
    data_dir: str | Path | None = None,
    *,
    take: str | None = None,
    placement: str | None = None,
    rasterize_above: int = 20_000,
) -> SessionExplorer:
    """The linked views of a recorded session (any reference ``load_session`` takes, or a
    :class:`ReportData`): show it in a notebook, ``.servable()`` it, or ``.save("x.html")``.
    Its marks are read from and written to ``data_dir``."""
    data = (
        session
        if isinstance(session, ReportData)
        else ReportData.load(session, data_dir, take=take, placement=placement)
    )
    return SessionExplorer(data, rasterize_above=rasterize_above, data_dir=data_dir)
