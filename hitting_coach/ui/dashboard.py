"""Live plot components for the dashboard and for notebooks (the only module here that
imports panel and bokeh for the live view).

A served page's plots are fed by the server's one :class:`~hitting_coach.web.live.LiveFeed`
(one read and one encoded frame per device and tick, for all tabs; the browser streams it into
the plots). Without a feed (a notebook cell, a test) each dashboard owns its readers on the hub
and, once per tick, streams only the new points into its Bokeh sources with a rollover: nothing
old is ever resent. Either way the session itself only sends what changed: the status line,
the device list, the swings (as soon as the detector finds one).
"""

from __future__ import annotations

import html
import math
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from importlib.resources import files
from typing import Any, Protocol

import numpy as np
import panel as pn
import param
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    DatetimeTickFormatter,
    Div,
    NoOverlap,
    Range1d,
)
from bokeh.plotting import figure
from panel.io.document import hold
from panel.io.state import set_curdoc

from hitting_coach.analysis.corrections import MarkedLiveSwings
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.ingest.hub import Hub, Reader
from hitting_coach.live_window import LiveWindow
from hitting_coach.sensors import ACCELEROMETER, GYROSCOPE, WRIST_MOTION, live_sensors
from hitting_coach.ui.echoes import drop_browser_streams
from hitting_coach.ui.live_sequence import SequencePlot
from hitting_coach.ui.periodic import every
from hitting_coach.ui.phone_view import PhoneCard
from hitting_coach.ui.shared_status import shared_status, status_text
from hitting_coach.ui.swing_panel import SHRINKS, SwingPanel

__all__ = ["Dashboard", "LivePlot", "status_text"]

_COLORS = {"x": "#d62728", "y": "#2ca02c", "z": "#1f77b4"}
#: Values go to the browser as float32 (the sensors resolve far less); times stay float64 ms.
_VALUE_DTYPE = np.float32
#: The periodic ticks refresh the status line at most this often (it says ages to 0.1 s).
STATUS_EVERY_S = 1.0


#: The plots shown before a device has sent any live sensor (a phone's, the most common).
DEFAULT_PLOTS = (ACCELEROMETER, GYROSCOPE)


def seen_placement(sensors: set[str], placement: str = "") -> str:
    """Where the device's sensors sit: the newest swing's placement, else a guess from what it
    sends (a watch's wrist motion: the wrist; a phone's gyroscope: the belt)."""
    if placement:
        return placement
    wrist = WRIST_MOTION in sensors
    phone = GYROSCOPE in sensors
    return "pelvis+wrist" if wrist and phone else "wrist" if wrist else "pelvis" if phone else ""


def placement_note(sensors: set[str], placement: str = "") -> str:
    """HTML: what the device is seen as, and why the swing list's other columns stay empty."""
    seen = seen_placement(sensors, placement)
    if not seen:
        return (
            '<div class="hc-placement-note">No motion sensor from this device yet: switch on '
            "Accelerometer and Gyroscope (phone) or Wrist Motion (Apple Watch) in Sensor "
            "Logger.</div>"
        )
    says = {
        "wrist": (
            "a watch on the lead wrist (wrist motion)",
            [
                "no belt phone: pelvis not measured, nor the pelvis → hand gap",
                "no bat phone: bat speed not measured",
            ],
        ),
        "pelvis": (
            "a phone on the belt (gyroscope)",
            [
                "no watch: hand speed not measured, nor the pelvis → hand gap",
                "no bat phone: bat speed not measured",
            ],
        ),
        "pelvis+wrist": (
            "a phone on the belt and a watch on the lead wrist",
            ["no bat phone: bat speed not measured"],
        ),
        "bat": (
            "a phone on the bat (gyroscope)",
            ["no belt phone or watch: pelvis and hand not measured"],
        ),
    }
    where, missing = says.get(seen, (seen, []))
    text = f"Sees {where}." + "".join(f" {m[0].upper()}{m[1:]}." for m in missing)
    return f'<div class="hc-placement-note">{html.escape(text)}</div>'


def _empty() -> dict[str, np.ndarray]:
    return {"t": np.empty(0), **{c: np.empty(0, _VALUE_DTYPE) for c in _COLORS}}


#: Swings marked at once on a plot (the newest; older ones have scrolled out of view).
_SWING_MARKS = 8
#: A pushed swing's shading and sequence plot follow its numbers by this much: the browser has
#: painted the numbers by then, even on a busy machine.
_DRAW_AFTER_MS = 100
#: The browser's half of a served page's live plots (see the file's header).
LIVE_PLOT_JS = files("hitting_coach.ui").joinpath("live_plot.js").read_text(encoding="utf-8")


class PageSubscription(Protocol):
    """A page's place in the server's live feed: its token (the page's socket credential)."""

    token: str
    #: called on the server's loop when the followed device's swings change
    on_swings: Callable[[], None] | None


class PageFeed(Protocol):
    """The server's live feed as a served page uses it (:class:`hitting_coach.web.live.LiveFeed`)."""

    def subscribe(self, window_s: float, window_points: int | None = None) -> PageSubscription:
        """A new page: its token goes to the browser, which connects to ``live.ws`` with it."""
        ...

    def follow(self, token: str, device: str | None) -> None:
        """The page now shows ``device``."""
        ...

    def drop(self, token: str) -> None:
        """The page's session ended."""
        ...


class LivePlot:
    """One sensor's x/y/z lines on its own time axis, fed by a hub reader.

    The window is ``window_s`` seconds of the newest readings, or, when ``window`` (points) is
    given, the last ``window`` readings (the Flask/Dash server's 200): the points setting wins.
    Values are multiplied by ``scale`` (the gyroscope is shown in °/s, like the swing numbers).
    ``y_range`` is fixed; the time axis follows the data until the user zooms or pans, and
    then stays where the user put it. Detected swings are shaded (``mark_swings``).
    """

    def __init__(
        self,
        sensor: str,
        title: str,
        y_label: str,
        y_range: tuple[float, float],
        window: int | None = None,
        window_s: float = 10.0,
        scale: float = 1.0,
        columns: tuple[str, str, str] = ("x", "y", "z"),
        x_range: DataRange1d | None = None,
    ) -> None:
        self.sensor = sensor
        #: the value keys drawn as the x, y and z lines (a watch's rotationRateX, ...)
        self.columns = columns
        self.window = window or None
        self.window_s = window_s
        #: what the plot shows (the same rule as a served page's browser applies)
        self.live_window = LiveWindow(window_s, window)
        self.scale = scale
        self.reader: Reader | None = None
        # streamed by the kernel in a notebook: never by a browser (see ui/echoes.py)
        self.source = drop_browser_streams(ColumnDataSource(_empty(), name=f"{sensor}-source"))
        self.figure = figure(
            name=f"{sensor}-figure",
            css_classes=[f"hc-{sensor.replace(' ', '-')}-figure"],  # a class has no space
            title=title,
            x_axis_type="datetime",
            # one device's plots share their time axis (a zoom on one zooms all)
            x_range=x_range or DataRange1d(range_padding=0, only_visible=True),
            y_range=Range1d(*y_range),
            height=300,
            sizing_mode="stretch_width",
            min_width=0,  # fit a phone's screen; the last time label keeps its room:
            min_border_right=36,
            tools="pan,wheel_zoom,box_zoom,reset,save",
            # no drag tool active: on a phone a finger on a plot scrolls the page (tap the pan
            # tool to pan); the mouse wheel still zooms
            active_drag=None,
            active_scroll="wheel_zoom",
            toolbar_location="above",
            output_backend="canvas",
        )
        self.figure.yaxis.axis_label = y_label
        self.figure.xaxis.formatter = DatetimeTickFormatter(
            milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S", minsec="%H:%M:%S", context=None
        )
        # on a phone's narrow plot, time labels that would overlap are left out
        self.figure.xaxis.major_label_policy = NoOverlap()
        self.marks = [
            BoxAnnotation(
                name=f"{sensor}-swing-{i}",
                visible=False,
                # numbers from the start: Bokeh's default edges are models (the frame's), and
                # replacing a model makes the document walk all its models again (slow)
                left=0.0,
                right=0.0,
                fill_color="#ff9f1c",
                fill_alpha=0.25,
                line_color="#b35900",
                line_alpha=0.8,
                level="underlay",
            )
            for i in range(_SWING_MARKS)
        ]
        for box in self.marks:
            self.figure.add_layout(box)
        for column, color in _COLORS.items():
            self.figure.line(
                "t", column, source=self.source, color=color, line_width=1, legend_label=column
            )
        self.figure.legend.location = "top_left"
        self.figure.legend.orientation = "horizontal"

    def follow(self, hub: Hub, device: str) -> None:
        """Show ``device``: clear the lines and start from its last window of readings."""
        self.reader = hub.reader(device, self.sensor, backlog=self.live_window.backlog)
        self.source.data = _empty()

    def update(self) -> int:
        """Stream what is new since the last update; returns the number of points sent."""
        if self.reader is None:
            return 0
        columns, time_ns, values = self.reader.read_arrays(last=self.window)
        if len(time_ns) == 0:
            return 0
        t_ms = time_ns / 1e6
        if self.window is None:  # a window in seconds: keep what is newer than the cutoff
            shown = np.asarray(self.source.data["t"], dtype=float)
            kept = self.live_window.kept(np.concatenate([shown, t_ms]))
            fresh = kept[len(shown) :]
            t_ms, values = t_ms[fresh], values[:, fresh]
            if len(t_ms) == 0:
                return 0
            rollover = int(np.count_nonzero(kept[: len(shown)])) + len(t_ms)
        else:
            rollover = self.window
        new: dict[str, np.ndarray] = {"t": t_ms}
        for column, key in zip(_COLORS, self.columns, strict=True):
            new[column] = (
                values[columns.index(key)] * self.scale
                if key in columns
                else np.full(len(t_ms), np.nan)
            )
        for column in _COLORS:  # values as float32 on the wire; times stay float64 ms
            new[column] = new[column].astype(_VALUE_DTYPE)
        self.source.stream(new, rollover=rollover)
        return len(t_ms)

    def mark_swings(self, spans_ns: list[tuple[int, int]], oldest_ms: float | None = None) -> None:
        """Shade the swings (start, end) that are still in the window (from ``oldest_ms``, or
        the oldest point this source holds); the newest win."""
        if oldest_ms is None:
            shown = self.source.data["t"]
            oldest_ms = float(np.min(shown)) if len(shown) else math.inf
        spans = [(a / 1e6, b / 1e6) for a, b in spans_ns if b / 1e6 >= oldest_ms]
        spans = spans[-len(self.marks) :]
        for i, box in enumerate(self.marks):
            if i < len(spans):
                left, right = spans[i]
                if (box.left, box.right, box.visible) != (left, right, True):
                    box.update(left=left, right=right, visible=True)
            elif box.visible:
                box.visible = False


class Dashboard(pn.viewable.Viewer):
    """The live view: device picker, status line, swing panel, accelerometer and gyroscope."""

    device = param.Selector(default=None, objects=[], doc="Device whose sensors are shown.")

    def __init__(
        self,
        hub: Hub,
        status: Any = None,
        window: int | None = None,
        period_ms: int = 500,
        swings: LiveSwings | MarkedLiveSwings | None = None,
        window_s: float = 10.0,
        players: Callable[[], dict[str, str]] | None = None,
        feed: PageFeed | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.hub = hub
        self.window, self.window_s = window or None, window_s
        #: ``{device_id: player name}`` (read again with the status line): the picker shows names.
        self._players = players or dict
        self._labels: dict[str, str] = {}
        self._status = status or hub.status
        self._shared = shared_status(hub, self._status)
        self._status_due = 0.0
        self.swings = swings
        shared_x = DataRange1d(range_padding=0, only_visible=True, name="live-x-range")
        self.plots = [
            LivePlot(
                name,
                v.title,
                v.axis_label,
                v.y_range,
                window,
                window_s,
                scale=v.scale,
                columns=v.columns,
                x_range=shared_x,
            )
            for name, v in live_sensors().items()
        ]
        self.sequence = SequencePlot() if swings is not None else None
        self._rows: tuple[Any, list[dict[str, Any]]] = (None, [])
        doc = pn.state.curdoc
        served = feed is not None and doc is not None and doc.session_context is not None
        #: the status line: in a served page a plain Bokeh Div, whose text the page's feed sets
        #: in the browser; elsewhere (a notebook, where a Div in a Bokeh pane stops the plots
        #: updating) Panel's HTML pane
        self.status_div = (
            Div(text="", css_classes=["hc-status"], sizing_mode="stretch_width") if served else None
        )
        self.status_line = (
            pn.pane.Bokeh(self.status_div, sizing_mode="stretch_width")
            if served
            else pn.pane.HTML("", css_classes=["hc-status"], sizing_mode="stretch_width")
        )
        self.picker = pn.widgets.Select.from_param(
            self.param.device, name="Device", width=320, visible=False
        )
        self.swing_panel = SwingPanel(swings) if swings is not None else None
        #: The phone's first screen (hidden on wide screens); the app puts it at the top.
        self.phone_card = PhoneCard(swings) if swings is not None else None
        #: The picker, status line and swing panel; :attr:`charts` the sequence and live plots.
        #: A page serves them as two roots: a change of size in one (a new row in the swing
        #: list, a new status line) then lays out that root again, not the plots as well.
        self.controls = pn.Column(
            pn.FlexBox(
                self.picker, self.status_line, flex_wrap="wrap", sizing_mode="stretch_width"
            ),
            *([self.swing_panel] if self.swing_panel is not None else []),
            sizing_mode="stretch_width",
            stylesheets=[SHRINKS],
        )
        #: What the device's sensors show and what they cannot ("no belt phone: pelvis not
        #: measured"), above the swing list.
        self.placement_note = pn.pane.HTML(
            "", css_classes=["hc-placement"], sizing_mode="stretch_width", stylesheets=[SHRINKS]
        )
        self._note_key: Any = None
        self.controls.insert(1, self.placement_note)
        #: each live sensor's plot pane: shown when the device sends that sensor
        self.plot_panes = {
            p.sensor: pn.pane.Bokeh(
                p.figure,
                sizing_mode="stretch_width",
                css_classes=[f"hc-{p.sensor.replace(' ', '-')}"],
                stylesheets=[SHRINKS],
                visible=p.sensor in DEFAULT_PLOTS,
            )
            for p in self.plots
        }
        self.charts = pn.Column(
            *(
                [
                    pn.pane.Bokeh(
                        self.sequence.figure,
                        sizing_mode="stretch_width",
                        css_classes=["hc-sequence"],
                        stylesheets=[SHRINKS],
                    )
                ]
                if self.sequence is not None
                else []
            ),
            *self.plot_panes.values(),
            sizing_mode="stretch_width",
            stylesheets=[SHRINKS],
        )
        self._layout = pn.Column(
            self.controls, self.charts, sizing_mode="stretch_width", stylesheets=[SHRINKS]
        )
        self._feed = self._subscribe(feed, doc) if served else None
        self.tick()
        if self._feed is not None:  # the feed streams the plots: the session ticks for the
            period_ms = max(period_ms, int(STATUS_EVERY_S * 1000))  # status line and devices
        self._stop_ticks = every(self._periodic, period_ms)

    @property
    def status_html(self) -> str:
        """What the status line shows (set by the server; in a served page, by its feed once
        a device is shown)."""
        return self.status_div.text if self.status_div is not None else self.status_line.object

    def _show_status(self, text: str) -> None:
        if self.status_div is not None:
            self.status_div.text = text
        else:
            self.status_line.object = text

    def _subscribe(self, feed: PageFeed, doc: Any) -> tuple[PageFeed, str]:
        """In a served page (``doc``, the session's document), let ``feed`` stream the plots:
        the page's browser connects to it once its document is ready; the subscription ends
        with the session."""
        sub = feed.subscribe(self.window_s, self.window)
        doc.js_on_event(
            "document_ready",
            CustomJS(
                args={
                    "sources": {p.sensor: p.source for p in self.plots},
                    # one shared range (the plots' time axes are linked), listed once
                    "ranges": list(
                        {id(p.figure.x_range): p.figure.x_range for p in self.plots}.values()
                    ),
                    "status": self.status_div,
                    "token": sub.token,
                    **LiveWindow(self.window_s, self.window).js_args(),
                },
                code=LIVE_PLOT_JS,
            ),
        )
        doc.on_session_destroyed(lambda _context: feed.drop(sub.token))
        pn.state.onload(self._draw_again)
        sub.on_swings = lambda: doc.add_next_tick_callback(partial(self._swings_pushed, doc))
        return feed, sub.token

    @param.depends("device", watch=True)
    def _follow(self) -> None:
        self._status_due = 0.0  # the status line names this device's rates
        if self._feed is not None:
            feed, token = self._feed
            feed.follow(token, self.device)
            return
        for plot in self.plots:
            if self.device is not None:
                plot.follow(self.hub, self.device)

    def tick(self, fresh: bool = True) -> None:
        """One update: new devices, new points, the status line.

        The periodic ticks (``fresh=False``) take the device list and status that all sessions
        share (see :mod:`hitting_coach.ui.shared_status`) and refresh the status line once
        every :data:`STATUS_EVERY_S`, only sending it when its text changed."""
        devices = self._shared.devices(fresh)
        now = time.monotonic()
        status_due = fresh or now >= self._status_due
        if devices != self.param.device.objects:
            self.param.device.objects = list(devices)
            self.picker.visible = len(devices) > 1
            if self.device is None and devices:
                self.device = devices[0]
            self._labels = {}  # the new objects reset the picker's options to bare ids
        if status_due or not self._labels:
            names = self._players()
            labels = {d: names.get(d, d) for d in devices}
            taken = Counter(labels.values())  # two devices of one player: both stay pickable
            labels = {
                d: name if taken[name] == 1 else f"{name} ({d})" for d, name in labels.items()
            }
            if labels != self._labels:
                self._labels = labels
                self.picker.options = {label: d for d, label in labels.items()}
        if status_due or self._note_key is None:
            self._show_placement()
        for plot in self.plots:
            plot.update()
        self._update_swings()
        if status_due and (self._feed is None or self.device is None or fresh):
            self._status_due = now + STATUS_EVERY_S  # (a served page's feed sends the line)
            text = status_text(self._shared.status(fresh), self.device)
            if text != self.status_html:
                self._show_status(text)

    def _show_placement(self) -> None:
        """Show the plots of the sensors the device sends, and say what they measure."""
        sensors = set(self.hub.sensors(self.device)) if self.device is not None else set()
        rows = self._swing_rows() if self.swings is not None else []
        placement = str(rows[-1].get("placement") or "") if rows else ""
        key = (self.device, frozenset(sensors), placement)
        if key == self._note_key:
            return
        self._note_key = key
        plotted = {p.sensor for p in self.plots} & sensors or set(DEFAULT_PLOTS)
        for sensor, pane in self.plot_panes.items():
            if pane.visible != (sensor in plotted):
                pane.visible = sensor in plotted
        text = placement_note(sensors, placement) if self.device is not None else ""
        if self.placement_note.object != text:
            self.placement_note.object = text

    def _update_swings(self) -> None:
        """The swing panel, phone card, shading and sequence plot (each sends only changes)."""
        if self.swing_panel is None:
            return
        self._show_numbers()
        self._draw_swings()

    def _show_numbers(self) -> None:
        """The swing panel and phone card."""
        self.swing_panel.update(self.device)
        self.phone_card.update(self.device)

    def _draw_swings(self) -> None:
        """The shading on the live plots and the newest swing's sequence plot."""
        rows = self._swing_rows()
        spans = [(r["start_ns"], r["end_ns"]) for r in rows if r.get("end_ns") is not None]
        oldest_ms = self._window_start_ms() if self._feed is not None else None
        for plot in self.plots:
            plot.mark_swings(spans, oldest_ms)
        self.sequence.show(self.hub, self.device, rows[-1] if rows else None)

    def _draw_again(self) -> None:
        """The page's browser has built its document: send the swings' shading, sequence plot
        and the placement note again. BokehJS drops the changes that arrive while it builds
        the document it pulled; a swing shaded in that moment stayed unshaded in the browser
        for good (the server sends a box's ``visible`` only when it changes, and it stayed
        True). (Which sensors' plots show is not sent again: toggling a pane's visibility
        loses its canvas.)"""
        if self.swing_panel is None:
            return
        for plot in self.plots:
            for box in plot.marks:
                box.update(left=0.0, right=0.0, visible=False)
        self.sequence.forget()
        self._note_key = None
        self.placement_note.object = ""
        self._show_placement()
        self._draw_swings()

    def _window_start_ms(self) -> float:
        """Where the browser's plots start (fed by the feed, the server holds no points)."""
        if self.device is None:
            return math.inf
        starts = []
        for plot in self.plots:
            _, time_ns, _, _, _ = self.hub.read(self.device, plot.sensor, 0, last=self.window or 1)
            if len(time_ns):
                newest = float(time_ns.max()) / 1e6
                starts.append(
                    float(time_ns.min()) / 1e6
                    if self.window
                    else plot.live_window.cutoff_ms(newest)
                )
        return min(starts) if starts else math.inf

    def _swings_pushed(self, doc: Any) -> None:
        """The detector found a swing on this page's device: its numbers now, the shading and
        sequence plot a moment later. Drawn together, the browser shows the numbers only once
        it has painted three plots again (tens of ms more on a busy machine)."""
        if self.swing_panel is None:
            return
        with set_curdoc(doc), hold():
            self._show_numbers()
        doc.add_timeout_callback(partial(self._swings_drawn, doc), _DRAW_AFTER_MS)

    def _swings_drawn(self, doc: Any) -> None:
        with set_curdoc(doc), hold():
            self._draw_swings()

    def _swing_rows(self) -> list[dict[str, Any]]:
        """The device's swings, read again only when they changed."""
        device = self.device
        if device is None:
            return []
        if isinstance(self.swings, MarkedLiveSwings):
            revision: Any = (device, self.swings.revision(device))
        else:
            revision = (device, self.swings.count(device))
        if revision != self._rows[0]:
            self._rows = (revision, self.swings.rows(device))
        return self._rows[1]

    def _periodic(self) -> None:
        with hold():  # one message per tick: both plots' streams and the status line together
            self.tick(fresh=False)

    def stop(self) -> None:
        self._stop_ticks()
        if self._feed is not None:
            feed, token = self._feed
            feed.drop(token)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
