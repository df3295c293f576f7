"""A live sensor stream as a HoloViews ``Buffer``: a pandas DataFrame that grows as readings
arrive, for ``hv.DynamicMap(hv.Curve, streams=[buffer])`` in a notebook or a ``panel serve`` app.

The readings reach a :class:`~hitting_coach.ingest.hub.Hub` on their own thread (a
:class:`~hitting_coach.client.LiveSession`'s poller or MQTT client, or the server's ingest);
the buffer only reads what is new through its own cursor (:class:`~hitting_coach.ingest.hub.Reader`)
in a Panel periodic callback. That callback runs where Bokeh models may be changed: on the
session's document (with its lock) under ``panel serve``, on the kernel's event loop in a
notebook (HoloViews then pushes the change over the notebook's comm). The feeding thread never
touches HoloViews or Bokeh, and nothing blocks the kernel: each tick copies only the new rows.

Each frame has ``time`` and the sensor's value columns from the sensor registry
(:data:`hitting_coach.sensors.SENSORS`), in the units Sensor Logger sends them. ``time`` is
milliseconds since the epoch (UTC) as floats, what a Bokeh datetime axis holds, not datetime64:
in a notebook, Panel's comm sends every chunk the browser applied back to the kernel (its
``CommManager`` ignores Bokeh's ``sync`` flag), with times as millisecond floats, and Bokeh
appends them to the kernel's copy of the column with ``np.append``, which NumPy 2 refuses for
datetime64 and float (``DTypePromotionError``: bokeh ``PropertyValueColumnData._stream``). With
float times the kernel's copy and the browser's agree in type. :data:`TIME_AXIS` (or
``buffer.time_axis``) draws the axis as dates and times; :meth:`SensorBuffer.frame` gives the
window with ``time`` as pandas datetimes.
"""

from __future__ import annotations

import logging
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import DatetimeTicker, DatetimeTickFormatter

from hitting_coach.compat import buffer_concat, set_buffer_chunk_rows
from hitting_coach.errors import ConfigError
from hitting_coach.ingest.hub import Hub, Reader
from hitting_coach.sensors import SENSORS
from hitting_coach.ui.echoes import drop_browser_streams

__all__ = ["TIME_AXIS", "SensorBuffer", "buffer_columns", "datetime_axis", "ignore_echoes"]

log = logging.getLogger(__name__)


def datetime_axis(plot: Any, element: Any) -> None:
    """A HoloViews hook: the x axis of ``plot`` (milliseconds since the epoch) ticked and
    labelled as UTC dates and times, as Bokeh's datetime axis is."""
    axis = plot.state.xaxis[0]
    if not isinstance(axis.ticker, DatetimeTicker):  # hooks run on every update: once
        axis.ticker = DatetimeTicker()
        axis.formatter = DatetimeTickFormatter()


def ignore_echoes(plot: Any, element: Any) -> None:
    """A HoloViews hook: the plot's data source takes no stream sent back by a browser
    (:func:`hitting_coach.ui.echoes.drop_browser_streams`): in a notebook each chunk came
    back over Panel's comm and sat twice in the kernel's copy, out of time order, and a later
    full sync of the output showed the line going back in time."""
    source = plot.handles.get("source")
    if source is not None:
        drop_browser_streams(source)


#: Options for a plot of a buffer: ``hv.DynamicMap(hv.Curve, streams=[b]).opts(TIME_AXIS)``:
#: the time axis as dates and times, and no echo of the browser taken (:func:`ignore_echoes`).
TIME_AXIS = hv.Options("Curve", hooks=[datetime_axis, ignore_echoes], xlabel="time (UTC)")


def buffer_columns(hub: Hub, device: str, sensor: str) -> tuple[str, ...]:
    """The value columns of ``sensor``'s frames: the registry's, else what the hub holds.
    Raises ConfigError for a sensor with neither (nothing to make columns of)."""
    known = SENSORS.get(sensor)
    if known is not None and known.columns:
        return known.columns
    if sensor in hub.sensors(device):
        columns = hub.read(device, sensor, 0, last=1)[0]
        if columns:
            return tuple(columns)
    raise ConfigError(
        f"sensor {sensor!r} has no known columns and {device!r} has not sent it yet: "
        f"known sensors are {', '.join(s for s, v in SENSORS.items() if v.columns)}"
    )


class SensorBuffer(hv.streams.Buffer):
    """One device's sensor, live, as a HoloViews :class:`~holoviews.streams.Buffer`.

    Keeps the last ``seconds`` of readings (by reading time), or the last ``rows`` readings
    when given instead. ``backlog``: readings already in the hub to start with. Call
    :meth:`start` (done by :meth:`LiveSession.buffer <hitting_coach.client.LiveSession.buffer>`)
    to pull every ``period_ms`` from a Panel periodic callback, or :meth:`pull` yourself.
    A device that has not sent yet is waited for. ``late`` counts readings dropped because
    they were older than the newest already streamed (a plot's line cannot go back).
    """

    def __init__(
        self,
        hub: Hub,
        device: str,
        sensor: str,
        seconds: float | None = 10.0,
        rows: int | None = None,
        backlog: int = 5_000,
        period_ms: int = 250,
    ) -> None:
        if rows is not None:
            if rows < 1:
                raise ConfigError(f"rows must be at least 1, not {rows}")
            seconds = None
        elif seconds is None or not seconds > 0:
            raise ConfigError(f"give a window of seconds > 0 or a number of rows, not {seconds}")
        self.hub, self.device, self.sensor = hub, device, sensor
        self.columns = buffer_columns(hub, device, sensor)
        self.seconds = seconds
        self.period_ms = period_ms
        self.backlog = backlog
        self.late = 0
        #: The last error of a periodic pull (logged once), None while all is well.
        self.error: str | None = None
        self._reader: Reader | None = None
        self._newest_ns: int | None = None
        self._callback: Any = None
        empty = pd.DataFrame({c: np.empty(0, float) for c in ("time", *self.columns)})
        # A window in seconds holds a varying number of rows: ``length`` follows it (see
        # _concat), so a plot's data source keeps as many rows as the window (its rollover).
        super().__init__(empty, length=rows or 0, index=False)

    #: Options that draw the time axis as dates and times (see :data:`TIME_AXIS`).
    time_axis = TIME_AXIS

    def frame(self) -> pd.DataFrame:
        """The window now, with ``time`` as pandas datetimes (UTC, to the microsecond: a
        float of milliseconds since the epoch holds no finer), for pandas."""
        data = self.data.copy()
        data["time"] = pd.to_datetime(data["time"], unit="ms", utc=True).dt.round("us")
        return data

    def __repr__(self) -> str:
        window = f"{self.seconds:g} s" if self.seconds else f"{self.length} rows"
        return f"<SensorBuffer {self.device} · {self.sensor}: {window}, {len(self.data)} rows>"

    # ------------------------------------------------------------------------- feeding
    def start(self) -> SensorBuffer:
        """Pull from a Panel periodic callback (on the session's document when served, on
        the kernel's event loop in a notebook). Calling it again does nothing."""
        if self._callback is None:
            self.pull()
            self._callback = pn.state.add_periodic_callback(self._tick, period=self.period_ms)
        return self

    def stop(self) -> None:
        """Stop pulling; the frame keeps what it has."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    @property
    def running(self) -> bool:
        return self._callback is not None and self._callback.running

    def _tick(self) -> None:
        try:
            self.pull()
        except Exception as e:  # a periodic callback that raises stops: say why, keep going
            if self.error is None:
                log.exception("live buffer %s · %s: cannot update", self.device, self.sensor)
            self.error = f"{type(e).__name__}: {e}"

    def pull(self) -> int:
        """Send what the hub got since the last pull to the plots; returns the rows sent."""
        if self._reader is None:
            if self.sensor not in self.hub.sensors(self.device):
                return 0
            self._reader = self.hub.reader(self.device, self.sensor, backlog=self.backlog)
        columns, time_ns, values = self._reader.read_arrays()
        if not len(time_ns):
            return 0
        if self._newest_ns is not None:
            keep = time_ns > self._newest_ns
            self.late += int(len(keep) - keep.sum())
            time_ns, values = time_ns[keep], values[:, keep]
            if not len(time_ns):
                return 0
        self._newest_ns = int(time_ns[-1])
        index = {c: i for i, c in enumerate(columns)}
        chunk = pd.DataFrame(
            {"time": time_ns / 1e6}  # ms since the epoch: see the module docstring
            | {
                c: values[index[c]].astype(float) if c in index else np.full(len(time_ns), np.nan)
                for c in self.columns
            }
        )
        self.send(chunk)
        return len(chunk)

    def _concat(self, data: pd.DataFrame) -> pd.DataFrame:  # Buffer's private hook: see compat
        if self.seconds is None:
            return buffer_concat(self, data)
        whole = pd.concat([self.data, data], ignore_index=True) if len(self.data) else data
        t = whole["time"].to_numpy(float)
        start = int(np.searchsorted(t, t[-1] - self.seconds * 1e3))
        whole = whole.iloc[start:].reset_index(drop=True)
        # HoloViews streams the last chunk's rows to a plot with ``length`` as the rollover.
        # It only grows: BokehJS cannot roll a typed column over to fewer rows than it holds
        # (``stream_to_column`` then writes the new rows short of the end and leaves stale
        # ones after them, so the line's end goes back in time and stays there). A plot may
        # so hold a few rows older than the window; its axis still spans the window (HoloViews
        # takes the range from this frame).
        self.length = max(self.length, len(whole))
        set_buffer_chunk_rows(self, min(len(data), len(whole)))
        return whole
