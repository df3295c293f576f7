"""The hub: the single entry point every live source calls, and what every reader reads.

MQTT and HTTP (and so a replay, which sends over one of them) call :meth:`Hub.ingest`;
``hitting-coach import`` does not: it writes a session's Parquet files directly
(:mod:`hitting_coach.store.exports`). An accepted message is handed to the recorder first
(recording is the source of truth), then written to bounded ring buffers per (device,
sensor), then announced to subscribers (the live swing detector). Readers keep their own
cursors and get only what is new. Every rejection is counted with its reason.

Memory grows with data, not with names: a message is checked against the parser's
:class:`~hitting_coach.ingest.parse.Limits` and against what this device sent before (its
sensors, each value's type) before anything is recorded or remembered; at most
``max_devices`` devices are live at once, and a device unheard for ``device_idle_s`` leaves
memory (its recording stays on disk).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import numpy as np
import pandas as pd

from hitting_coach.errors import Busy, MessageError, RecordingError, TooLarge
from hitting_coach.ingest.parse import LIMITS, SCHEMAS, Limits, Message, parse_message
from hitting_coach.ingest.ring import RingBuffer, sort_by_time
from hitting_coach.values import plural, rate_hz

__all__ = ["Hub", "IngestResult", "Reader", "Sink"]

log = logging.getLogger(__name__)

_SEEN_LIMIT = 500_000  # message keys remembered for de-duplication (~40 min at 200 msg/s)
_RATE_WINDOW_S = 5
_SWEEP_S = 1.0  # how often idle devices are looked for
_SCHEMA_KEYS = {sensor: frozenset(keys) for sensor, keys in SCHEMAS.items()}
_NONE: frozenset[str] = frozenset()


class _Device:
    """What the hub keeps of one live device: when it was last heard, for each sensor the
    type of each value beyond the sensor's schema (True: text, False: number), its messages
    per recent second, and its refused messages by reason (its own status line)."""

    __slots__ = ("kinds", "last_rejection", "last_seen", "recent", "rejected")

    def __init__(self, now: float) -> None:
        self.last_seen = now
        self.kinds: dict[str, dict[str, bool]] = {}
        self.recent: list[tuple[int, int]] = []  # (monotonic second, messages)
        self.rejected: Counter[str] = Counter()
        self.last_rejection: str | None = None


class _DeviceId(msgspec.Struct):
    """Only the sender's device id of a message (to count a refused message to its device)."""

    deviceId: str = ""  # noqa: N815 (Sensor Logger's key)


_device_id = msgspec.json.Decoder(_DeviceId)


def _count_second(recent: list[tuple[int, int]], now: float) -> None:
    """One more message in ``recent``'s current second; only the last few seconds kept."""
    second = int(now)
    if recent and recent[-1][0] == second:
        recent[-1] = (second, recent[-1][1] + 1)
    else:
        recent.append((second, 1))
        del recent[: -(_RATE_WINDOW_S + 1)]


def _per_second(recent: list[tuple[int, int]], now: float) -> float:
    second = int(now)
    return sum(n for s, n in recent if second - _RATE_WINDOW_S <= s < second) / _RATE_WINDOW_S


class Sink(Protocol):
    """Something that must see every accepted message before it is shown (the recorder)."""

    def append(self, message: Message, raw: bytes, source: str, received_ns: int) -> None: ...


class IngestResult(msgspec.Struct, frozen=True, gc=False):
    """What became of one message: accepted (with its readings) or a duplicate."""

    message: Message
    duplicate: bool

    @property
    def readings(self) -> int:
        return 0 if self.duplicate else self.message.n_readings


class Hub:
    """Thread-safe ingest, ring buffers, readers and counters for one process.

    ``capacity`` is the ring size per (device, sensor) in readings (buffers start small and
    grow with the readings); ``max_message_bytes`` the largest message accepted; ``limits``
    what a message may carry; ``check_time`` refuses readings outside the limits' time window
    around the receive time (live ingest; a replay keeps its times); ``max_devices`` devices
    are live at once, each until it has been silent ``device_idle_s`` seconds.
    """

    def __init__(
        self,
        capacity: int = 60_000,
        max_message_bytes: int = 1_048_576,
        sink: Sink | None = None,
        limits: Limits = LIMITS,
        check_time: bool = False,
        max_devices: int = 100,
        device_idle_s: float = 600.0,
        peers: Callable[[tuple[str, str, int]], bool] | None = None,
    ) -> None:
        self.capacity = capacity
        #: True for a message another writer of the store journaled (``serve --worker``:
        #: :class:`~hitting_coach.store.peers.PeerKeys`); asked only about messages new here.
        self.peers = peers
        self.max_message_bytes = max_message_bytes
        self.sink = sink
        self.limits = limits
        self.check_time = check_time
        self.max_devices = max_devices
        self.device_idle_s = device_idle_s
        self._lock = threading.Lock()
        self._buffers: dict[tuple[str, str], RingBuffer] = {}
        self._devices: dict[str, _Device] = {}
        self._last_sweep = time.monotonic()
        # hash((device, session, messageId)): 8 bytes of key instead of two copies of the
        # sender's ids (a false duplicate needs a 64-bit collision of salted string hashes)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._subscribers: list[Callable[[Message], None]] = []
        self._sources: dict[str, dict[str, Any]] = {}
        self.counters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.by_source: Counter[str] = Counter()
        self._recent: list[tuple[float, int]] = []  # (monotonic second, messages)
        self.last_message_monotonic: float | None = None
        self.last_rejection: str | None = None
        self.recording_error: str | None = None
        self.started = time.monotonic()

    # ----------------------------------------------------------------------------- ingest
    def ingest(
        self, raw: bytes, source: str = "http", received_ns: int | None = None
    ) -> IngestResult:
        """Validate, record and publish one raw message.

        Raises :class:`MessageError` (counted by reason) for a malformed or oversized message,
        or one that does not fit what its device sent before; :class:`Busy` when
        ``max_devices`` other devices are live. Nothing of a refused message is kept, not
        even its key. A duplicate (same device, session, messageId) is counted and returned
        with ``duplicate=True``. Raises :class:`RecordingError` (counted, and reported in the
        status) if the recorder could not journal the message: it is then not remembered nor
        shown, and the sender must be told to send it again.
        """
        received_ns = time.time_ns() if received_ns is None else received_ns
        try:
            if len(raw) > self.max_message_bytes:
                raise TooLarge(len(raw), self.max_message_bytes)
            message = parse_message(raw, self.limits, received_ns if self.check_time else None)
        except MessageError as e:
            self.reject(e.reason, str(e), source, device=_sender(raw))
            raise
        key = hash(message.key)
        with self._lock:
            if key in self._seen or (self.peers is not None and self.peers(message.key)):
                self.counters["duplicates"] += 1
                return IngestResult(message, duplicate=True)
            now = time.monotonic()
            try:
                device, kinds = self._check_shape(message, now)
            except (MessageError, Busy) as e:
                self._reject(e.reason, str(e), source, message.device_id)
                raise
            if self.sink is not None:
                try:
                    self.sink.append(message, raw, source, received_ns)
                    self.recording_error = None
                except RecordingError as e:
                    # Not on disk: not acknowledged, not remembered, not shown, so the
                    # sender's retry (HTTP 503, MQTT redelivery) is taken as new.
                    if self.recording_error is None:
                        log.error("recording failed: %s", e)
                    self.counters["recording_failures"] += 1
                    self.recording_error = str(e)
                    raise
            self._remember(key)
            if device is None:
                device = self._devices[message.device_id] = _Device(now)
            device.last_seen = now
            _count_second(device.recent, now)
            for sensor, new in kinds.items():
                device.kinds.setdefault(sensor, {}).update(new)
            for batch in message.batches.values():
                self._buffer(message.device_id, batch.sensor, batch.values).append(
                    batch.time_ns, batch.values
                )
            self._count(message, source, now)
            subscribers = self._subscribers  # replaced, never changed in place
        for callback in subscribers:
            try:
                callback(message)
            except Exception:
                self.counters["subscriber_errors"] += 1
                log.exception("subscriber %r failed", callback)
        return IngestResult(message, duplicate=False)

    def reject(self, reason: str, detail: str, source: str, device: str | None = None) -> None:
        """Count a rejection (also for problems found before parsing, e.g. a bad token);
        ``device``, when the message named one, counts it to that device too if it is live
        (a name never heard before is not remembered for its refusal)."""
        with self._lock:
            self._reject(reason, detail, source, device)

    def _reject(self, reason: str, detail: str, source: str, device: str | None = None) -> None:
        self.rejected[reason] += 1
        self.last_rejection = f"{source}: {detail}"
        state = self._devices.get(device) if device else None
        if state is not None:
            state.rejected[reason] += 1
            state.last_rejection = detail

    def _check_shape(
        self, message: Message, now: float
    ) -> tuple[_Device | None, dict[str, dict[str, bool]]]:
        """Check ``message`` against what its device sent before, changing nothing; returns
        the device (None if new) and the value types to remember. Raises MessageError/Busy."""
        self._expire(now)
        device = self._devices.get(message.device_id)
        if device is None and len(self._devices) >= self.max_devices:
            self._expire(now, force=True)
            if len(self._devices) >= self.max_devices:
                raise Busy(
                    "too_many_devices",
                    f"{len(self._devices)} devices are live, the limit "
                    "(HITTING_COACH_MAX_LIVE_DEVICES); try again later",
                    "deviceId",
                )
        known = device.kinds if device is not None else {}
        new_sensors = [s for s in message.batches if s not in known]
        if len(known) + len(new_sensors) > self.limits.max_sensors:
            raise MessageError(
                "too_many_sensors",
                f"this device would have {len(known) + len(new_sensors)} sensors; "
                f"the limit is {self.limits.max_sensors}",
                f"{new_sensors[0]!r}",
            )
        learned: dict[str, dict[str, bool]] = {}
        for sensor, batch in message.batches.items():
            schema = _SCHEMA_KEYS.get(sensor) or _SCHEMA_KEYS.get(sensor.lower(), _NONE)
            if sensor in known and batch.values.keys() <= schema:
                continue  # nothing beyond the schema: nothing to compare or learn
            before = known.get(sensor, {})
            new: dict[str, bool] = {}
            for key, column in batch.values.items():
                if key in schema:
                    continue
                text = column.dtype == object
                if not text and np.isnan(column).all():
                    continue  # only nulls: no type yet
                was = before.get(key)
                if was is None:
                    new[key] = text
                elif was != text:
                    kind = ("a number", "text")
                    raise MessageError(
                        "changed_type",
                        f"is {kind[text]} but was {kind[was]} in this device's earlier "
                        "readings; a value keeps one type",
                        f"{sensor}.values.{key}",
                    )
            if len(schema) + len(before) + len(new) > self.limits.max_keys:
                raise MessageError(
                    "too_many_keys",
                    f"sensor {sensor!r} of this device would have more than "
                    f"{self.limits.max_keys} value keys",
                    f"{sensor}.values",
                )
            if new or sensor not in known:
                learned[sensor] = new
        return device, learned

    def _expire(self, now: float, force: bool = False) -> None:
        """Forget devices silent for ``device_idle_s`` (looked for at most once a second)."""
        if not force and now - self._last_sweep < _SWEEP_S:
            return
        self._last_sweep = now
        idle = [
            d for d, state in self._devices.items() if now - state.last_seen >= self.device_idle_s
        ]
        if not idle:
            return
        for name in idle:
            del self._devices[name]
        gone = set(idle)
        for key in [k for k in self._buffers if k[0] in gone]:
            del self._buffers[key]
        self.counters["devices_expired"] += len(idle)
        log.info("%s left memory (their recordings stay on disk)", plural(len(idle), "idle device"))

    def remember(self, key: tuple[str, str, int]) -> None:
        """Mark a message as seen without ingesting it (recorder start-up, after a restart)."""
        with self._lock:
            self._remember(hash(key))

    def _remember(self, key_hash: int) -> None:
        self._seen[key_hash] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)

    def _buffer(self, device: str, sensor: str, values: dict[str, np.ndarray]) -> RingBuffer:
        buffer = self._buffers.get((device, sensor))
        if buffer is None:
            numeric = [k for k, v in values.items() if v.dtype.kind == "f"]
            buffer = self._buffers[(device, sensor)] = RingBuffer(numeric, self.capacity)
        return buffer

    def _count(self, message: Message, source: str, now: float) -> None:
        self.counters["messages"] += 1
        self.counters["readings"] += message.n_readings
        self.by_source[source] += 1
        self.last_message_monotonic = now
        _count_second(self._recent, now)

    # ---------------------------------------------------------------------------- readers
    def subscribe(self, callback: Callable[[Message], None]) -> None:
        """Call ``callback(message)`` after each accepted message (on the producer's thread;
        keep it short: errors are caught and counted)."""
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

    def unsubscribe(self, callback: Callable[[Message], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                rest = list(self._subscribers)
                rest.remove(callback)
                self._subscribers = rest

    def devices(self) -> list[str]:
        """Live devices, in order of first appearance (idle ones have left memory)."""
        with self._lock:
            self._expire(time.monotonic())
            return list(dict.fromkeys(device for device, _ in self._buffers))

    def sensors(self, device: str) -> list[str]:
        with self._lock:
            return [s for d, s in self._buffers if d == device]

    def reader(self, device: str, sensor: str, backlog: int = 0) -> Reader:
        """A reader of one (device, sensor) that starts with the last ``backlog`` readings."""
        return Reader(self, device, sensor, backlog)

    def read(
        self,
        device: str,
        sensor: str,
        cursor: int = 0,
        last: int | None = None,
        until: int | None = None,
    ) -> tuple[list[str], np.ndarray, np.ndarray, int, int]:
        """``(columns, time_ns, values, new_cursor, missed)`` after ``cursor`` (and before
        ``until``, a cursor); see RingBuffer."""
        with self._lock:  # only copies under the lock; the sort comes after
            buffer = self._buffers.get((device, sensor))
            if buffer is None:
                return [], np.empty(0, np.int64), np.empty((0, 0)), cursor, 0
            columns = buffer.columns
            time_ns, values, cursor, missed = buffer.copy(cursor, last, until)
        return (columns, *sort_by_time(time_ns, values), cursor, missed)

    def frame(self, device: str, sensor: str, last: int | None = None) -> pd.DataFrame:
        """A snapshot of what the buffer holds, as a DataFrame sorted by time."""
        columns, time_ns, values, _, _ = self.read(device, sensor, 0, last)
        return _to_frame(columns, time_ns, values)

    # ----------------------------------------------------------------------------- status
    def set_source_state(self, name: str, **state: Any) -> None:
        """Publish the state of a source (e.g. the MQTT consumer) for status and dashboard."""
        with self._lock:
            self._sources.setdefault(name, {}).update(state)

    def source_states(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._sources.items()}

    def messages_per_s(self) -> float:
        now = int(time.monotonic())
        with self._lock:
            total = sum(n for second, n in self._recent if now - _RATE_WINDOW_S <= second < now)
        return total / _RATE_WINDOW_S

    def last_message_age_s(self) -> float | None:
        last = self.last_message_monotonic
        return None if last is None else time.monotonic() - last

    def status(self) -> dict[str, Any]:
        """Counters and states, JSON-ready: what /sensor/status.json serves."""
        with self._lock:
            now = time.monotonic()
            streams: dict[str, dict[str, Any]] = {}
            for (device, sensor), buffer in self._buffers.items():
                time_ns, _, _, _ = buffer.read(0, last=200)
                streams.setdefault(device, {})[sensor] = {
                    "readings": buffer.total,
                    "rate_hz": _rate_hz(time_ns),
                }
            counters = dict(self.counters)
            status = {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "messages": counters.get("messages", 0),
                "readings": counters.get("readings", 0),
                "duplicates": counters.get("duplicates", 0),
                "rejected": sum(self.rejected.values()),
                "rejected_by_reason": dict(self.rejected),
                "last_rejection": self.last_rejection,
                "messages_by_source": dict(self.by_source),
                "subscriber_errors": counters.get("subscriber_errors", 0),
                "live_devices": len(self._devices),
                "devices_expired": counters.get("devices_expired", 0),
                "recording": {
                    "enabled": self.sink is not None,
                    "ok": self.recording_error is None,
                    "failures": counters.get("recording_failures", 0),
                    "error": self.recording_error,
                },
                "devices": streams,
                # each live device's own line: its rate, last message and refusals
                "device_status": {
                    name: {
                        "messages_per_s": _per_second(state.recent, now),
                        "last_message_age_s": round(now - state.last_seen, 3),
                        "rejected": sum(state.rejected.values()),
                        "rejected_by_reason": dict(state.rejected.most_common()),
                        "last_rejection": state.last_rejection,
                    }
                    for name, state in self._devices.items()
                },
                "sources": {k: dict(v) for k, v in self._sources.items()},
            }
        status["messages_per_s"] = self.messages_per_s()
        age = self.last_message_age_s()
        status["last_message_age_s"] = None if age is None else round(age, 3)
        return status


def _sender(raw: bytes) -> str | None:
    """The device id a refused message names, if it can be read at all."""
    try:
        return _device_id.decode(raw).deviceId or None
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


def _rate_hz(time_ns: np.ndarray) -> float | None:
    """The median-interval rate (:func:`hitting_coach.values.rate_hz`), as ``sessions`` says it."""
    rate = rate_hz(time_ns)
    return None if rate is None else round(rate, 1)


def _to_frame(columns: list[str], time_ns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    data: dict[str, Any] = {"time_ns": time_ns}
    data.update({name: values[i] for i, name in enumerate(columns)})
    return pd.DataFrame(data)


class Reader:
    """One consumer's cursor on one (device, sensor): each read returns only what is new."""

    def __init__(self, hub: Hub, device: str, sensor: str, backlog: int = 0) -> None:
        self.hub, self.device, self.sensor = hub, device, sensor
        total = hub.read(device, sensor, cursor=0, last=0)[3]
        self.cursor = max(0, total - backlog)
        self.missed = 0

    def read_arrays(self, last: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(columns, time_ns, values[n_columns, n])`` new since the last read, time-sorted."""
        columns, time_ns, values, self.cursor, missed = self.hub.read(
            self.device, self.sensor, self.cursor, last
        )
        self.missed += missed
        return columns, time_ns, values

    def read(self, last: int | None = None) -> pd.DataFrame:
        """What is new since the last read, as a DataFrame (``time_ns`` plus value columns)."""
        return _to_frame(*self.read_arrays(last))
