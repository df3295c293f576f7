"""Parse one Sensor Logger push message into columnar batches, one per sensor.

A message (HTTP POST body or MQTT payload) is a JSON object::

    {"messageId": 7, "sessionId": "...", "deviceId": "...", "payload": [
        {"name": "gyroscope", "time": 1700000000000000000, "values": {"x": .., "y": .., "z": ..}},
        ...]}

Readings of several sensors are interleaved and not sorted; we keep them in arrival order
(sorting happens on read). Each sensor keeps its own time axis: nothing is aligned here.

Whatever the sender chooses stays within :class:`Limits` (name lengths, value keys, sensors,
nesting depth, reading times), checked here before anything is allocated: a message over a
limit is refused whole, naming the field.

Two paths, one outcome: a well-formed message of known sensors is decoded by
:mod:`~hitting_coach.ingest.typed` (types checked in C, then whole columns checked against the
limits); anything that decoder does not take, malformed or merely unusual, goes through the
precise checker below, which accepts it with the same result or names the first problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np
import orjson

from hitting_coach.errors import MessageError
from hitting_coach.ingest.typed import Decoded, TypedDecoder
from hitting_coach.sensors import SENSORS

__all__ = [
    "LIMITS",
    "RECORDED",
    "RESERVED_KEYS",
    "SCHEMAS",
    "Batch",
    "Limits",
    "Message",
    "parse_message",
]

#: Value keys a reading of each known sensor must carry (all numbers), from the registry
#: (:mod:`hitting_coach.sensors`; units in SENSOR_LOGGER.md).
SCHEMAS: dict[str, tuple[str, ...]] = {s.name: s.columns for s in SENSORS.values() if s.columns}


#: Value keys the storage and exports use for their own columns (Parquet ``time_ns``, CSV
#: ``time`` and ``seconds_elapsed``, Hive partitions ``device=/session=/sensor=``).
RESERVED_KEYS = frozenset(("time", "time_ns", "seconds_elapsed", "device", "session", "sensor"))

#: Earliest reading time ever accepted when times are checked (2000-01-01): a time in
#: milliseconds or seconds instead of nanoseconds lands in 1970.
FLOOR_NS = 946_684_800 * 10**9


@dataclass(frozen=True, slots=True)
class Limits:
    """What one message may carry (the settings of the same names, see config.py).

    ``max_name_bytes`` bounds ids, sensor names and value keys (UTF-8 bytes; 80 keeps every
    percent-encoded directory name under the file system's 255), ``max_keys`` the value keys of
    a reading, ``max_sensors`` the sensors of a message, ``max_depth`` the nesting inside a
    value. ``max_age_s``/``max_ahead_s`` bound reading times around the receive time when the
    caller passes ``now_ns`` (a replay, marked ``"replay": true``, keeps its old times: only
    the ``max_ahead_s`` bound and the year-2000 floor apply to it).
    """

    max_name_bytes: int = 80
    max_keys: int = 64
    max_sensors: int = 32
    max_depth: int = 8
    max_age_s: float = 7 * 86_400.0
    max_ahead_s: float = 3_600.0


LIMITS = Limits()

#: For reading back what was accepted before (the journal), whatever the limits were then.
RECORDED = Limits(max_name_bytes=1 << 30, max_keys=1 << 30, max_sensors=1 << 30, max_depth=1 << 30)

#: Nesting never allowed, whatever the settings say: text values are written back as JSON,
#: which orjson refuses beyond 255 levels.
_DEPTH_CAP = 200


class Batch(msgspec.Struct, frozen=True, gc=False):
    """Readings of one sensor from one message, in arrival order.

    ``time_ns`` is int64 epoch nanoseconds; ``values`` maps a value name to a float64 array
    (numbers; NaN where a reading lacked it) or an object array of str (text values).
    """

    # A Struct, not a dataclass: built in C, and untracked by the garbage collector (it
    # holds arrays and names, never itself), so recorded messages waiting for Parquet do not
    # lengthen every collection.

    sensor: str
    time_ns: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.time_ns)


class Message(msgspec.Struct, frozen=True, gc=False):
    """A validated message: identity plus one :class:`Batch` per sensor (a Struct for the
    same reasons)."""

    device_id: str
    session_id: str
    message_id: int
    batches: dict[str, Batch]
    user_id: str | None = None
    n_readings: int = 0
    latest_ns: int = 0  # time of the newest reading (0 without readings)
    replay: bool = False  # sent by ``hitting-coach replay`` (keeps a recording's own times)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.device_id, self.session_id, self.message_id)


def _ident(doc: dict, name: str, limits: Limits) -> str:
    if name not in doc:
        raise MessageError("missing_field", "required field is missing", name)
    v = doc[name]
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not v.strip():
        raise MessageError("bad_field", f"expected a non-empty string, got {_show(v)}", name)
    _check_name(v, name, limits)
    return v


def _check_name(name: str, where: str, limits: Limits) -> None:
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > limits.max_name_bytes:
        raise MessageError(
            "name_too_long",
            f"is {size} bytes long; names are at most {limits.max_name_bytes}",
            where,
        )


def _show(v: object) -> str:
    if isinstance(v, list | dict) and not _depth_ok(v, 8):
        return "(deeply nested)"
    text = orjson.dumps(v).decode() if not isinstance(v, bytes) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _depth_ok(value: object, limit: int) -> bool:
    """True if lists and objects in ``value`` nest at most ``limit`` deep (iterative: a
    hostile value nests hundreds of levels)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return False
        if type(v) is dict:
            stack.extend((c, depth + 1) for c in v.values() if type(c) in _NESTED)
        elif type(v) is list:
            stack.extend((c, depth + 1) for c in v if type(c) in _NESTED)
    return True


_NESTED = frozenset((dict, list))
_TYPED = TypedDecoder(SCHEMAS)
_KNOWN_TOP = frozenset(("messageId", "sessionId", "deviceId", "userId", "payload", "replay"))


def parse_message(raw: bytes | str, limits: Limits = LIMITS, now_ns: int | None = None) -> Message:
    """Validate and parse one push message within ``limits``.

    With ``now_ns`` (the receive time, live ingest) reading times are checked against the
    limits' window. Raises :class:`MessageError` naming the first problem
    (``payload[3].values.x: expected a number, got "abc"``); a message is accepted whole or
    not at all.
    """
    decoded = _TYPED.decode(raw)
    if decoded is not None:
        message = _from_columns(decoded, limits, now_ns)
        if message is not None:
            return message
    return _checked(raw, limits, now_ns)


def _window(limits: Limits, now_ns: int | None, replay: bool) -> tuple[int | None, int | None]:
    """The reading times accepted: ``(low, high)``, or ``(None, None)`` when not checked."""
    if now_ns is None:
        return None, None
    high = now_ns + int(limits.max_ahead_s * 1e9)
    low = FLOOR_NS if replay else max(FLOOR_NS, now_ns - int(limits.max_age_s * 1e9))
    return low, high


def _fits(name: str, limits: Limits) -> bool:
    return bool(name.strip()) and len(name.encode("utf-8")) <= limits.max_name_bytes


def _from_columns(decoded: Decoded, limits: Limits, now_ns: int | None) -> Message | None:
    """The message the typed decoder found, if it is within ``limits`` (checked a column at
    a time); None sends it to the precise checker, which words the error."""
    user_id = decoded.user_id or None  # the app may send it empty outside a study
    if not (_fits(decoded.device_id, limits) and _fits(decoded.session_id, limits)):
        return None
    if user_id is not None and not _fits(user_id, limits):
        return None
    if len(decoded.sensors) > limits.max_sensors:
        return None
    low, high = _window(limits, now_ns, decoded.replay)
    batches: dict[str, Batch] = {}
    latest_ns = 0
    for columns in decoded.sensors:
        first, last = min(columns.times), max(columns.times)
        if low is not None and not (low <= first and last <= high):
            return None
        if len(columns.sensor.encode()) > limits.max_name_bytes:
            return None
        latest_ns = max(latest_ns, last)
        values = columns.values
        accuracy = columns.accuracy
        if accuracy.count(None) != len(accuracy):
            values["accuracy"] = np.array(accuracy, dtype=np.float64)  # None: NaN
        batches[columns.sensor] = Batch(
            columns.sensor, np.array(columns.times, dtype=np.int64), values
        )
    return Message(
        decoded.device_id,
        decoded.session_id,
        decoded.message_id,
        batches,
        user_id,
        decoded.n_readings,
        latest_ns,
        decoded.replay,
    )


def _checked(raw: bytes | str, limits: Limits, now_ns: int | None) -> Message:
    """:func:`parse_message` for any message: every field checked in turn, in Python."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise MessageError("not_json", f"body is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise MessageError("bad_shape", f"expected a JSON object, got {type(doc).__name__}")
    device_id = _ident(doc, "deviceId", limits)
    session_id = _ident(doc, "sessionId", limits)
    if "messageId" not in doc:
        raise MessageError("missing_field", "required field is missing", "messageId")
    message_id = doc["messageId"]
    if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 0:
        raise MessageError(
            "bad_field", f"expected a non-negative integer, got {_show(message_id)}", "messageId"
        )
    # optional; the app may send it empty outside a study
    user_id = _ident(doc, "userId", limits) if doc.get("userId") not in (None, "") else None
    replay = doc.get("replay", False)
    if type(replay) is not bool:
        raise MessageError("bad_field", f"expected true or false, got {_show(replay)}", "replay")
    for key, v in doc.items():  # unknown fields are ignored, but go to the journal as sent
        depth = min(limits.max_depth, _DEPTH_CAP)
        if key not in _KNOWN_TOP and type(v) in _NESTED and not _depth_ok(v, depth):
            raise MessageError("too_deep", f"nests deeper than {depth} levels", _field(key))
    low, high = _window(limits, now_ns, replay)
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
        if low is not None and not low <= t <= high:
            raise _time_error(t, now_ns, low, high, replay, limits, i)
        values = reading.get("values")
        if type(values) is not dict:
            raise MessageError(
                "bad_reading", f"expected an object, got {_show(values)}", f"payload[{i}].values"
            )
        group = grouped.get(name)
        if group is None:
            _check_name(name, f"payload[{i}].name", limits)
            if len(grouped) >= limits.max_sensors:
                raise MessageError(
                    "too_many_sensors",
                    f"more than {limits.max_sensors} sensors in one message",
                    f"payload[{i}].name",
                )
            group = grouped[name] = _Group(name, limits)
        group.add(i, t, values, reading.get("accuracy"))

    batches = {name: group.batch() for name, group in grouped.items()}
    latest_ns = max((max(group.times) for group in grouped.values()), default=0)
    return Message(
        device_id, session_id, message_id, batches, user_id, len(payload), latest_ns, replay
    )


def _field(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."


def _time_error(
    t: int, now_ns: int, low: int, high: int, replay: bool, limits: Limits, i: int
) -> MessageError:
    if t > high:
        detail = (
            f"{t} is {_span((t - now_ns) / 1e9)} ahead of this server's clock; readings may be "
            f"at most {_span(limits.max_ahead_s)} ahead (HITTING_COACH_MAX_READING_AHEAD_S; "
            "check the phone's and the server's clocks)"
        )
    elif t < FLOOR_NS:
        detail = f"{t} is before the year 2000: expected epoch nanoseconds"
    else:
        detail = (
            f"{t} is {_span((now_ns - t) / 1e9)} older than this server's clock; live readings "
            f"may be at most {_span(limits.max_age_s)} old (HITTING_COACH_MAX_READING_AGE_S; "
            "`hitting-coach replay` and `import` keep a recording's own times)"
        )
    return MessageError("bad_time", detail, f"payload[{i}].time")


def _span(seconds: float) -> str:
    """A time span for a refusal: exact seconds, and a coarser unit beside it only where
    that unit shows it exactly (3,610 s is "3,610 s", never "1.0 h" beside a limit of 1.0 h)."""
    text = f"{seconds:,.0f} s" if abs(seconds) >= 10 else f"{seconds:.1f} s"
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if abs(seconds) >= size and float(seconds / size).is_integer():
            return f"{text} ({seconds / size:.0f} {unit})"
    return text


#: Exact JSON number types as orjson returns them (``bool`` is a subclass of int: excluded).
_NUMBER_TYPES = frozenset((int, float))


class _Group:
    """The readings of one sensor in one message, collected column by column."""

    __slots__ = (
        "accuracy",
        "columns",
        "extra_keys",
        "extra_rows",
        "limits",
        "name",
        "pairs",
        "required",
        "times",
    )

    def __init__(self, name: str, limits: Limits = LIMITS) -> None:
        self.name = name
        self.limits = limits
        self.required = SCHEMAS.get(name.lower(), ())
        self.times: list[int] = []
        self.columns: dict[str, list[float]] = {key: [] for key in self.required}
        self.pairs = list(self.columns.items())  # (key, its list): no dict lookup per value
        self.extra_rows: list[tuple[int, int, dict]] = []  # (row, payload index, values)
        self.extra_keys: dict[str, int] = {}  # keys beyond the schema, first payload index
        self.accuracy: list[object] = []

    def add(self, i: int, t: int, values: dict, accuracy: object) -> None:
        for key, column in self.pairs:
            v = values.get(key)
            if type(v) not in _NUMBER_TYPES:
                detail = "missing" if key not in values else f"expected a number, got {_show(v)}"
                raise MessageError("bad_reading", detail, f"payload[{i}].values.{key}")
            column.append(v)
        if len(values) > len(self.required):
            self._check_keys(i, values, accuracy)
            self.extra_rows.append((len(self.times), i, values))
        elif accuracy is not None and type(accuracy) in _NESTED:
            self._check_depth(accuracy, f"payload[{i}].accuracy")
        self.times.append(t)
        self.accuracy.append(accuracy)

    def _check_keys(self, i: int, values: dict, accuracy: object) -> None:
        limits = self.limits
        if len(values) > limits.max_keys:
            raise MessageError(
                "too_many_keys",
                f"{len(values)} value keys; a reading has at most {limits.max_keys}",
                f"payload[{i}].values",
            )
        for key, v in values.items():
            if key not in self.extra_keys and key not in self.columns:
                where = f"payload[{i}].values.{_field(key)}"
                _check_name(key, where, limits)
                if key in RESERVED_KEYS or (key == "accuracy" and accuracy is not None):
                    raise MessageError(
                        "reserved_key", "is a name the recording uses for its own columns", where
                    )
                if len(self.extra_keys) + len(self.required) >= limits.max_keys:
                    raise MessageError(
                        "too_many_keys",
                        f"more than {limits.max_keys} value keys for sensor {self.name!r}",
                        where,
                    )
                self.extra_keys[key] = i
            if type(v) in _NESTED:
                self._check_depth(v, f"payload[{i}].values.{_field(key)}")
        if accuracy is not None and type(accuracy) in _NESTED:
            self._check_depth(accuracy, f"payload[{i}].accuracy")

    def _check_depth(self, value: object, where: str) -> None:
        limit = min(self.limits.max_depth, _DEPTH_CAP)
        if not _depth_ok(value, limit):
            raise MessageError("too_deep", f"nests deeper than {limit} levels", where)

    def batch(self) -> Batch:
        try:
            time_ns = np.array(self.times, dtype=np.int64)
        except OverflowError:
            raise MessageError("bad_reading", "time is out of range", f"{self.name}.time") from None
        columns = {k: np.array(v, dtype=np.float64) for k, v in self.columns.items()}
        for key in self.extra_keys:
            items: list[object] = [None] * len(self.times)
            first: dict[bool, int] = {}  # text?: payload index of the first such value
            for n, i, row in self.extra_rows:
                v = items[n] = row.get(key)
                if v is not None:
                    first.setdefault(type(v) not in _NUMBER_TYPES, i)
            if len(first) == 2:
                raise _mixed(key, first)
            columns[key] = _column(items, True in first)
        if any(a is not None for a in self.accuracy):
            kinds = {type(a) not in _NUMBER_TYPES for a in self.accuracy if a is not None}
            columns["accuracy"] = _column(self.accuracy, True in kinds)
        return Batch(self.name, time_ns, columns)


def _mixed(key: str, first: dict[bool, int]) -> MessageError:
    later = max(first.values())
    kind = "text" if first[True] == later else "a number"
    return MessageError(
        "changed_type",
        f"is {kind} here but the other way in payload[{min(first.values())}]; "
        "a value keeps one type (number or text)",
        f"payload[{later}].values.{_field(key)}",
    )


def _column(items: list[object], text: bool) -> np.ndarray:
    """Numbers as float64 (NaN where missing), anything else as text (JSON for lists, objects
    and booleans). An all-missing column is float64."""
    if not text:
        return np.array([np.nan if v is None else v for v in items], dtype=np.float64)
    return np.array(
        [v if isinstance(v, str) or v is None else orjson.dumps(v).decode() for v in items],
        dtype=object,
    )
