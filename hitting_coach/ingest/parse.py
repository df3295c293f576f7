"""Parse one Sensor Logger push message into columnar batches, one per sensor.

A message (HTTP POST body or MQTT payload) is a JSON object::

    {"messageId": 7, "sessionId": "...", "deviceId": "...", "payload": [
        {"name": "gyroscope", "time": 1700000000000000000, "values": {"x": .., "y": .., "z": ..}},
        ...]}

Readings of several sensors are interleaved and not sorted; we keep them in arrival order
(sorting happens on read). Each sensor keeps its own time axis: nothing is aligned here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from hitting_coach.errors import MessageError

__all__ = ["SCHEMAS", "Batch", "Message", "parse_message"]

_XYZ = ("x", "y", "z")

#: Value keys a reading of each known sensor must carry (all numbers). Units in SENSOR_LOGGER.md.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "accelerometer": _XYZ,
    "gyroscope": _XYZ,
    "gravity": _XYZ,
    "magnetometer": _XYZ,
    "accelerometeruncalibrated": _XYZ,
    "gyroscopeuncalibrated": _XYZ,
    "magnetometeruncalibrated": _XYZ,
    "totalacceleration": _XYZ,
    "orientation": ("qw", "qx", "qy", "qz", "roll", "pitch", "yaw"),
    "wrist motion": (
        "rotationRateX",
        "rotationRateY",
        "rotationRateZ",
        "accelerationX",
        "accelerationY",
        "accelerationZ",
        "gravityX",
        "gravityY",
        "gravityZ",
        "quaternionW",
        "quaternionX",
        "quaternionY",
        "quaternionZ",
    ),
}


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings of one sensor from one message, in arrival order.

    ``time_ns`` is int64 epoch nanoseconds; ``values`` maps a value name to a float64 array
    (numbers; NaN where a reading lacked it) or an object array of str (text values).
    """

    sensor: str
    time_ns: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.time_ns)


@dataclass(frozen=True, slots=True)
class Message:
    """A validated message: identity plus one :class:`Batch` per sensor."""

    device_id: str
    session_id: str
    message_id: int
    batches: dict[str, Batch]
    user_id: str | None = None
    n_readings: int = field(default=0)
    latest_ns: int = 0  # time of the newest reading (0 without readings)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.device_id, self.session_id, self.message_id)


def _ident(doc: dict, name: str) -> str:
    if name not in doc:
        raise MessageError("missing_field", "required field is missing", name)
    v = doc[name]
    if isinstance(v, str) and v.strip():
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise MessageError("bad_field", f"expected a non-empty string, got {_show(v)}", name)


def _show(v: object) -> str:
    text = orjson.dumps(v).decode() if not isinstance(v, bytes) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_message(raw: bytes | str) -> Message:
    """Validate and parse one push message.

    Raises :class:`MessageError` naming the first problem (``payload[3].values.x: expected a
    number, got "abc"``); a message is accepted whole or not at all.
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise MessageError("not_json", f"body is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise MessageError("bad_shape", f"expected a JSON object, got {type(doc).__name__}")
    device_id = _ident(doc, "deviceId")
    session_id = _ident(doc, "sessionId")
    if "messageId" not in doc:
        raise MessageError("missing_field", "required field is missing", "messageId")
    message_id = doc["messageId"]
    if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 0:
        raise MessageError(
            "bad_field", f"expected a non-negative integer, got {_show(message_id)}", "messageId"
        )
    user_id = doc.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        user_id = str(user_id)
    if "payload" not in doc:
        raise MessageError("missing_field", "required field is missing", "payload")
    payload = doc["payload"]
    if not isinstance(payload, list):
        raise MessageError("bad_field", f"expected a list, got {_show(payload)}", "payload")

    grouped: dict[str, _Group] = {}
    for i, reading in enumerate(payload):
        if type(reading) is not dict:
            raise MessageError(
                "bad_reading", f"expected an object, got {_show(reading)}", f"payload[{i}]"
            )
        name = reading.get("name")
        if type(name) is not str or not name:
            raise MessageError(
                "bad_reading", f"expected a sensor name, got {_show(name)}", f"payload[{i}].name"
            )
        t = reading.get("time")
        if type(t) is not int or t < 0:  # type(), not isinstance: a bool is not a time
            raise MessageError(
                "bad_reading",
                f"expected integer epoch nanoseconds, got {_show(t)}",
                f"payload[{i}].time",
            )
        values = reading.get("values")
        if type(values) is not dict:
            raise MessageError(
                "bad_reading", f"expected an object, got {_show(values)}", f"payload[{i}].values"
            )
        group = grouped.get(name)
        if group is None:
            group = grouped[name] = _Group(name)
        group.add(i, t, values, reading.get("accuracy"))

    batches = {name: group.batch() for name, group in grouped.items()}
    latest_ns = max((max(group.times) for group in grouped.values()), default=0)
    return Message(device_id, session_id, message_id, batches, user_id, len(payload), latest_ns)


#: Exact JSON number types as orjson returns them (``bool`` is a subclass of int: excluded).
_NUMBER_TYPES = frozenset((int, float))


class _Group:
    """The readings of one sensor in one message, collected column by column."""

    __slots__ = ("accuracy", "columns", "extra_rows", "name", "pairs", "required", "times")

    def __init__(self, name: str) -> None:
        self.name = name
        self.required = SCHEMAS.get(name.lower(), ())
        self.times: list[int] = []
        self.columns: dict[str, list[float]] = {key: [] for key in self.required}
        self.pairs = list(self.columns.items())  # (key, its list): no dict lookup per value
        self.extra_rows: list[tuple[int, dict]] = []  # readings with keys beyond the schema
        self.accuracy: list[object] = []

    def add(self, i: int, t: int, values: dict, accuracy: object) -> None:
        for key, column in self.pairs:
            v = values.get(key)
            if type(v) not in _NUMBER_TYPES:
                detail = "missing" if key not in values else f"expected a number, got {_show(v)}"
                raise MessageError("bad_reading", detail, f"payload[{i}].values.{key}")
            column.append(v)
        if len(values) > len(self.required):
            self.extra_rows.append((len(self.times), values))
        self.times.append(t)
        self.accuracy.append(accuracy)

    def batch(self) -> Batch:
        try:
            time_ns = np.array(self.times, dtype=np.int64)
        except OverflowError:
            raise MessageError("bad_reading", "time is out of range", f"{self.name}.time") from None
        columns = {k: np.array(v, dtype=np.float64) for k, v in self.columns.items()}
        extra_keys = dict.fromkeys(k for _, row in self.extra_rows for k in row)
        for key in extra_keys:
            if key in columns:
                continue
            items: list[object] = [None] * len(self.times)
            for n, row in self.extra_rows:
                items[n] = row.get(key)
            columns[key] = _column(items)
        if any(a is not None for a in self.accuracy):
            columns["accuracy"] = _column(self.accuracy)
        return Batch(self.name, time_ns, columns)


def _column(items: list[object]) -> np.ndarray:
    if all(v is None or type(v) in _NUMBER_TYPES for v in items):
        return np.array([np.nan if v is None else v for v in items], dtype=np.float64)
    return np.array(
        [v if isinstance(v, str) or v is None else orjson.dumps(v).decode() for v in items],
        dtype=object,
    )
