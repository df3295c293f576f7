"""Replay a recorded session or a Sensor Logger export as the app would send it.

Readings of all sensors are cut into messages of ``batch_s`` of reading time (the app's push
period), in time order, and published at real time (``speed=1``), faster or slower
(``speed=10``), or as fast as the target takes them (``speed=0``), to

- ``http://host:port/data`` or ``https://...`` (POST, like the app's HTTP push; a
  ``?token=`` in the URL is kept),
- ``mqtt://host:1883/topic``, ``mqtts://host:8883/topic`` (TLS), ``ws://host:port/mqtt``,
  ``wss://host:port/mqtt`` (MQTT over WebSockets; topic in ``?topic=``). TLS always verifies
  the broker's certificate, against ``ca_file`` if given, else the system's CAs.

By default the replay gets a session id of its own (``<id>-replay-<UTC time>``), so replaying
into the server that recorded the session, or twice, shows up as a new session instead of
being dropped as duplicates; ``keep_ids=True`` sends the original ids.
"""

from __future__ import annotations

import logging
import ssl
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import numpy as np
import orjson
from paho.mqtt.client import MQTT_ERR_SUCCESS

from hitting_coach.errors import ConfigError, ReplayError, SessionError
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client
from hitting_coach.store.sessions import Session, load_session
from hitting_coach.text import printable
from hitting_coach.values import plural

__all__ = [
    "HTTPPublisher",
    "MQTTPublisher",
    "ProgressLine",
    "Publisher",
    "ReplayError",
    "ReplayResult",
    "build_messages",
    "publisher_for",
    "replay",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Publisher(Protocol):
    """Where replayed messages go (one per transport; tests can pass their own)."""

    def publish(self, body: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReplayResult:
    messages: int
    readings: int
    device_id: str
    session_id: str
    elapsed_s: float
    target: str

    def describe(self) -> str:
        return (
            f"replayed {plural(self.readings, 'reading')} in {plural(self.messages, 'message')} to "
            f"{self.target} as {self.device_id}/{self.session_id} in {self.elapsed_s:.1f} s"
        )


@dataclass(frozen=True)
class Outgoing:
    """One message to send ``at_s`` seconds of reading time after the first reading."""

    at_s: float
    body: bytes
    readings: int


# ------------------------------------------------------------------------------ messages
def build_messages(
    session: Session,
    *,
    batch_s: float = 0.2,
    device_id: str | None = None,
    session_id: str | None = None,
) -> list[Outgoing]:
    """Sensor Logger messages holding every reading of ``session`` exactly once.

    Readings are grouped by reading time into windows of ``batch_s``; a message is due at the
    end of its window, as the app sends it. Values that are missing (NaN, null) are left out
    of a reading; an ``accuracy`` column goes back to the reading's ``accuracy`` field.
    """
    device_id = device_id or session.device_id
    session_id = session_id or session.session_id
    times, readings = [], []
    for sensor, frame in session.frames.items():
        if frame.empty:
            continue
        columns = [c for c in frame.columns if c != "time_ns"]
        arrays = [frame[c].to_numpy() for c in columns]
        for i, t in enumerate(frame["time_ns"].to_numpy().tolist()):
            values: dict[str, Any] = {}
            reading: dict[str, Any] = {"name": sensor, "time": t, "values": values}
            for c, a in zip(columns, arrays, strict=True):
                v = a[i]
                if v is None or (isinstance(v, float) and v != v):
                    continue
                if c == "accuracy":
                    reading["accuracy"] = v.item() if hasattr(v, "item") else v
                else:
                    values[c] = v.item() if hasattr(v, "item") else v
            times.append(t)
            readings.append(reading)
    if not readings:
        return []
    order = np.argsort(np.array(times, dtype=np.int64), kind="stable")
    t0 = times[order[0]]
    batch_ns = max(1, int(batch_s * 1e9))
    out: list[Outgoing] = []
    current: list[dict] = []
    window = 0
    for index in order:
        w = (times[index] - t0) // batch_ns
        if current and w != window:
            out.append(_outgoing(len(out), current, window, batch_ns, device_id, session_id))
            current = []
        window = w
        current.append(readings[index])
    out.append(_outgoing(len(out), current, window, batch_ns, device_id, session_id))
    return out


def _outgoing(
    message_id: int, payload: list, window: int, batch_ns: int, device: str, session: str
) -> Outgoing:
    doc = {"messageId": message_id, "sessionId": session, "deviceId": device, "payload": payload}
    doc["replay"] = True  # the server keeps a replay's own (old) times: see parse.Limits
    return Outgoing((window + 1) * batch_ns / 1e9, orjson.dumps(doc), len(payload))


# ---------------------------------------------------------------------------- publishers
class HTTPPublisher:
    """POSTs each message on one kept-alive connection (HTTPX); while the server restarts, its
    transport retries the connection (``retries`` times, after 0, 0.5, 1, 2, ... s). A target
    never reached fails fast: until the first message gets through, two retries only. An
    answer other than 200 ends the replay with the server's message."""

    def __init__(
        self, url: str, *, ca_file: str | None = None, timeout: float = 10, retries: int = 6
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ReplayError(f"no host in {_redact(url)}")
        if ca_file and not Path(ca_file).is_file():
            raise ReplayError(f"CA file {ca_file} does not exist")
        self.url = url
        self.retries = retries
        self._verify = ssl.create_default_context(cafile=ca_file or None)  # else: the system's
        self._timeout = timeout
        self._client = self._http(min(2, retries))
        self._reached = False

    def _http(self, retries: int) -> httpx.Client:
        transport = httpx.HTTPTransport(verify=self._verify, retries=retries)
        return httpx.Client(
            transport=transport,
            timeout=self._timeout,
            headers={"Content-Type": "application/json"},
        )

    def publish(self, body: bytes) -> None:
        try:
            try:
                response = self._client.post(self.url, content=body)
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                # The server closed the kept-alive connection (it is stopping). Send once more
                # on a new one: the transport's retries wait for the server to be back, and
                # the hub drops the message if it had it already.
                response = self._client.post(self.url, content=body)
        except httpx.ConnectError as e:
            if isinstance(e.__cause__, ssl.SSLCertVerificationError):
                raise ReplayError(_untrusted(self.url, e.__cause__)) from None
            raise ReplayError(f"cannot post to {_redact(self.url)}: {e}") from None
        except httpx.HTTPError as e:
            raise ReplayError(f"cannot post to {_redact(self.url)}: {e}") from None
        if response.status_code == 200:
            if not self._reached:  # from now on, ride out a restart of the server
                self._reached = True
                self._client.close()
                self._client = self._http(self.retries)
            return
        text = response.text[:300]
        if response.status_code < 500:
            raise ReplayError(f"{_redact(self.url)} answered {response.status_code}: {text}")
        raise ReplayError(f"cannot post to {_redact(self.url)}: {response.status_code}: {text}")

    def close(self) -> None:
        self._client.close()


class MQTTPublisher:
    """Publishes over MQTT (TCP or WebSockets, TLS verified) with a client from
    :func:`hitting_coach.ingest.mqtt_clients.mqtt_client`.

    QoS 1 by default, so the broker acknowledges every message; up to ``window`` messages are
    in flight and :meth:`close` waits for the rest. A connection lost midway is paho's to
    restore (it sends what was not acknowledged again).
    """

    def __init__(
        self,
        url: str,
        *,
        topic: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        qos: int = 1,
        timeout: float = 10,
        window: int = 50,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme
        tls = scheme in ("mqtts", "wss")
        websockets = scheme in ("ws", "wss")
        default_port = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}[scheme]
        query = parse_qs(parts.query)
        path_topic = parts.path.lstrip("/") if not websockets else ""
        self.topic = (query.get("topic") or [None])[0] or topic or path_topic or "sensor-logger"
        self.url, self.qos, self.timeout, self.window = url, qos, timeout, window
        if tls and ca_file and not Path(ca_file).is_file():
            raise ReplayError(f"CA file {ca_file} does not exist")
        try:
            options = MqttOptions(
                parts.hostname or "localhost",
                parts.port or default_port,
                transport="websockets" if websockets else "tcp",
                ws_path=parts.path or "/mqtt",
                tls=tls,
                ca_file=ca_file,
                username=unquote(parts.username) if parts.username else username,
                password=unquote(parts.password) if parts.password else password,
                client_id=f"hitting-coach-replay-{uuid.uuid4().hex[:8]}",
                ca_name="--ca-file",
            )
            self._client = mqtt_client(options)
        except (ConfigError, ValueError) as e:
            raise ReplayError(f"cannot connect to {_redact(url)}: {e}") from None
        self._inflight: deque[Any] = deque()
        self._client.start()
        answered = self._client.answered.wait(timeout)
        error, refusal = self._client.last_connect_error, self._client.refusal
        if not answered or error is not None or refusal is not None:
            self._client.close()
        if isinstance(error, ssl.SSLCertVerificationError):
            raise ReplayError(_untrusted(url, error))
        if error is not None:
            raise ReplayError(f"cannot connect to {_redact(url)}: {error}")
        if not answered or refusal is not None:
            why = "no answer" if not answered else str(refusal)
            raise ReplayError(f"broker {_redact(url)} refused the connection: {why}")

    def publish(self, body: bytes) -> None:
        if not self._client.wait_connected(self.timeout):  # paho is reconnecting meanwhile
            raise ReplayError(
                f"lost the connection to {_redact(self.url)}: not back within {self.timeout} s"
            )
        info = self._client.publish(self.topic, body, qos=self.qos)
        if info.rc != MQTT_ERR_SUCCESS:
            raise ReplayError(f"cannot publish to {_redact(self.url)}: {info.rc}")
        self._inflight.append(info)
        while len(self._inflight) > self.window:
            self._wait(self._inflight.popleft())

    def _wait(self, info: Any) -> None:
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as e:
            raise ReplayError(f"lost the connection to {_redact(self.url)}: {e}") from None
        if not info.is_published():
            raise ReplayError(f"{_redact(self.url)} did not acknowledge within {self.timeout} s")

    def close(self) -> None:
        try:
            while self._inflight:
                self._wait(self._inflight.popleft())
        finally:
            self._client.close()


def publisher_for(
    url: str,
    *,
    ca_file: str | None = None,
    topic: str | None = None,
    username: str | None = None,
    password: str | None = None,
    qos: int = 1,
) -> Publisher:
    """The publisher for a target URL (see the module docstring for the schemes)."""
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HTTPPublisher(url, ca_file=ca_file)
    if scheme in ("mqtt", "mqtts", "ws", "wss"):
        return MQTTPublisher(
            url, topic=topic, username=username, password=password, ca_file=ca_file, qos=qos
        )
    raise ReplayError(
        f"cannot replay to {_redact(url)}: use http(s)://host/data, mqtt(s)://host/topic "
        "or ws(s)://host/path"
    )


def _untrusted(url: str, error: ssl.SSLCertVerificationError) -> str:
    return (
        f"{_redact(url)}: the TLS certificate is not trusted ({error.verify_message or error}); "
        "pass the CA that signed it with --ca-file"
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    query = "&".join(
        "token=***" if q.startswith("token=") else q for q in parts.query.split("&") if q
    )
    return parts._replace(query=query).geturl()


# -------------------------------------------------------------------------------- replay
def replay(
    source: str | Path | Session,
    to: str,
    *,
    speed: float = 1.0,
    data_dir: str | Path | None = None,
    take: str | None = None,
    batch_s: float = 0.2,
    keep_ids: bool = False,
    session_id: str | None = None,
    ca_file: str | None = None,
    topic: str | None = None,
    username: str | None = None,
    password: str | None = None,
    qos: int = 1,
    progress: Progress | None = None,
    publisher: Publisher | None = None,
    max_bytes: int | None = None,
) -> ReplayResult:
    """Publish a session (a reference :func:`load_session` understands), a Sensor Logger
    export (a path) or a :class:`Session` to ``to``.

    ``speed`` is the time factor (1 real time, 0 as fast as possible); ``max_bytes`` bounds
    what an export's files hold (the import limit, see :func:`read_export`). Raises
    :class:`SessionError` if the source cannot be read, :class:`ReplayError` if the target
    fails; what was sent before a failure stays sent.
    """
    if speed < 0:
        raise ReplayError("speed must be 0 (as fast as possible) or more")
    session = _source(source, data_dir, take, max_bytes)
    if not keep_ids:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        session_id = session_id or f"{session.session_id}-replay-{stamp}"
    messages = build_messages(session, batch_s=batch_s, session_id=session_id)
    if not messages:
        raise SessionError(f"nothing to replay: {session!r} has no readings")
    target = _redact(to)
    publisher = publisher or publisher_for(
        to, ca_file=ca_file, topic=topic, username=username, password=password, qos=qos
    )
    say = progress or (lambda text: None)
    total_s = messages[-1].at_s
    sent = readings = 0
    started = time.monotonic()
    last_report = 0.0
    try:
        for message in _paced(messages, speed, started):
            publisher.publish(message.body)
            sent += 1
            readings += message.readings
            now = time.monotonic()
            if now - last_report >= 0.5:
                last_report = now
                say(
                    f"replay: {sent:,}/{len(messages):,} messages, {readings:,} readings, "
                    f"{message.at_s:.1f}/{total_s:.1f} s of the session"
                )
    finally:
        publisher.close()
    elapsed = time.monotonic() - started
    say(f"replay: {sent:,}/{len(messages):,} messages, {readings:,} readings, done")
    return ReplayResult(
        sent, readings, session.device_id, session_id or session.session_id, elapsed, target
    )


def _source(
    source: str | Path | Session, data_dir: Any, take: str | None, max_bytes: int | None
) -> Session:
    if isinstance(source, Session):
        return source if take is None else load_session(source, data_dir, take=take)
    if Path(source).expanduser().exists():
        from hitting_coach.store.exports import read_export

        if take is not None:
            raise SessionError("--take works with recorded sessions, not with export files")
        return read_export(source, max_bytes=max_bytes)
    return load_session(str(source), data_dir, take=take)


def _paced(messages: list[Outgoing], speed: float, started: float) -> Iterator[Outgoing]:
    for message in messages:
        if speed > 0:
            delay = started + message.at_s / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield message


# ------------------------------------------------------------------------------ progress
class ProgressLine:
    """Progress on stderr: one line rewritten in place on a terminal, else (logs, pipes) a
    line every ``every_s`` seconds, so a short job prints nothing but its result."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self._last_write = time.monotonic()
        self._pending: str | None = None
        self._width = 0

    def __call__(self, text: str) -> None:
        text = printable(text)  # file and sensor names come from the export
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self._pending = text
        elif time.monotonic() - self._last_write >= self.every_s:
            self._last_write = time.monotonic()
            self.stream.write(text + "\n")
            self._pending = None
        else:
            self._pending = text
        self.stream.flush()

    def close(self) -> None:
        """End the progress line on a terminal (the caller prints the result next)."""
        if self.tty and self._pending is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._pending, self._width = None, 0
