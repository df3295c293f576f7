"""The live sensor stream as a HoloViews Buffer (ui.live_buffer), fed from a hub."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import orjson
import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.models import DatetimeTicker

from hitting_coach.errors import ConfigError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ui.live_buffer import SensorBuffer

T0 = 1_767_000_000_000_000_000


def send(hub: Hub, start_s: float, n: int, rate_hz: float = 100.0, message_id: int = 1) -> None:
    payload = [
        {
            "name": "gyroscope",
            "time": T0 + int((start_s + i / rate_hz) * 1e9),
            "values": {"x": float(i), "y": 0.0, "z": -1.0},
        }
        for i in range(n)
    ]
    message = {"messageId": message_id, "sessionId": "s", "deviceId": "d", "payload": payload}
    hub.ingest(orjson.dumps(message), source="test")


def test_a_window_in_seconds_keeps_the_last_seconds_and_the_plot_holds_the_same_rows():
    hub = Hub(capacity=10_000)
    send(hub, 0, 500)  # 5 s at 100 Hz
    buffer = SensorBuffer(hub, "d", "gyroscope", seconds=2)
    assert buffer.pull() == 500
    assert list(buffer.data.columns) == ["time", "x", "y", "z"]
    assert buffer.data["time"].dtype == np.dtype(float)  # ms since the epoch
    assert len(buffer.data) == 201  # 2 s at 100 Hz, both ends
    assert buffer.frame()["time"].iloc[-1] == pd.Timestamp(T0 + int(4.99e9), unit="ns", tz="UTC")
    plot = hv.renderer("bokeh").get_plot(hv.DynamicMap(hv.Curve, streams=[buffer]))
    source = plot.handles["source"]
    for k in range(3):  # the phone goes on sending: the plot streams what is new
        send(hub, 5 + k, 100, message_id=2 + k)
        assert buffer.pull() == 100
        newest = buffer.data["time"].iloc[-1]
        assert newest == pytest.approx((T0 + (5 + k + 0.99) * 1e9) / 1e6, abs=1e-3)
        assert len(buffer.data) == 201
        assert len(source.data["x"]) == 201
        assert source.data["x"].tolist() == buffer.data["x"].tolist()
    assert buffer.pull() == 0  # nothing new


def test_a_window_in_rows_and_late_readings():
    hub = Hub(capacity=10_000)
    send(hub, 0, 300)
    buffer = SensorBuffer(hub, "d", "gyroscope", rows=50)
    buffer.pull()
    assert len(buffer.data) == 50 and buffer.data["x"].iloc[-1] == 299
    send(hub, 1.0, 10, message_id=2)  # older than what was streamed: a line cannot go back
    assert buffer.pull() == 0 and buffer.late == 10
    assert len(buffer.data) == 50


def test_a_device_not_seen_yet_is_waited_for_and_bad_windows_are_refused():
    hub = Hub(capacity=1_000)
    buffer = SensorBuffer(hub, "d", "gyroscope")
    assert buffer.pull() == 0 and len(buffer.data) == 0
    send(hub, 0, 10)
    assert buffer.pull() == 10
    with pytest.raises(ConfigError, match="rows must be at least 1"):
        SensorBuffer(hub, "d", "gyroscope", rows=0)
    with pytest.raises(ConfigError, match="seconds > 0"):
        SensorBuffer(hub, "d", "gyroscope", seconds=0)
    with pytest.raises(ConfigError, match="has no known columns"):
        SensorBuffer(hub, "d", "location")


def test_the_browser_sending_a_streamed_chunk_back_changes_nothing_it_shows():
    """In a notebook, Panel's comm sends every chunk the browser applied back to the kernel,
    times as millisecond floats (the cause of a DTypePromotionError with datetime64 times):
    the kernel's Bokeh document takes the message without error and its copy of the line
    stays as it was (applied, the chunk sat twice, out of time order, and a later sync showed
    the line going back in time: a clean-clone CI run), and the axis is still drawn as dates."""
    hub = Hub(capacity=10_000)
    send(hub, 0, 100)
    buffer = SensorBuffer(hub, "d", "gyroscope", seconds=2)
    buffer.pull()
    dmap = hv.DynamicMap(hv.Curve, streams=[buffer]).opts(buffer.time_axis)
    plot = hv.renderer("bokeh").get_plot(dmap)
    source = plot.handles["source"]
    doc = Document()
    doc.add_root(plot.state)
    send(hub, 1, 10, message_id=2)
    buffer.pull()  # streamed to the plot by HoloViews
    sent = source.data["time"][-10:].tolist()
    assert len(source.data["time"]) == 110
    echo = {  # what the browser's comm sends back: the same chunk, times as floats
        "events": [
            {
                "kind": "ColumnsStreamed",
                "model": {"id": source.id},
                "attr": "data",
                "data": {
                    "type": "map",
                    "entries": [["time", sent], ["x", list(range(100, 110))]],
                },
                "rollover": buffer.length,
            }
        ]
    }
    before = {k: np.array(v).tolist() for k, v in source.data.items()}
    doc.apply_json_patch(echo, setter="browser")
    assert {k: np.array(v).tolist() for k, v in source.data.items()} == before
    assert (np.diff(source.data["time"]) > 0).all()
    send(hub, 2, 10, message_id=3)  # the kernel's own streams still go through
    buffer.pull()
    assert source.data["time"][-1] == buffer.data["time"].iloc[-1]
    assert (np.diff(source.data["time"]) > 0).all()
    assert source.data["time"].dtype == np.dtype(float)
    assert isinstance(plot.state.xaxis[0].ticker, DatetimeTicker)
    assert plot.state.xaxis[0].axis_label == "time (UTC)"


def test_the_plots_rollover_never_shrinks_so_its_line_always_ends_at_the_newest_reading():
    """BokehJS cannot roll a typed column over to fewer rows than it holds (it leaves stale
    rows at the end): when the window holds fewer readings (the phone slowed down), the
    rows a plot keeps stay as many; the buffer's frame is still the window."""
    hub = Hub(capacity=10_000)
    send(hub, 0, 200)  # 2 s at 100 Hz
    buffer = SensorBuffer(hub, "d", "gyroscope", seconds=1)
    buffer.pull()
    assert len(buffer.data) == buffer.length == 101
    plot = hv.renderer("bokeh").get_plot(hv.DynamicMap(hv.Curve, streams=[buffer]))
    source = plot.handles["source"]
    for k in range(4):  # then 2 s at 50 Hz, sent every 0.5 s: 51 readings in the window
        send(hub, 2 + k / 2, 25, rate_hz=50, message_id=2 + k)
        assert buffer.pull() == 25
    assert len(buffer.data) == 51 and buffer.frame()["time"].is_monotonic_increasing
    assert buffer.length == 101  # the rollover the plot streams with
    assert len(source.data["time"]) == 101
    assert source.data["time"][-1] == buffer.data["time"].iloc[-1]
    assert (np.diff(source.data["time"]) > 0).all()
