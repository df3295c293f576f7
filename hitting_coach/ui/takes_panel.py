"""The take controls of the dashboard: a name, Start and Stop, and the last takes.

A take marks a time range of the device's stream (the recorder stores it; see
:mod:`hitting_coach.store.takes`); recording itself never stops. Only this module and the other
plotting modules import panel.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import panel as pn
import param

from hitting_coach.errors import RecordingError
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.takes import Take
from hitting_coach.ui.periodic import every

__all__ = ["TakesPanel"]


def _clock(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9).astimezone().strftime("%H:%M:%S")


def _length(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{secs:02d}"


class TakesPanel(pn.viewable.Viewer):
    """Start/stop a named take on ``device`` (default: the first device the hub has seen)."""

    device = param.String(
        default=None, allow_None=True, allow_refs=True, doc="Device the takes are on."
    )

    def __init__(
        self, recorder: Recorder, hub: Any = None, period_ms: int = 1000, **params: Any
    ) -> None:
        super().__init__(**params)
        self.recorder = recorder
        self.hub = hub
        self.name_input = pn.widgets.TextInput(
            label="Take name", placeholder="e.g. tee work", width=220, css_classes=["hc-take-name"]
        )
        self.start_button = pn.widgets.Button(
            label="● Start take", color="success", width=120, css_classes=["hc-take-start"]
        )
        self.stop_button = pn.widgets.Button(
            label="■ Stop take",
            color="danger",
            width=120,
            disabled=True,
            css_classes=["hc-take-stop"],
        )
        self.state = pn.pane.HTML("", css_classes=["hc-take-state"], sizing_mode="stretch_width")
        self.recent = pn.pane.HTML("", css_classes=["hc-takes"], sizing_mode="stretch_width")
        self.start_button.on_click(self._start)
        self.stop_button.on_click(self._stop)
        self._message = ""
        self._layout = pn.Column(
            pn.FlexBox(  # wraps on a phone instead of overflowing
                self.name_input,
                pn.Column(pn.Spacer(height=18), pn.Row(self.start_button, self.stop_button)),
                pn.Column(pn.Spacer(height=24), self.state, min_width=200),
                flex_wrap="wrap",
                sizing_mode="stretch_width",
            ),
            self.recent,
            sizing_mode="stretch_width",
        )
        self.refresh()
        self._stop_refresh = every(self.refresh, period_ms)

    def current_device(self) -> str | None:
        if self.device:
            return self.device
        devices = self.hub.devices() if self.hub is not None else []
        return devices[0] if devices else None

    def _start(self, event: Any = None) -> None:
        device = self.current_device()
        if device is None:
            self._message = "No device is streaming yet: start Sensor Logger first."
        else:
            try:
                take = self.recorder.start_take(device, self.name_input.value or "")
                self._message = ""
                self.name_input.value = ""
                self.name_input.placeholder = f"after “{take.name}”, e.g. live BP"
            except RecordingError as e:
                self._message = f"Cannot start the take: {e}"
        self.refresh()

    def _stop(self, event: Any = None) -> None:
        device = self.current_device()
        if device is not None:
            try:
                take = self.recorder.stop_take(device)
                self._message = (
                    f"Saved “{take.name}” ({_length(take.duration_s or 0)})." if take else ""
                )
            except RecordingError as e:
                self._message = f"Cannot stop the take: {e}"
        self.refresh()

    def refresh(self) -> None:
        """Redraw the state line and the recent takes (a periodic callback)."""
        device = self.current_device()
        running = self.recorder.running_take(device) if device else None
        self.start_button.disabled = device is None or running is not None
        self.stop_button.disabled = running is None
        if running is not None:
            elapsed = (self.recorder.device_time_ns(running.device_id) - running.start_ns) / 1e9
            text = f"● Recording take <b>{html.escape(running.name)}</b> · {_length(elapsed)}"
        else:
            text = html.escape(self._message) or "No take running."
        recent = self._recent_html(device)
        if text != self.state.object:  # only what changed goes to the browser
            self.state.object = text
        if recent != self.recent.object:
            self.recent.object = recent

    def _recent_html(self, device: str | None, last: int = 5) -> str:
        try:
            takes: list[Take] = [t for t in self.recorder.takes() if t.device_id == device]
        except Exception as e:  # the panel must keep working if the file is unreadable
            return f"<i>takes unavailable: {html.escape(str(e))}</i>"
        if not takes:
            return ""
        rows = "".join(
            f"<tr><td>{html.escape(t.name)}</td><td>{_clock(t.start_ns)}</td>"
            f"<td>{'running' if t.end_ns is None else _length(t.duration_s or 0)}</td></tr>"
            for t in reversed(takes[-last:])
        )
        return (
            "<table class='hc-takes-table'><tr><th>Take</th><th>Start</th><th>Length</th></tr>"
            f"{rows}</table>"
        )

    def stop(self) -> None:
        self._stop_refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
