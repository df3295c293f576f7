"""Live data inside JupyterLab: the dashboard's components fed from a running server or broker.

A notebook builds a :class:`LiveSession`, which owns a local :class:`~hitting_coach.ingest.hub.Hub`
and one background thread that feeds it through ``hub.ingest`` (the one ingest path), from

- a running ``hitting-coach serve`` (:func:`connect`): the thread polls the read-only
  ``/sensor/readings.json`` route for what is new since its cursor per device and sensor, and
  ``/sensor/swings.json`` for the server's swings (:class:`ServerSwings`: the swing panel shows
  the dashboard's swings, numbered as there, the coach's marks applied); or
- the MQTT broker (:func:`connect_mqtt`): a separate, non-persistent client (clean session,
  its own random client id, QoS 0), so it never steals or queues the server's messages.

The same :class:`hitting_coach.ui.dashboard.Dashboard` the server shows renders on the local hub,
:class:`~hitting_coach.ui.explorer.Explorer` picks a device, a sensor and a time window, pauses, and snapshots to a
DataFrame, and :meth:`LiveSession.buffer` gives a sensor as a HoloViews ``Buffer`` for your own
live plots::

    import holoviews as hv
    from hitting_coach.client import connect
    live = connect("http://localhost:8000")
    live.dashboard()                  # the /sensor/ plots, live in the notebook
    live.snapshot("phone", "gyroscope", seconds=10)   # a DataFrame: time_ns, x, y, z
    buffer = live.buffer("phone", "gyroscope")  # time (ms since the epoch), x, y, z
    hv.DynamicMap(hv.Curve, streams=[buffer]).opts(buffer.time_axis)  # time, x: live

Only a session that reads the broker directly finds swings itself, in what it receives
(:attr:`LiveSession.swings_source` says which).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
import time
import uuid
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.swings import swing_table
from hitting_coach.config import Settings
from hitting_coach.errors import ConfigError, MessageError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.mqtt_clients import MqttClient, MqttOptions, mqtt_client
from hitting_coach.ingest.parse import SCHEMAS
from hitting_coach.sensors import GYROSCOPE
from hitting_coach.ui.dashboard import Dashboard
from hitting_coach.ui.explorer import Explorer
from hitting_coach.ui.live_buffer import SensorBuffer
from hitting_coach.values import plural

__all__ = ["Explorer", "LiveSession", "SensorBuffer", "ServerSwings", "connect", "connect_mqtt"]

log = logging.getLogger(__name__)

_LIVE_SESSION_ID = "live"
#: The columns of a server's swing rows beyond the swing table's, shown before them.
_SERVER_COLUMNS = ("session_id", "found_ns", "added_by_coach", "mark_id")


class ServerSwings:
    """The swings a server found (its ``swings.json``), as :class:`LiveSwings` gives them: a
    notebook connected to a server lists the swings its dashboard lists, with the same
    numbers (from 1 per session) and the coach's marks, instead of detecting its own in the
    readings it fetched (which start wherever its backlog did)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._revision: dict[str, int] = {}

    def update(self, device: str, rows: list[dict[str, Any]]) -> bool:
        """Take the server's rows of ``device``; True when they changed."""
        with self._lock:
            if self._rows.get(device) == rows:
                return False
            self._rows[device] = rows
            self._revision[device] = self._revision.get(device, 0) + 1
            return True

    def rows(self, device: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows.get(device, ()))

    def count(self, device: str) -> int:
        """Changes whenever the device's list does (what the swing panel redraws on)."""
        with self._lock:
            return self._revision.get(device, 0)

    def start(self) -> ServerSwings:
        return self

    def stop(self) -> None:
        pass


class LiveSession:
    """A local hub fed in the background from a server (``url``) or the broker (``settings``).

    Build it with :func:`connect` or :func:`connect_mqtt`. ``capacity`` is the local ring size
    per device and sensor (readings); ``period_s`` how often the server is polled; ``backlog``
    how many recent readings per stream to fetch when a stream is first seen; ``placement``
    as for :class:`~hitting_coach.analysis.swings.SwingTracker` (None: guessed), for the swings
    found in what the broker sends (a server gives its own swings).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        capacity: int = 60_000,
        period_s: float = 0.25,
        backlog: int = 2_000,
        timeout_s: float = 5.0,
        placement: str | None = None,
    ) -> None:
        if (url is None) == (settings is None):
            raise ConfigError("give a LiveSession either a server url or MQTT settings")
        self.url = url.rstrip("/") if url else None
        self.settings = settings
        self.hub = Hub(capacity=capacity)
        #: The swings the dashboard's swing panel shows: the server's, or (from the broker)
        #: found live in what arrives.
        self.swings: LiveSwings | ServerSwings = (
            ServerSwings() if url else LiveSwings(self.hub, placement)
        )
        #: Where the swings come from, in words (the notebook prints it).
        self.swings_source = (
            f"the server's (swings.json at {url.rstrip('/')})"
            if url
            else "found in this notebook from the broker's stream (the server's numbers"
            " and the coach's marks are not known here)"
        )
        self._buffers: list[SensorBuffer] = []
        self.period_s = period_s
        self.backlog = backlog
        self.timeout_s = timeout_s
        self.source = "server" if url else "mqtt"
        self._cursors: dict[tuple[str, str], int] = {}
        self._message_id = 0
        self._paused = threading.Event()
        self._feeding = threading.Lock()  # held while a poll or a message feeds the hub
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MqttClient | None = None
        self._http: httpx.Client | None = None
        if url:  # https: verified against the system's CAs (as a browser would)
            verify = ssl.create_default_context()
            self._http = httpx.Client(base_url=self.url, timeout=timeout_s, verify=verify)
        self._queue: queue.Queue[bytes] = queue.Queue(10_000)
        self.dropped = 0
        self.error: str | None = None

    # ---------------------------------------------------------------------- lifecycle
    def start(self) -> LiveSession:
        """Start the background thread (and the MQTT client); calling it again does nothing."""
        if self._thread is not None:
            return self
        target = self._poll_loop if self.url else self._mqtt_loop
        if self.settings is not None:
            self._start_mqtt()
        self.swings.start()
        self._thread = threading.Thread(target=target, name=f"live-{self.source}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop receiving; the local hub keeps what it has. Safe to call twice."""
        self._stop.set()
        for buffer in self._buffers:
            buffer.stop()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._thread is not None:
            self.swings.stop()
        self._state("stopped")

    def pause(self) -> None:
        """Freeze what the plots show: nothing new reaches the local hub until :meth:`resume`.
        (The server keeps recording; a resumed view continues from where it is then.)"""
        with self._feeding:  # a poll under way finishes first
            self._paused.set()
            self._state("paused")

    def resume(self) -> None:
        self._paused.clear()
        self._state("resumed")

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def __enter__(self) -> LiveSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url or f"mqtt://{self.settings.mqtt_broker}:{self.settings.mqtt_port}"
        state = "paused" if self.paused else "stopped" if self._stop.is_set() else "live"
        return f"<LiveSession {where} {state}: {plural(len(self.devices()), 'device')}>"

    # ------------------------------------------------------------------------ reading
    def devices(self) -> list[str]:
        return self.hub.devices()

    def sensors(self, device: str) -> list[str]:
        return self.hub.sensors(device)

    def wait_for_data(self, timeout_s: float = 15.0, readings: int = 1) -> list[str]:
        """Block until some device sent ``readings``; returns the devices. Raises
        TimeoutError naming the source (and its last error) when nothing came."""
        arrived = threading.Event()

        def wake(message: Any) -> None:
            arrived.set()

        self.hub.subscribe(wake)
        deadline = time.monotonic() + timeout_s
        try:
            # Woken by each message the local hub takes in, not by a timer.
            while self.hub.status()["readings"] < readings:
                if not arrived.wait(deadline - time.monotonic()):
                    break
                arrived.clear()
            else:
                return self.devices()
        finally:
            self.hub.unsubscribe(wake)
        where = self.url or (self.settings.mqtt_broker if self.settings else "?")
        why = f" (last error: {self.error})" if self.error else ""
        raise TimeoutError(f"no readings from {where} within {timeout_s:.0f} s{why}")

    def snapshot(
        self,
        device: str | None = None,
        sensor: str = GYROSCOPE,
        seconds: float | None = None,
    ) -> pd.DataFrame:
        """What the local hub holds for (device, sensor): ``time_ns`` (epoch ns) plus the value
        columns, sorted by time, optionally only the last ``seconds`` of readings. A copy:
        later readings do not change it. Device defaults to the first one seen."""
        device = device or (self.devices() or [None])[0]
        if device is None:
            return pd.DataFrame({"time_ns": np.empty(0, np.int64)})
        frame = self.hub.frame(device, sensor)
        if seconds is not None and len(frame):
            t = frame["time_ns"].to_numpy()
            frame = frame.iloc[int(np.searchsorted(t, t[-1] - seconds * 1e9)) :]
        return frame.reset_index(drop=True)

    def status(self) -> dict[str, Any]:
        """The local hub's status (what the dashboard's status line shows)."""
        return self.hub.status()

    def dashboard(
        self, window_s: float = 10.0, window: int | None = None, period_ms: int = 500
    ) -> Dashboard:
        """The server's live dashboard component (swing panel included), on the local hub:
        the last ``window_s`` seconds, or the last ``window`` points when given."""
        return Dashboard(
            self.hub,
            status=self.status,
            window=window,
            window_s=window_s,
            period_ms=period_ms,
            swings=self.swings,
        )

    def swing_table(self, device: str | None = None) -> pd.DataFrame:
        """The live swings of ``device`` (default: the first) as the swing table of
        :func:`hitting_coach.analysis.swings.swings`: the server's (then with its
        ``session_id``, ``found_ns``, ``added_by_coach`` and ``mark_id`` first), or, reading
        the broker, those found here (:attr:`swings_source` says which)."""
        device = device or (self.devices() or [""])[0]
        rows = self.swings.rows(device)
        table = swing_table(rows)
        extra = [c for c in _SERVER_COLUMNS if any(c in r for r in rows)]
        if not extra:
            return table
        front = pd.DataFrame({c: [r.get(c) for r in rows] for c in extra}, index=table.index)
        return pd.concat([front, table], axis=1)

    def buffer(
        self,
        device: str | None = None,
        sensor: str = GYROSCOPE,
        seconds: float | None = 10.0,
        rows: int | None = None,
        period_ms: int = 250,
    ) -> SensorBuffer:
        """``device``'s ``sensor`` (default: the first device) as a HoloViews
        :class:`~holoviews.streams.Buffer`, fed as readings arrive: a DataFrame of ``time``
        (milliseconds since the epoch, UTC: see :mod:`hitting_coach.ui.live_buffer`) and the
        sensor's columns, the last ``seconds`` (or ``rows``
        readings). ``hv.DynamicMap(hv.Curve, streams=[buffer])`` plots it live, in a notebook
        or a ``panel serve`` app; it is pulled every ``period_ms`` on the plot's own event
        loop, never on this session's thread. Stopped with the session (or ``.stop()``)."""
        device = device or (self.devices() or [None])[0]
        if device is None:
            raise ConfigError("no device yet: give the device, or call wait_for_data() first")
        buffer = SensorBuffer(
            self.hub, device, sensor, seconds=seconds, rows=rows, period_ms=period_ms
        )
        self._buffers.append(buffer)
        return buffer.start()

    def explorer(self, **params: Any) -> Explorer:
        """An :class:`Explorer` (device, sensor, time window, pause, snapshot) on this session."""
        return Explorer(self, **params)

    # ------------------------------------------------------------------------ feeding
    def _state(self, state: str, **extra: Any) -> None:
        where = self.url or (self.settings.mqtt_broker if self.settings else "")
        self.hub.set_source_state(self.source, state=state, address=where, **extra)

    def _feed(self, device: str, sensor: str, time_ns: list[int], values: dict) -> None:
        required = SCHEMAS.get(sensor.lower(), ())
        payload = []
        for i, t in enumerate(time_ns):
            reading = {c: v[i] for c, v in values.items() if v[i] is not None}
            if all(c in reading for c in required):
                payload.append({"name": sensor, "time": t, "values": reading})
        if not payload:
            return
        self._message_id += 1
        message = {
            "messageId": self._message_id,
            "sessionId": _LIVE_SESSION_ID,
            "deviceId": device,
            "payload": payload,
        }
        self.hub.ingest(orjson.dumps(message), source=self.source)

    def _get(self, query: dict[str, Any], route: str = "readings.json") -> Any:
        """The readings (or swings) route's answer to ``query``; None for a stream or device
        the server no longer has (404). Raises :class:`httpx.HTTPError` for anything else that
        is not a 200."""
        if self._http is None:
            raise ConfigError("this LiveSession is stopped, or reads MQTT, not a server")
        response = self._http.get(f"/sensor/{route}", params=query)
        if response.status_code == 404 and ("sensor" in query or "device" in query):
            return None
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"{self.url} answered {response.status_code}: {response.text[:200]}",
                request=response.request,
                response=response,
            )
        return orjson.loads(response.content)

    def poll(self) -> int:
        """Fetch what is new on the server into the local hub once; returns readings added.
        Raises :class:`httpx.HTTPError` when the server cannot be read."""
        added = 0
        for device, sensors in self._get({})["devices"].items():
            for sensor in sensors:
                key = (device, sensor)
                query: dict[str, Any] = {"device": device, "sensor": sensor}
                if key in self._cursors:
                    query["cursor"] = self._cursors[key]
                else:
                    query["last"] = self.backlog
                got = self._get(query)
                if got is None:  # gone since the index was read
                    continue
                self._cursors[key] = got["cursor"]
                if got["time_ns"]:
                    self._feed(device, sensor, got["time_ns"], got["values"])
                    added += len(got["time_ns"])
            if isinstance(self.swings, ServerSwings):
                found = self._get({"device": device}, "swings.json")
                if found is not None:
                    self.swings.update(device, found["swings"])
        return added

    def _poll_loop(self) -> None:
        self._state(f"connecting to {self.url}")
        while not self._stop.is_set():
            with self._feeding:
                if not self._paused.is_set():
                    self._poll_once()
            self._stop.wait(self.period_s)

    def _poll_once(self) -> None:
        try:
            self.poll()
            if self.error is not None or not self._connected:
                self._state(f"connected to {self.url}")
            self.error = None
        except (httpx.HTTPError, ValueError, KeyError, MessageError) as e:
            if self.error is None:
                log.warning("live: cannot read %s: %s", self.url, e)
            self.error = str(e)
            self._state(f"cannot reach {self.url}: {e}")

    @property
    def _connected(self) -> bool:
        state = self.hub.source_states().get(self.source, {}).get("state", "")
        return state.startswith("connected")

    # --------------------------------------------------------------------------- MQTT
    def _start_mqtt(self) -> None:
        s = self.settings
        assert s is not None
        if not s.mqtt_broker:
            raise ConfigError("MQTT_BROKER is empty: nothing to connect to")
        client_id = f"{s.mqtt_client_id}-notebook-{uuid.uuid4().hex[:8]}"
        # Clean session: nothing is queued for us on the broker after we leave.
        options = MqttOptions.from_settings(s, client_id=client_id, clean_session=True)

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason.is_failure:
                self.error = str(reason)
                self._state(f"refused by {s.mqtt_broker}: {reason}")
                return
            client.subscribe(s.mqtt_topic, qos=0)
            self.error = None
            self._state(f"connected to {options.address}", client_id=client_id)

        def on_connect_fail(client: Any, userdata: Any) -> None:
            error = client.last_connect_error
            self.error = str(error) if error is not None else "connection failed"
            self._state(f"cannot reach {options.address}: {self.error}; retrying")

        def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any):
            if not self._stop.is_set():
                self._state(f"disconnected ({reason}); reconnecting")

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            try:
                self._queue.put_nowait(msg.payload)
            except queue.Full:
                self.dropped += 1

        client = mqtt_client(
            options,
            on_connect=on_connect,
            on_connect_fail=on_connect_fail,
            on_disconnect=on_disconnect,
            on_message=on_message,
        )
        self._state(f"connecting to {options.address}", client_id=client_id)
        self._client = client.start()

    def _mqtt_loop(self) -> None:
        while not self._stop.is_set():
            try:
                payload = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._feeding:
                if self._paused.is_set():
                    self.dropped += 1
                    continue
                with contextlib.suppress(MessageError):  # counted by the hub, by reason
                    self.hub.ingest(payload, source=self.source)


def connect(url: str | None = None, **options: Any) -> LiveSession:
    """A started :class:`LiveSession` on a running ``hitting-coach serve`` at ``url``
    (default ``http://localhost:<HITTING_COACH_PORT>``). Options as for LiveSession."""
    if url is None:
        url = f"http://localhost:{Settings.load().port}"
    return LiveSession(url, **options).start()


def connect_mqtt(settings: Settings | None = None, **options: Any) -> LiveSession:
    """A started :class:`LiveSession` on the MQTT broker of ``settings`` (default: the
    ``MQTT_*`` settings from the environment and the project's ``.env``, see
    :meth:`Settings.load`). Raises ConfigError without a broker."""
    settings = settings or Settings.load()
    return LiveSession(settings=settings, **options).start()
