"""A notebook's explorer of live data: pick a device, a sensor and a window; pause; snapshot."""

from __future__ import annotations

import html
from typing import Any, Protocol

import numpy as np
import pandas as pd
import panel as pn
import param

__all__ = ["Explorer", "LiveSource"]


class LiveSource(Protocol):
    """What the explorer reads: :class:`hitting_coach.client.LiveSession` is one."""

    def devices(self) -> list[str]: ...
    def sensors(self, device: str) -> list[str]: ...
    def snapshot(self, device: str | None, sensor: str, seconds: float | None) -> pd.DataFrame: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


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
        self.plot = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=300)
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
                self.sensor = "gyroscope" if "gyroscope" in sensors else sensors[0]
        if self.paused and not force:
            return
        self.plot.object = self._figure(self._frame())

    def _frame(self) -> pd.DataFrame:
        if not self.device or not self.sensor:
            return pd.DataFrame({"time_ns": np.empty(0, np.int64)})
        return self.live.snapshot(self.device, self.sensor, self.seconds)

    def _figure(self, frame: pd.DataFrame) -> Any:
        import holoviews as hv

        from hitting_coach.ui.report_plots import PLOT_COLUMNS, minmax_downsample

        columns, unit = PLOT_COLUMNS.get(self.sensor or "", (("x", "y", "z"), ""))
        columns = (
            tuple(c for c in columns if c in frame)
            or tuple(c for c in frame.columns if c != "time_ns")[:3]
        )
        t_ns = frame["time_ns"].to_numpy(np.int64)
        curves = []
        for c in columns:  # at most ~2,000 points a line, whatever the window and rate
            t_s, v = minmax_downsample(t_ns, frame[c].to_numpy(float), buckets=1000)
            age_s = t_s - (t_ns[-1] - t_ns[0]) / 1e9 if len(t_ns) else t_s
            curves.append(hv.Curve((age_s, v), "seconds ago", "value").relabel(c))
        title = f"{self.device} · {self.sensor}: last {self.seconds:.0f} s ({len(frame)} readings)"
        return hv.Overlay(curves).opts(
            title=title,
            xlabel="seconds (0: the latest reading)",
            ylabel=unit or "value",
            responsive=True,
            height=300,
            legend_position="top_left",
        )

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
