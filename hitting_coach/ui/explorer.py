"""A notebook's explorer of live data: pick a device, a sensor and a window; pause; snapshot.

The plot is one Bokeh figure built once, with a fixed set of lines whose sources, legend labels
and titles change in place. Replacing the figure on each refresh (as a HoloViews pane does when
its object changes shape) makes JupyterLab echo the new figure back to the kernel, where Bokeh
rejects its line colours (``Line.line_color ... got Value(...)``) and the notebook shows a
traceback above the plot.
"""

from __future__ import annotations

import html
from typing import Any, Protocol

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from hitting_coach.sensors import GYROSCOPE

__all__ = ["Explorer", "LiveSource"]


class LiveSource(Protocol):
    """What the explorer reads: :class:`hitting_coach.client.LiveSession` is one."""

    def devices(self) -> list[str]: ...
    def sensors(self, device: str) -> list[str]: ...
    def snapshot(self, device: str | None, sensor: str, seconds: float | None) -> pd.DataFrame: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


#: Lines the plot can show at once (a sensor's first columns) and their colours.
_LINE_COLORS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd")


class Explorer(pn.viewable.Viewer):
    """Pick a device, a sensor and a time window of a live source (:class:`LiveSource`); pause; snapshot.

    The plot refreshes every ``period_ms`` while live; :attr:`last_snapshot` holds the
    DataFrame of the last press of *Snapshot* (or call :meth:`take_snapshot`).
    """

    device = param.Selector(default=None, objects=[], doc="Device to show.")
    sensor = param.Selector(default=None, objects=[], doc="Sensor to show.")
    seconds = param.Number(default=10.0, bounds=(1.0, 120.0), doc="Time window, seconds.")
    paused = param.Boolean(default=False, doc="Freeze the view (and the live session).")

    def __init__(self, live: LiveSource, period_ms: int = 1000, **params: Any) -> None:
        super().__init__(**params)
        self.live = live
        self.last_snapshot: pd.DataFrame | None = None
        self.figure = figure(
            name="explorer-figure",
            height=300,
            sizing_mode="stretch_width",
            x_axis_label="seconds (0: the latest reading)",
            y_axis_label="value",
            tools="pan,wheel_zoom,box_zoom,reset,save",
            toolbar_location="above",
        )
        self.sources = [
            ColumnDataSource({"t": np.empty(0), "v": np.empty(0)}, name=f"explorer-line-{i}")
            for i in range(len(_LINE_COLORS))
        ]
        for i, (source, color) in enumerate(zip(self.sources, _LINE_COLORS, strict=True)):
            self.figure.line(
                "t", "v", source=source, color=color, line_width=2, legend_label=f"line {i}"
            )
        self.figure.legend.location = "top_left"
        self.plot = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width", min_height=300)
        self.note = pn.pane.HTML("", sizing_mode="stretch_width")
        button = pn.widgets.Button(label="Snapshot", color="primary")
        button.on_click(lambda event: self.take_snapshot())
        widgets = pn.Param(
            self.param,
            parameters=["device", "sensor", "seconds", "paused"],
            widgets={"paused": pn.widgets.Toggle},
            show_name=False,
            width=260,
        )
        self._layout = pn.Row(
            pn.Column(widgets, button, width=280), pn.Column(self.plot, self.note)
        )
        self.refresh()
        self._callback = pn.state.add_periodic_callback(self.refresh, period=period_ms)

    @param.depends("paused", watch=True)
    def _pause(self) -> None:
        if self.paused:
            self.live.pause()
        else:
            self.live.resume()

    @param.depends("device", "sensor", "seconds", watch=True)
    def _redraw(self) -> None:
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Update the device and sensor lists and, unless paused, the plot."""
        devices = self.live.devices()
        if devices != self.param.device.objects:
            self.param.device.objects = devices
            if self.device is None and devices:
                self.device = devices[0]
        sensors = self.live.sensors(self.device) if self.device else []
        if sensors != self.param.sensor.objects:
            self.param.sensor.objects = sensors
            if self.sensor not in sensors and sensors:
                self.sensor = GYROSCOPE if GYROSCOPE in sensors else sensors[0]
        if self.paused and not force:
            return
        self._draw(self._frame())

    def _frame(self) -> pd.DataFrame:
        if not self.device or not self.sensor:
            return pd.DataFrame({"time_ns": np.empty(0, np.int64)})
        return self.live.snapshot(self.device, self.sensor, self.seconds)

    def _draw(self, frame: pd.DataFrame) -> None:
        """Show ``frame`` on the existing lines (at most ~2,000 points a line, whatever the
        window and rate); lines beyond the sensor's columns are emptied and hidden."""
        from hitting_coach.ui.report_plots import PLOT_COLUMNS, minmax_downsample

        columns, unit = PLOT_COLUMNS.get(self.sensor or "", (("x", "y", "z"), ""))
        columns = (
            tuple(c for c in columns if c in frame)
            or tuple(c for c in frame.columns if c != "time_ns")[:3]
        )[: len(self.sources)]
        t_ns = frame["time_ns"].to_numpy(np.int64)
        items = self.figure.legend.items
        for i, (source, renderer) in enumerate(
            zip(self.sources, self.figure.renderers, strict=True)
        ):
            if i < len(columns):
                t_s, v = minmax_downsample(t_ns, frame[columns[i]].to_numpy(float), buckets=1000)
                age_s = t_s - (t_ns[-1] - t_ns[0]) / 1e9 if len(t_ns) else t_s
                source.data = {"t": age_s, "v": v}
                items[i].label = value(columns[i])
            elif len(source.data["t"]):
                source.data = {"t": np.empty(0), "v": np.empty(0)}
            renderer.visible = items[i].visible = i < len(columns)
        self.figure.title.text = (
            f"{self.device} · {self.sensor}: last {self.seconds:.0f} s ({len(frame)} readings)"
        )
        self.figure.yaxis.axis_label = unit or "value"
        # Changes to Bokeh models reach a notebook's page only when pushed (a server's page
        # gets them anyway; there this does nothing).
        pn.io.push_notebook(self.plot)

    def take_snapshot(self) -> pd.DataFrame:
        """The shown window as a DataFrame (``time_ns`` + value columns), kept in
        :attr:`last_snapshot`."""
        self.last_snapshot = self._frame()
        # Device and sensor names come from the phone: escaped, shown as text.
        sensor, device = html.escape(str(self.sensor)), html.escape(str(self.device))
        self.note.object = (
            f"Snapshot: {len(self.last_snapshot)} readings of {sensor} from {device}"
            " in <code>explorer.last_snapshot</code>."
        )
        return self.last_snapshot

    def stop(self) -> None:
        self._callback.stop()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
