"""The live sensor stream as a HoloViews Buffer (ui.live_buffer), fed from a hub."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import orjson
import pytest

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
    assert buffer.data["time"].dtype == np.dtype("datetime64[ns]")
    assert len(buffer.data) == 201  # 2 s at 100 Hz, both ends
    plot = hv.renderer("bokeh").get_plot(hv.DynamicMap(hv.Curve, streams=[buffer]))
    source = plot.handles["source"]
    for k in range(3):  # the phone goes on sending: the plot streams what is new
        send(hub, 5 + k, 100, message_id=2 + k)
        assert buffer.pull() == 100
        newest = buffer.data["time"].iloc[-1]
        assert newest == np.datetime64(T0 + int((5 + k + 0.99) * 1e9), "ns")
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
