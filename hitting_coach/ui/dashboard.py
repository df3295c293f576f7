"""Live plot components for the dashboard and for notebooks (the only module here that
imports panel and bokeh for the live view).

Each browser session (or notebook cell) owns its readers on the hub and, once per tick, streams
only the new points into its Bokeh sources with a rollover: nothing old is ever resent.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, DataRange1d, DatetimeTickFormatter, Range1d
from bokeh.plotting import figure

from hitting_coach.analysis.corrections import MarkedLiveSwings
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.ingest.hub import Hub, Reader
from hitting_coach.ui.phone_view import PhoneCard
from hitting_coach.ui.swing_panel import SHRINKS, SwingPanel

__all__ = ["Dashboard", "LivePlot", "status_text"]

_COLORS = {"x": "#d62728", "y": "#2ca02c", "z": "#1f77b4"}


class LivePlot:
    """One sensor's x/y/z lines on its own time axis, fed by a hub reader.

    ``y_range`` is fixed (the seed's ±60 m/s² and ±30 rad/s); the time axis follows the data
    until the user zooms or pans, and then stays where the user put it.
    """

    def __init__(
        self, sensor: str, title: str, y_label: str, y_range: tuple[float, float], window: int
    ) -> None:
        self.sensor = sensor
        self.window = window
        self.reader: Reader | None = None
        self.source = ColumnDataSource(
            {"t": np.empty(0), **{c: np.empty(0) for c in _COLORS}}, name=f"{sensor}-source"
        )
        self.figure = figure(
            name=f"{sensor}-figure",
            title=title,
            x_axis_type="datetime",
            x_range=DataRange1d(range_padding=0, only_visible=True),
            y_range=Range1d(*y_range),
            height=320,
            sizing_mode="stretch_width",
            tools="pan,wheel_zoom,box_zoom,reset,save",
            active_scroll="wheel_zoom",
            toolbar_location="above",
            output_backend="canvas",
        )
        self.figure.yaxis.axis_label = y_label
        self.figure.xaxis.formatter = DatetimeTickFormatter(
            milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S", minsec="%H:%M:%S", context=None
        )
        for column, color in _COLORS.items():
            self.figure.line(
                "t", column, source=self.source, color=color, line_width=1, legend_label=column
            )
        self.figure.legend.location = "top_left"
        self.figure.legend.orientation = "horizontal"

    def follow(self, hub: Hub, device: str) -> None:
        """Show ``device``: clear the lines and start from its last ``window`` readings."""
        self.reader = hub.reader(device, self.sensor, backlog=self.window)
        self.source.data = {"t": np.empty(0), **{c: np.empty(0) for c in _COLORS}}

    def update(self) -> int:
        """Stream what is new since the last update; returns the number of points sent."""
        if self.reader is None:
            return 0
        columns, time_ns, values = self.reader.read_arrays(last=self.window)
        if len(time_ns) == 0:
            return 0
        new: dict[str, np.ndarray] = {"t": time_ns / 1e6}
        for column in _COLORS:
            new[column] = (
                values[columns.index(column)]
                if column in columns
                else np.full(len(time_ns), np.nan)
            )
        self.source.stream(new, rollover=self.window)
        return len(time_ns)


def status_text(status: dict[str, Any], device: str | None) -> str:
    """The one-line status: message rate, last message age, rejections, sources, recording."""
    age = status["last_message_age_s"]
    parts = [
        f"{status['messages_per_s']:.1f} msg/s",
        "no message yet" if age is None else f"last message {age:.1f} s ago",
        f"{status['rejected']} rejected",
    ]
    if status["duplicates"]:
        parts.append(f"{status['duplicates']} duplicates")
    for name, state in sorted(status.get("sources", {}).items()):
        parts.append(f"{name.upper()}: {state.get('state', '?')}")
    recording = status["recording"]
    if recording["enabled"]:
        parts.append(
            "recording: ok" if recording["ok"] else f"recording FAILED: {recording['error']}"
        )
    if device:
        rates = status["devices"].get(device, {})
        shown = [f"{s} {r['rate_hz']:.0f} Hz" for s, r in rates.items() if r.get("rate_hz")]
        if shown:
            parts.append(", ".join(shown[:4]))
    return " · ".join(html.escape(p) for p in parts)


class Dashboard(pn.viewable.Viewer):
    """The live view: device picker, status line, swing panel, accelerometer and gyroscope."""

    device = param.Selector(default=None, objects=[], doc="Device whose sensors are shown.")

    def __init__(
        self,
        hub: Hub,
        status: Any = None,
        window: int = 200,
        period_ms: int = 500,
        swings: LiveSwings | MarkedLiveSwings | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.hub = hub
        self._status = status or hub.status
        self.plots = [
            LivePlot("accelerometer", "Accelerometer", "m/s²", (-60, 60), window),
            LivePlot("gyroscope", "Gyroscope", "rad/s", (-30, 30), window),
        ]
        self.status_line = pn.pane.HTML("", css_classes=["hc-status"], sizing_mode="stretch_width")
        self.picker = pn.widgets.Select.from_param(
            self.param.device, name="Device", width=320, visible=False
        )
        self.swing_panel = SwingPanel(swings) if swings is not None else None
        #: The phone's first screen (hidden on wide screens); the app puts it at the top.
        self.phone_card = PhoneCard(swings) if swings is not None else None
        self._layout = pn.Column(
            pn.FlexBox(
                self.picker, self.status_line, flex_wrap="wrap", sizing_mode="stretch_width"
            ),
            *([self.swing_panel] if self.swing_panel is not None else []),
            *(pn.pane.Bokeh(p.figure, sizing_mode="stretch_width") for p in self.plots),
            sizing_mode="stretch_width",
            stylesheets=[SHRINKS],
        )
        self.tick()
        self._callback = pn.state.add_periodic_callback(self.tick, period=period_ms)

    @param.depends("device", watch=True)
    def _follow(self) -> None:
        for plot in self.plots:
            if self.device is not None:
                plot.follow(self.hub, self.device)

    def tick(self) -> None:
        """One update: new devices, new points, fresh status line."""
        devices = self.hub.devices()
        if devices != self.param.device.objects:
            self.param.device.objects = devices
            self.picker.visible = len(devices) > 1
            if self.device is None and devices:
                self.device = devices[0]
        for plot in self.plots:
            plot.update()
        if self.swing_panel is not None:
            self.swing_panel.update(self.device)
            self.phone_card.update(self.device)
        self.status_line.object = status_text(self._status(), self.device)

    def stop(self) -> None:
        self._callback.stop()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
