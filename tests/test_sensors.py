"""The sensor registry (hitting_coach/sensors.py) is the one place a sensor is declared: every
table of sensors elsewhere (parsing, exports, detection, live and report plots, the simulator)
agrees with it, checked through what each part does with a sensor."""

from __future__ import annotations

import orjson
import pytest

from hitting_coach.analysis import live_swings
from hitting_coach.analysis.swings import SwingTracker, swings
from hitting_coach.config import PLACEMENTS
from hitting_coach.errors import MessageError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import RESERVED_KEYS, SCHEMAS, parse_message
from hitting_coach.sensors import SENSORS, detector_sensors, live_sensors
from hitting_coach.sim.devices import SENSORS_BY_DEVICE
from hitting_coach.sim.simulate import SENSORS_BY_PLACEMENT, simulate
from hitting_coach.store.exports import SENSOR_FILES, export_file_name
from hitting_coach.ui.dashboard import Dashboard
from hitting_coach.ui.report_plots import PLOT_COLUMNS
from hitting_coach.web.live import LIVE_SENSORS

T0 = 1_700_000_000_000_000_000


def one_reading(sensor: str, keys: tuple[str, ...]) -> bytes:
    values = {k: float(i) for i, k in enumerate(keys)}
    reading = {"name": sensor, "time": T0, "values": values}
    return orjson.dumps({"messageId": 0, "sessionId": "s", "deviceId": "d", "payload": [reading]})


def test_the_registry_is_consistent():
    files = [s.export_file for s in SENSORS.values()]
    assert len(set(files)) == len(files)
    for name, s in SENSORS.items():
        assert name == s.name == name.lower()
        assert not set(s.columns) & RESERVED_KEYS
        assert set(s.plot_columns) <= set(s.columns), name
        if s.detector is not None:
            assert set(s.detector.columns) | set(s.detector.optional) <= set(s.columns), name
            assert set(s.detector.needed_by) <= set(PLACEMENTS), name
        assert set(s.simulated_on) <= set(SENSORS_BY_DEVICE), name
    # every placement needs a sensor the detector reads
    for p in PLACEMENTS:
        assert any(p in role.needed_by for role in detector_sensors().values()), p


@pytest.mark.parametrize("sensor", [s for s in SENSORS if SENSORS[s].columns])
def test_a_pushed_reading_needs_the_registry_value_keys(sensor):
    keys = SENSORS[sensor].columns
    assert SCHEMAS[sensor] == keys
    message = parse_message(one_reading(sensor, keys))
    assert list(message.batches[sensor].values) == list(keys)
    with pytest.raises(MessageError, match=keys[-1]):
        parse_message(one_reading(sensor, keys[:-1]))


def test_sensors_without_value_keys_take_any():
    assert set(SCHEMAS) == {s for s in SENSORS if SENSORS[s].columns}
    message = parse_message(one_reading("barometer", ("pressure", "relativeAltitude")))
    assert set(message.batches["barometer"].values) == {"pressure", "relativeAltitude"}


def test_exports_use_the_registry_file_names():
    assert {s.name: s.export_file for s in SENSORS.values()} == SENSOR_FILES
    for name, s in SENSORS.items():
        assert export_file_name(name) == s.export_file
    assert export_file_name("heart rate") == "HeartRate"  # not in the registry


@pytest.mark.parametrize("sensor", list(detector_sensors()))
def test_the_detector_reads_the_registry_columns(sensor):
    role = detector_sensors()[sensor]
    tracker = SwingTracker()
    tracker.feed(sensor, [T0, T0 + 10**7], dict.fromkeys(role.columns, [0.0, 0.0]))
    with pytest.raises(ValueError, match=role.columns[-1]):
        SwingTracker().feed(sensor, [T0], dict.fromkeys(role.columns[:-1], [0.0]))
    assert sensor in live_swings._SENSORS


def test_swings_are_found_from_the_sensors_each_placement_needs():
    for placement in PLACEMENTS:
        needed = {n for n, r in detector_sensors().items() if placement in r.needed_by}
        # swings 6 s apart: a watch needs seconds to turn back to its stance after one
        session = simulate(placement, duration_s=14.0, swing_every_s=6.0, seed=3)
        frames = {n: f for n, f in session.frames.items() if n in needed}
        assert len(swings(frames, placement)) == len(session.truth), placement


def test_the_simulator_produces_the_registry_sensors_and_columns():
    for placement, sensors in SENSORS_BY_PLACEMENT.items():
        session = simulate(placement, duration_s=1.0, swings=[], seed=1)
        assert sorted(session.frames) == sorted(sensors)
        for name, frame in session.frames.items():
            assert list(frame.columns) == ["time_ns", *SENSORS[name].columns]
    for kind, sensors in SENSORS_BY_DEVICE.items():
        assert set(sensors) == {s.name for s in SENSORS.values() if kind in s.simulated_on}


def test_the_live_plots_are_the_registry_live_sensors():
    views = live_sensors()
    assert {name: v.scale for name, v in views.items()} == LIVE_SENSORS
    dashboard = Dashboard(Hub(), window=200)
    assert [p.sensor for p in dashboard.plots] == list(views)
    for plot, view in zip(dashboard.plots, views.values(), strict=True):
        assert plot.figure.title.text == view.title
        assert plot.figure.yaxis[0].axis_label == view.axis_label
        assert (plot.figure.y_range.start, plot.figure.y_range.end) == view.y_range
        assert plot.scale == view.scale


def test_the_report_plots_draw_the_registry_columns_in_its_units():
    assert {
        s.name: (s.plot_columns, s.unit) for s in SENSORS.values() if s.plot_columns
    } == PLOT_COLUMNS
    assert PLOT_COLUMNS["gyroscope"] == (("x", "y", "z"), "rad/s")
