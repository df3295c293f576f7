from __future__ import annotations

import contextlib
import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitting_coach.errors import MessageError
from hitting_coach.ingest.parse import LIMITS, SCHEMAS, Limits, _checked, parse_message
from support import message, xyz_readings

T0 = 1_700_000_000_000_000_000


def reading(name, t, values, **extra):
    return {"name": name, "time": t, "values": values, **extra}


def test_every_documented_sensor_is_parsed_by_name():
    payload = []
    for i, (name, keys) in enumerate(SCHEMAS.items()):
        # reversed key order: parsing is by name, whatever order the platform sends
        payload.append(
            reading(name, T0 + i, {k: float(j) for j, k in reversed(list(enumerate(keys)))})
        )
    others = {
        "location": {"latitude": 51.5, "longitude": -0.1, "altitude": 20, "speed": None},
        "barometer": {"pressure": 1013.2, "relativeAltitude": 0.4},
        "microphone": {"dBFS": -41.5},
        "battery": {"batteryLevel": 0.8, "batteryState": "charging"},
        "brightness": {"brightness": 0.5},
        "network": {"type": "wifi"},
        "pedometer": {"steps": 12, "distance": 8.1},
        "bluetooth": {"devices": [{"id": "a", "rssi": -60}]},
        "headphone": {"x": 0.1},
        "annotation": {"text": "good swing", "millisecondsPressed": 350},
    }
    payload += [reading(n, T0 + 100 + i, v) for i, (n, v) in enumerate(others.items())]
    m = parse_message(orjson.dumps(message(3, payload)))
    assert m.n_readings == len(payload)
    assert set(m.batches) == set(SCHEMAS) | set(others)
    for name, keys in SCHEMAS.items():
        b = m.batches[name]
        assert [b.values[k][0] for k in keys] == [float(j) for j in range(len(keys))]
    assert m.batches["annotation"].values["text"][0] == "good swing"
    assert m.batches["battery"].values["batteryState"][0] == "charging"
    assert np.isnan(m.batches["location"].values["speed"][0])
    assert json.loads(m.batches["bluetooth"].values["devices"][0]) == [{"id": "a", "rssi": -60}]


def test_real_shaped_android_capture():
    """Interleaved, unsorted readings of several sensors with Android's accuracy field."""
    acc = [dict(r, accuracy=3) for r in xyz_readings("accelerometer", T0, 40, 200)]
    gyro = [dict(r, accuracy=2) for r in xyz_readings("gyroscope", T0, 60, 400)]
    mic = [reading("microphone", T0 - 450_000_000, {"dBFS": -30.0})]  # 0.45 s older
    doc = message(17, acc + gyro + mic, device="pixel", session="2026-11-27_10-00-00", seed=4)
    m = parse_message(json.dumps(doc).encode())
    assert (m.device_id, m.session_id, m.message_id) == ("pixel", "2026-11-27_10-00-00", 17)
    g = m.batches["gyroscope"]
    assert len(g) == 60 and np.any(np.diff(g.time_ns) < 0), "arrival order is kept"
    assert sorted(g.time_ns.tolist()) == [r["time"] for r in gyro]
    assert set(g.values["accuracy"]) == {2.0}
    assert m.batches["microphone"].time_ns[0] == T0 - 450_000_000


def test_unknown_sensor_is_kept():
    m = parse_message(orjson.dumps(message(1, [reading("heartrate", T0, {"bpm": 72})])))
    assert m.batches["heartrate"].values["bpm"].tolist() == [72.0]


def test_empty_payload_is_a_message_with_no_readings():
    m = parse_message(orjson.dumps(message(1, [])))
    assert m.n_readings == 0 and m.batches == {}


GOOD = message(5, xyz_readings("gyroscope", T0, 3, 100))


def broken(path, value):
    doc = json.loads(json.dumps(GOOD))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("raw", "reason", "text"),
    [
        (b"not json", "not_json", "body is not valid JSON"),
        (b"[1, 2]", "bad_shape", "expected a JSON object, got list"),
        (broken(["deviceId"], KeyError), "missing_field", "deviceId: required field is missing"),
        (broken(["sessionId"], ""), "bad_field", 'sessionId: expected a non-empty string, got ""'),
        (broken(["messageId"], "7"), "bad_field", "messageId: expected a non-negative integer"),
        (broken(["messageId"], True), "bad_field", "messageId: expected a non-negative integer"),
        (broken(["payload"], {}), "bad_field", "payload: expected a list, got {}"),
        (broken(["payload", 1], 5), "bad_reading", "payload[1]: expected an object, got 5"),
        (broken(["payload", 2, "name"], None), "bad_reading", "payload[2].name: expected a sensor"),
        (
            broken(["payload", 0, "time"], 1.5e18),
            "bad_reading",
            "payload[0].time: expected integer",
        ),
        (broken(["payload", 0, "time"], "123"), "bad_reading", "payload[0].time: expected integer"),
        (
            broken(["payload", 1, "values"], [1]),
            "bad_reading",
            "payload[1].values: expected an object",
        ),
        (
            broken(["payload", 1, "values", "y"], "abc"),
            "bad_reading",
            'payload[1].values.y: expected a number, got "abc"',
        ),
        (
            broken(["payload", 2, "values", "z"], KeyError),
            "bad_reading",
            "payload[2].values.z: missing",
        ),
        (broken(["payload", 0, "time"], 2**70), "bad_reading", "time"),
    ],
)
def test_malformed_messages_name_the_problem(raw, reason, text):
    with pytest.raises(MessageError) as e:
        parse_message(raw)
    assert e.value.reason == reason
    assert text in str(e.value)


# --------------------------------------------------------------------------- properties
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
xyz_values = st.fixed_dictionaries({"x": finite, "y": finite, "z": finite})
readings = st.lists(
    st.tuples(
        st.sampled_from(["accelerometer", "gyroscope", "gravity", "magnetometer"]),
        st.integers(0, 2**62),
        xyz_values,
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(readings, st.integers(0, 2**53), st.text(min_size=1, max_size=20).filter(str.strip))
def test_valid_messages_keep_every_reading(rows, message_id, device):
    payload = [reading(n, t, v) for n, t, v in rows]
    m = parse_message(orjson.dumps(message(message_id, payload, device=device, shuffle=False)))
    assert m.n_readings == len(rows) and m.device_id == device and m.message_id == message_id
    for name in {n for n, _, _ in rows}:
        want = [(t, v["x"], v["y"], v["z"]) for n, t, v in rows if n == name]
        b = m.batches[name]
        got = list(
            zip(
                b.time_ns.tolist(),
                b.values["x"].tolist(),
                b.values["y"].tolist(),
                b.values["z"].tolist(),
                strict=True,
            )
        )
        assert got == want


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_crashes_the_parser(doc):
    with contextlib.suppress(MessageError):
        parse_message(json.dumps(doc).encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["deviceId", "sessionId", "messageId", "payload"]), json_values)
def test_a_corrupted_top_level_field_is_accepted_whole_or_rejected_cleanly(field, value):
    doc = json.loads(json.dumps(GOOD))
    doc[field] = value
    try:
        m = parse_message(json.dumps(doc).encode())
    except MessageError as e:
        assert e.field.startswith(field)
    else:
        assert m.n_readings == len(doc["payload"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_rejected_cleanly(raw):
    try:
        parse_message(raw)
    except MessageError as e:
        assert e.reason in {"not_json", "bad_shape", "missing_field", "bad_field"}


# ----------------------------------------------------------- the typed path, the precise path
def _outcome(parse, raw, limits, now_ns):
    """What a sender would see: the error (reason and text), or every field and column."""
    try:
        m = parse(raw, limits, now_ns)
    except MessageError as e:
        return ("error", e.reason, str(e))
    batches = [
        (
            name,
            b.sensor,
            b.time_ns.dtype.str,
            b.time_ns.tolist(),
            [
                (k, v.dtype.str, [None if x != x else x for x in v.tolist()])
                for k, v in b.values.items()
            ],
        )
        for name, b in m.batches.items()
    ]
    fields = (m.device_id, m.session_id, m.message_id, m.user_id, m.n_readings, m.latest_ns)
    return ("ok", *fields, m.replay, batches)


known = st.sampled_from(["accelerometer", "gyroscope", "orientation", "Gyroscope", "heartrate"])
number = st.one_of(finite, st.integers(-(2**70), 2**70), st.sampled_from([0, -0.0, 1e308]))
odd_value = st.one_of(
    number, st.none(), st.booleans(), st.text(max_size=3), st.lists(number, max_size=2)
)


def now_and_then(draw, usual, unusual, one_in=8):
    return draw(unusual if draw(st.integers(1, one_in)) == 1 else usual)


@st.composite
def near_valid_readings(draw):
    """Readings as the app sends them, now and then with one thing changed."""
    name = now_and_then(draw, st.sampled_from(["accelerometer", "gyroscope"]), known, 3)
    keys = SCHEMAS.get(name.lower(), ("bpm",))
    values = {k: draw(number) for k in keys}
    if draw(st.integers(0, 12)) == 0:
        values[draw(st.sampled_from([*keys, "extra", "time"]))] = draw(odd_value)
    if draw(st.integers(0, 12)) == 0 and values:
        del values[draw(st.sampled_from(sorted(values)))]
    time = now_and_then(draw, st.integers(T0 - 10**14, T0 + 10**12), st.integers(0, 2**64))
    doc = {"name": name, "time": time, "values": values}
    accuracy = draw(st.sampled_from(["absent", "absent", "number", "other"]))
    if accuracy == "number":
        doc["accuracy"] = draw(st.sampled_from([0, 3, 2.5, None]))
    elif accuracy == "other":
        doc["accuracy"] = draw(odd_value)
    if draw(st.integers(0, 20)) == 0:
        doc["note"] = draw(odd_value)
    return doc


@st.composite
def idents(draw):
    usual = st.text("abcdé-1 ", min_size=1, max_size=14)
    return now_and_then(draw, usual, st.one_of(st.text(max_size=3), st.integers(0, 99)))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(near_valid_readings(), max_size=12),
    st.one_of(st.integers(0, 2**40), st.integers(-1, 2**65)),
    idents(),
    idents(),
    st.one_of(st.none(), st.just(""), idents()),
    st.sampled_from([None, None, False, True, 1]),
    st.sampled_from([None, T0, T0 + 10**15]),
    st.sampled_from([LIMITS, Limits(max_name_bytes=12, max_sensors=2, max_keys=3)]),
)
def test_a_message_is_parsed_the_same_by_the_typed_decoder_and_the_precise_checker(
    payload, message_id, device, session, user, replay, now_ns, limits
):
    """The fast path (msgspec) and the precise checker accept the same messages with the same
    columns, and refuse the rest with the same error."""
    doc = {"messageId": message_id, "sessionId": session, "deviceId": device, "payload": payload}
    if user is not None:
        doc["userId"] = user
    if replay is not None:
        doc["replay"] = replay
    raw = json.dumps(doc).encode()  # json: integers beyond 64 bits too
    assert _outcome(parse_message, raw, limits, now_ns) == _outcome(_checked, raw, limits, now_ns)
