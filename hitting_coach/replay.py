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

import http.client
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

import numpy as np
import orjson

from hitting_coach.errors import ReplayError, SessionError
from hitting_coach.store.sessions import Session, load_session
from hitting_coach.text import printable

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
            f"replayed {self.readings:,} readings in {self.messages:,} messages to "
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
    """POSTs each message on one kept-alive connection; retries while the server restarts."""

    def __init__(
        self, url: str, *, ca_file: str | None = None, timeout: float = 10, retries: int = 8
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ReplayError(f"no host in {_redact(url)}")
        self.url = url
        self.path = (parts.path or "/data") + (f"?{parts.query}" if parts.query else "")
        self.retries = retries
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=ca_file or None)
            self._connect: Callable[[], http.client.HTTPConnection] = lambda: (
                http.client.HTTPSConnection(
                    parts.hostname, parts.port or 443, timeout=timeout, context=context
                )
            )
        else:
            self._connect = lambda: http.client.HTTPConnection(
                parts.hostname, parts.port or 80, timeout=timeout
            )
        self._conn: http.client.HTTPConnection | None = None
        self._reached = False

    def publish(self, body: bytes) -> None:
        error: str = ""
        # Retry through a server restart; a target never reached fails fast.
        for attempt in range(self.retries if self._reached else min(3, self.retries)):
            if attempt:
                time.sleep(min(2.0, 0.1 * 2**attempt))
            try:
                if self._conn is None:
                    self._conn = self._connect()
                headers = {"Content-Type": "application/json"}
                self._conn.request("POST", self.path, body, headers)
                response = self._conn.getresponse()
                reply = response.read()
            except ssl.SSLCertVerificationError as e:
                raise ReplayError(_untrusted(self.url, e)) from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                error = str(e) or type(e).__name__
                continue
            if response.status == 200:
                self._reached = True
                return
            text = reply.decode(errors="replace")[:300]
            if response.status < 500:
                raise ReplayError(f"{_redact(self.url)} answered {response.status}: {text}")
            error = f"{response.status}: {text}"
        raise ReplayError(f"cannot post to {_redact(self.url)}: {error}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MQTTPublisher:
    """Publishes over MQTT (TCP or WebSockets, TLS verified) with paho-mqtt 2.x.

    QoS 1 by default, so the broker acknowledges every message; up to ``window`` messages are
    in flight and :meth:`close` waits for the rest.
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
        import paho.mqtt.client as paho

        parts = urlsplit(url)
        scheme = parts.scheme
        tls = scheme in ("mqtts", "wss")
        websockets = scheme in ("ws", "wss")
        default_port = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}[scheme]
        query = parse_qs(parts.query)
        path_topic = parts.path.lstrip("/") if not websockets else ""
        self.topic = (query.get("topic") or [None])[0] or topic or path_topic or "sensor-logger"
        self.url, self.qos, self.timeout, self.window = url, qos, timeout, window
        self._paho = paho
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"hitting-coach-replay-{uuid.uuid4().hex[:8]}",
            transport="websockets" if websockets else "tcp",
            protocol=paho.MQTTv311,
        )
        if websockets:
            self._client.ws_set_options(path=parts.path or "/mqtt")
        if tls:
            if ca_file and not Path(ca_file).is_file():
                raise ReplayError(f"CA file {ca_file} does not exist")
            self._client.tls_set(ca_certs=ca_file or None)
        user = unquote(parts.username) if parts.username else username
        secret = unquote(parts.password) if parts.password else password
        if user:
            self._client.username_pw_set(user, secret or None)
        self._connected: dict[str, Any] = {}
        self._client.on_connect = self._on_connect
        self._inflight: deque[Any] = deque()
        try:
            self._client.connect(parts.hostname or "localhost", parts.port or default_port, 30)
        except ssl.SSLCertVerificationError as e:
            raise ReplayError(_untrusted(url, e)) from None
        except (OSError, ValueError) as e:
            raise ReplayError(f"cannot connect to {_redact(url)}: {e}") from None
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while "code" not in self._connected and time.monotonic() < deadline:
            time.sleep(0.01)
        code = self._connected.get("code")
        if code is None or code.is_failure:
            self._client.loop_stop()
            why = "no answer" if code is None else str(code)
            raise ReplayError(f"broker {_redact(url)} refused the connection: {why}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        self._connected["code"] = code

    def publish(self, body: bytes) -> None:
        info = self._client.publish(self.topic, body, qos=self.qos)
        if info.rc != self._paho.MQTT_ERR_SUCCESS:
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
            self._client.disconnect()
            self._client.loop_stop()


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
) -> ReplayResult:
    """Publish a session (a reference :func:`load_session` understands), a Sensor Logger
    export (a path) or a :class:`Session` to ``to``.

    ``speed`` is the time factor (1 real time, 0 as fast as possible). Raises
    :class:`SessionError` if the source cannot be read, :class:`ReplayError` if the target
    fails; what was sent before a failure stays sent.
    """
    if speed < 0:
        raise ReplayError("speed must be 0 (as fast as possible) or more")
    session = _source(source, data_dir, take)
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


def _source(source: str | Path | Session, data_dir: Any, take: str | None) -> Session:
    if isinstance(source, Session):
        return source if take is None else load_session(source, data_dir, take=take)
    if Path(source).expanduser().exists():
        from hitting_coach.store.exports import read_export

        if take is not None:
            raise SessionError("--take works with recorded sessions, not with export files")
        return read_export(source)
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
