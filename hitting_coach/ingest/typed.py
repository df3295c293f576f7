"""The typed decoder: well-formed messages of known sensors, decoded and checked in C.

:func:`decode` takes a message the way Sensor Logger sends it (ids as strings, readings of the
sensors in ``SCHEMAS`` carrying exactly their value keys, numbers, an optional numeric
``accuracy``) and returns its columns, one list per value, grouped by sensor. msgspec decodes
the JSON straight into Structs, one per known sensor (the reading's ``name`` is the tag), and
checks every type, key and integer range on the way, so Python touches each reading only to
move it into a column.

Anything else answers None: an unknown sensor or field, a value key beyond the schema, a text
value, a time outside the window, a limit reached. The caller then runs the precise checker
(:func:`hitting_coach.ingest.parse.parse_message`), which either accepts the message (with
exactly what this function would have produced) or says what is wrong with it. So this module
never words an error, and every message it accepts is one the precise checker accepts too.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, NamedTuple, Union

import msgspec
import numpy as np

__all__ = ["Columns", "Decoded", "TypedDecoder"]

# Larger ids and times go to the precise checker (msgspec bounds fit in an int64; orjson there
# reads ints over 2**64 as floats, and a time must fit the int64 column).
_INT64_MAX = 2**63 - 1
_Time = Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]
_MessageId = Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]


class Columns(NamedTuple):
    """One sensor's readings of one message, in arrival order: times (int epoch ns), a float64
    array per value key, and ``accuracy``, a float or None per reading."""

    sensor: str
    times: list[int]
    values: dict[str, np.ndarray]
    accuracy: list[float | None]


class Decoded(NamedTuple):
    """A message as :func:`TypedDecoder.decode` found it, not yet checked against limits."""

    device_id: str
    session_id: str
    message_id: int
    user_id: str | None
    replay: bool
    n_readings: int
    sensors: list[Columns]


# C-level attribute access: Python touches a reading only to move it into a column
_TIME, _VALUES, _ACCURACY = attrgetter("time"), attrgetter("values"), attrgetter("accuracy")


def _reading_type(sensor: str, keys: tuple[str, ...]) -> type:
    # gc=False: these Structs hold numbers only (no cycles) and live for one message, so the
    # garbage collector need not track the thousands made per second.
    values = msgspec.defstruct(
        f"Values_{sensor}",
        [(key, float) for key in keys],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.defstruct(
        f"Reading_{sensor}",
        [("time", _Time), ("values", values), ("accuracy", Union[float, None], None)],  # noqa: UP007
        tag_field="name",
        tag=sensor,
        forbid_unknown_fields=True,
        gc=False,
    )


class TypedDecoder:
    """A decoder for messages whose readings are all of the sensors in ``schemas``
    (sensor name: its value keys)."""

    def __init__(self, schemas: dict[str, tuple[str, ...]]) -> None:
        types = {
            _reading_type(sensor, keys): (sensor, [(key, attrgetter(key)) for key in keys])
            for sensor, keys in schemas.items()
        }
        self._types = types
        reading = Union[tuple(types)]  # noqa: UP007 (a runtime union of generated types)
        message = msgspec.defstruct(
            "Message",
            [
                ("messageId", _MessageId),
                ("sessionId", str),
                ("deviceId", str),
                ("payload", list[reading]),
                ("userId", Union[str, None], None),  # noqa: UP007
                ("replay", bool, False),
            ],
            forbid_unknown_fields=True,
            gc=False,
        )
        self._decoder = msgspec.json.Decoder(message)

    def decode(self, raw: bytes | str) -> Decoded | None:
        """The message's identity and columns, or None if it is not one this decoder takes
        (malformed, or simply of a shape it does not know)."""
        try:
            doc: Any = self._decoder.decode(raw)
        except msgspec.MsgspecError:
            return None
        groups: dict[type, list[Any]] = {}
        for reading in doc.payload:
            group = groups.get(reading.__class__)
            if group is None:
                group = groups[reading.__class__] = []
            group.append(reading)
        sensors = []
        for kind, readings in groups.items():
            sensor, getters = self._types[kind]
            n = len(readings)
            values = list(map(_VALUES, readings))
            columns = {key: np.fromiter(map(get, values), np.float64, n) for key, get in getters}
            times = list(map(_TIME, readings))
            sensors.append(Columns(sensor, times, columns, list(map(_ACCURACY, readings))))
        return Decoded(
            doc.deviceId,
            doc.sessionId,
            doc.messageId,
            doc.userId,
            doc.replay,
            len(doc.payload),
            sensors,
        )
