"""The live plots' data, read once per tick for every open page and sent as one binary frame.

A served dashboard page does not stream its plots through its Bokeh session: each session's
patch would be built and serialised again for every tab, and that per-session machinery, not
the data, was what a tick cost. Instead the server keeps one :class:`LiveFeed`:

- one hub reader per followed (device, sensor), read once per tick whatever the number of tabs;
- one frame per device and tick, encoded once, written as it is to every page following that
  device over its own WebSocket (``/sensor/live.ws?token=...``);
- a page that connects, reconnects, falls behind or picks another device gets that device's
  window first (a *reset* frame), read up to exactly where the shared readers stand, so
  nothing is shown twice or missed;
- the browser (``hitting_coach/ui/live_plot.js``) streams each frame into the plot's
  ColumnDataSource itself, with the window rule of :class:`hitting_coach.live_window.LiveWindow`
  (seconds or points), without echoing the data back to the server.

A page learns its token from its own (logged-in) Bokeh session: the token is the credential,
random and unguessable, and is forgotten when the session ends.

Frame layout (little-endian): ``uint32`` header length, the header (JSON, space-padded to a
multiple of 4 bytes), then for each sensor in the header's ``s`` list: the times, then the
``x``, ``y``, ``z`` values as ``float32`` (the sensors resolve far less than float32 does;
the gyroscope is already in °/s). Times are ``int32`` microseconds after the sensor's ``base``
(float64 ms since the epoch) when the frame spans under 30 minutes, else ``float64`` ms (the
sensor's ``"enc": "f64ms"``): exact to the microsecond either way. 16 bytes a reading.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import tornado.websocket

from hitting_coach.ingest.hub import Hub
from hitting_coach.live_window import LiveWindow
from hitting_coach.sensors import live_sensors
from hitting_coach.web.app import App, origin_allowed

__all__ = [
    "AXES",
    "LIVE_SENSORS",
    "LiveFeed",
    "LiveSocket",
    "Subscription",
    "decode_frame",
    "encode_frame",
]

log = logging.getLogger(__name__)

AXES = ("x", "y", "z")
#: A frame's times as int32 µs offsets need its span under 2**31 µs (35 min); keep a margin.
_I32_SPAN_NS = 30 * 60 * 1_000_000_000
#: The live plots' sensors and the factor their values are shown with (gyroscope in °/s).
LIVE_SENSORS = {name: view.scale for name, view in live_sensors().items()}
#: The value keys each live sensor's x, y and z lines show (a watch's rotationRateX, ...).
LIVE_COLUMNS = {name: view.columns for name, view in live_sensors().items()}
#: Frames a page may have unsent before it is skipped and later sent its window afresh.
MAX_PENDING_WRITES = 4


@dataclass
class Chunk:
    """One sensor's readings for a frame: times (ns) and the ``x, y, z`` rows, scaled."""

    sensor: str
    time_ns: np.ndarray
    values: np.ndarray  # float32 [3, n]


def encode_frame(
    device: str, chunks: Iterable[Chunk], reset: bool = False, status: str | None = None
) -> bytes:
    """The frame for ``chunks`` and, when given, the status line's new text (HTML, escaped by
    :func:`~hitting_coach.ui.shared_status.status_text`); see the module's docstring. The
    header stays short (it goes with every tick): ``device`` and ``reset`` only in a reset
    frame, ``enc`` only when not ``i32us``."""
    head: dict[str, Any] = {"device": device, "reset": True} if reset else {}
    head["s"] = []
    if status is not None:
        head["status"] = status
    parts: list[bytes] = []
    for chunk in chunks:
        n = len(chunk.time_ns)
        entry: dict[str, Any] = {"name": chunk.sensor, "n": n}
        if n:
            base_ns = int(chunk.time_ns.min())
            if int(chunk.time_ns.max()) - base_ns < _I32_SPAN_NS:
                entry["base"] = base_ns / 1e6
                parts.append(((chunk.time_ns - base_ns) // 1000).astype("<i4").tobytes())
            else:
                entry["enc"] = "f64ms"
                parts.append((chunk.time_ns / 1e6).astype("<f8").tobytes())
            parts.append(np.ascontiguousarray(chunk.values, dtype="<f4").tobytes())
        head["s"].append(entry)
    header = orjson.dumps(head)
    header += b" " * (-len(header) % 4)
    return b"".join([len(header).to_bytes(4, "little"), header, *parts])


def decode_frame(frame: bytes) -> dict[str, Any]:
    """A frame back as ``{"device", "reset", "sensors": {name: {"t_ms", "x", "y", "z"}}}``
    (what the browser does with it, for tests and notebooks)."""
    size = int.from_bytes(frame[:4], "little")
    head = orjson.loads(frame[4 : 4 + size])
    offset = 4 + size
    sensors: dict[str, dict[str, np.ndarray]] = {}
    for entry in head["s"]:
        n = entry["n"]
        if entry.get("enc", "i32us") == "i32us":
            offsets = np.frombuffer(frame, "<i4", n, offset)
            t_ms = entry.get("base", 0.0) + offsets / 1000.0
            offset += 4 * n
        else:
            t_ms = np.frombuffer(frame, "<f8", n, offset).copy()
            offset += 8 * n
        values = np.frombuffer(frame, "<f4", 3 * n, offset).reshape(3, n) if n else np.empty((3, 0))
        offset += 12 * n
        sensors[entry["name"]] = {"t_ms": t_ms, **dict(zip(AXES, values, strict=True))}
    return {
        "device": head.get("device"),
        "reset": head.get("reset", False),
        "status": head.get("status"),
        "sensors": sensors,
    }


@dataclass(eq=False)
class Subscription:
    """One page: its token, what it shows, its socket once connected."""

    token: str
    window_s: float
    window_points: int | None
    device: str | None = None
    socket: Any = None
    reset: bool = True  # send the window first (new page, new device, fell behind)
    pending: list[Any] = field(default_factory=list)  # unfinished writes (futures)
    #: called (on the server's loop) when the followed device's swings change
    on_swings: Callable[[], None] | None = None

    @property
    def window(self) -> LiveWindow:
        """What the page's plots show (the browser applies the same rule as it streams)."""
        return LiveWindow(self.window_s, self.window_points)


class LiveFeed:
    """Reads each followed device's new readings once per tick and sends every page one frame.

    ``sensors`` maps a sensor name to the factor its values are shown with (the gyroscope in
    °/s). Call :meth:`tick` every update period on the server's loop (:meth:`start` does, with
    tornado); :meth:`follow`, :meth:`attach` and :meth:`detach` come from the sessions and
    sockets. Thread-safe; sockets are written only from :meth:`tick` and :meth:`attach`.
    """

    def __init__(
        self,
        hub: Hub,
        sensors: dict[str, float],
        period_ms: int = 500,
        swing_revision: Callable[[str], Any] | None = None,
        status: Callable[[str], str] | None = None,
        status_every_s: float = 1.0,
    ) -> None:
        self.hub = hub
        self._status = status
        self.status_every_s = status_every_s
        self._status_text: dict[str, tuple[float, str]] = {}
        self.sensors = dict(sensors)
        self.period_ms = period_ms
        self._swing_revision = swing_revision
        self._lock = threading.RLock()
        self._subs: dict[str, Subscription] = {}
        self._cursors: dict[tuple[str, str], int] = {}
        self._revisions: dict[str, Any] = {}
        self._timer: Any = None
        self._loop: Any = None
        self.counters = {"frames": 0, "bytes": 0, "skipped": 0, "resets": 0, "refused": 0}

    # ------------------------------------------------------------------ sessions and sockets
    def subscribe(self, window_s: float, window_points: int | None = None) -> Subscription:
        """A new page's subscription; its token goes to the page (``ui/live_plot.js``)."""
        sub = Subscription(secrets.token_urlsafe(24), window_s, window_points or None)
        with self._lock:
            self._subs[sub.token] = sub
        return sub

    def follow(self, token: str, device: str | None) -> None:
        """The page now shows ``device``: it is sent that device's window at the next tick."""
        with self._lock:
            sub = self._subs.get(token)
            if sub is not None and sub.device != device:
                sub.device, sub.reset = device, True
                self._forget_unfollowed()

    def drop(self, token: str) -> None:
        """The page's session ended: forget it and close its socket."""
        with self._lock:
            sub = self._subs.pop(token, None)
            self._forget_unfollowed()
        if sub is not None and sub.socket is not None:
            sub.socket.close(4404, "the page's session ended")

    def attach(self, token: str, socket: Any) -> bool:
        """A page's socket connected: send its window now. False for an unknown token."""
        with self._lock:
            sub = self._subs.get(token)
            if sub is None:
                self.counters["refused"] += 1
                return False
            old, sub.socket, sub.pending, sub.reset = sub.socket, socket, [], True
            if sub.device is not None:
                self._send_window(sub, self._cursors_for(sub.device))
        if old is not None and old is not socket:
            old.close(4409, "replaced by a newer connection of the same page")
        self.start()
        return True

    def detach(self, token: str, socket: Any) -> None:
        with self._lock:
            sub = self._subs.get(token)
            if sub is not None and sub.socket is socket:
                sub.socket = None

    def status(self) -> dict[str, int]:
        """Pages connected and the frames, bytes, resets, refused sockets and frames skipped
        for a page that could not keep up (what status.json shows as ``live_feed``)."""
        with self._lock:
            pages = sum(1 for s in self._subs.values() if s.socket is not None)
            return {"pages": pages, **self.counters}

    # ----------------------------------------------------------------------------- ticking
    def start(self) -> None:
        """Tick every ``period_ms`` on the running tornado loop (once; later calls, and calls
        off a running loop, do nothing: a test may call :meth:`tick` itself)."""
        if self._timer is not None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        from tornado.ioloop import IOLoop, PeriodicCallback

        self._loop = IOLoop.current()
        self._timer = PeriodicCallback(self._safe_tick, self.period_ms)
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # a bad tick must not stop the live view
            log.exception("live feed tick failed; carrying on")

    def tick(self) -> int:
        """Send each connected page what is new for its device; returns the frames written."""
        written = 0
        with self._lock:
            by_device: dict[str, list[Subscription]] = {}
            for sub in self._subs.values():
                if sub.device is not None:
                    by_device.setdefault(sub.device, []).append(sub)
            for device, subs in by_device.items():
                cursors = self._cursors_for(device)
                chunks, cursors = self._read_new(device, cursors)
                status = self._status_due(device)
                fresh = any(len(c.time_ns) for c in chunks)
                frame = encode_frame(device, chunks, status=status) if fresh or status else b""
                for sub in subs:
                    if sub.socket is None:
                        continue
                    if sub.reset:
                        written += self._send_window(sub, cursors)
                    elif frame:
                        written += self._send(sub, frame)
                self._notify_swings(device, subs)
        return written

    def _status_due(self, device: str, always: bool = False) -> str | None:
        """The status line for ``device`` when it is due (once per ``status_every_s``, computed
        once for all its pages), else None; ``always``: the latest text, due or not."""
        if self._status is None:
            return None
        now = time.monotonic()
        last = self._status_text.get(device)
        if last is None or now - last[0] >= self.status_every_s:
            last = self._status_text[device] = (now, self._status(device))
            return last[1]
        return last[1] if always else None

    def _cursors_for(self, device: str) -> dict[str, int]:
        """Where the shared readers of ``device`` stand (new ones start at the newest)."""
        cursors = {}
        for sensor in self.sensors:
            key = (device, sensor)
            if key not in self._cursors:
                self._cursors[key] = self.hub.read(device, sensor, 0, last=0)[3]
            cursors[sensor] = self._cursors[key]
        return cursors

    def _read_new(self, device: str, cursors: dict[str, int]) -> tuple[list[Chunk], dict[str, int]]:
        chunks, after = [], {}
        for sensor, cursor in cursors.items():
            columns, time_ns, values, after[sensor], _ = self.hub.read(device, sensor, cursor)
            self._cursors[(device, sensor)] = after[sensor]
            chunks.append(self._chunk(sensor, columns, time_ns, values))
        return chunks, after

    def _chunk(
        self, sensor: str, columns: list[str], time_ns: np.ndarray, values: np.ndarray
    ) -> Chunk:
        rows = np.full((3, len(time_ns)), np.nan, np.float32)
        for i, axis in enumerate(LIVE_COLUMNS.get(sensor, AXES)):
            if axis in columns:
                rows[i] = values[columns.index(axis)] * self.sensors[sensor]
        return Chunk(sensor, time_ns, rows)

    def _send_window(self, sub: Subscription, cursors: dict[str, int]) -> int:
        """The page's device's window, up to ``cursors`` (where the shared readers stand)."""
        assert sub.device is not None
        window = sub.window
        chunks = []
        for sensor, until in cursors.items():
            columns, time_ns, values, _, _ = self.hub.read(
                sub.device, sensor, 0, last=window.backlog, until=until
            )
            if window.points is None and len(time_ns):
                fresh = window.kept(time_ns / 1e6)
                time_ns, values = time_ns[fresh], values[:, fresh]
            chunks.append(self._chunk(sensor, columns, time_ns, values))
        sub.reset = False
        self.counters["resets"] += 1
        status = self._status_due(sub.device, always=True)
        return self._send(sub, encode_frame(sub.device, chunks, reset=True, status=status))

    def _send(self, sub: Subscription, frame: bytes) -> int:
        sub.pending = [f for f in sub.pending if f is not None and not f.done()]
        if len(sub.pending) >= MAX_PENDING_WRITES:  # a page that cannot keep up: skip, then
            self.counters["skipped"] += 1  # send it its window afresh once it has caught up
            sub.reset = True
            return 0
        try:
            sub.pending.append(sub.socket.write_message(frame, binary=True))
        except Exception as exc:  # closed under us: it reconnects and gets its window
            log.debug("live feed: write to a page failed: %s", exc)
            sub.socket, sub.reset = None, True
            return 0
        self.counters["frames"] += 1
        self.counters["bytes"] += len(frame)
        return 1

    def _forget_unfollowed(self) -> None:
        followed = {s.device for s in self._subs.values()}
        for key in [k for k in self._cursors if k[0] not in followed]:
            del self._cursors[key]
        for device in [d for d in self._revisions if d not in followed]:
            del self._revisions[device]
        for device in [d for d in self._status_text if d not in followed]:
            del self._status_text[device]

    # ------------------------------------------------------------------------------ swings
    def swings_changed(self, device: str) -> None:
        """The detector finished a swing on ``device`` (any thread): its pages hear of it on
        the server's loop right away, not at their next status refresh."""
        loop = self._loop
        if loop is not None:
            loop.add_callback(self._swings_now, device)

    def _swings_now(self, device: str) -> None:
        with self._lock:
            self._notify_swings(device, [s for s in self._subs.values() if s.device == device])

    def _notify_swings(self, device: str, subs: list[Subscription]) -> None:
        """Call the pages' ``on_swings`` when ``device``'s swing revision moved."""
        if self._swing_revision is None:
            return
        revision = self._swing_revision(device)
        before = self._revisions.get(device, revision)
        self._revisions[device] = revision
        if revision != before:
            for sub in subs:
                if sub.on_swings is not None:
                    sub.on_swings()


class LiveSocket(tornado.websocket.WebSocketHandler):
    """``/sensor/live.ws?token=T``: one page's live plot data (server to browser only).

    An unknown token is closed at once with 4404 (the page reloads to get a new one); a
    page of another site (an ``Origin`` that is neither this host nor an allowed origin, as
    for the dashboard's own socket) gets 403; the page sends nothing, so anything it sends
    closes the socket (and is bounded to 1 KiB first)."""

    def initialize(self, app: App) -> None:
        self.feed = app.feed
        self._allowed = app.settings.extra_hosts
        self._token = ""

    def check_origin(self, origin: str) -> bool:
        return origin_allowed(origin, self.request.headers.get("Host", ""), self._allowed)

    @property
    def max_message_size(self) -> int:
        return 1024

    def open(self) -> None:
        self._token = self.get_query_argument("token", "")[:100]
        if not self.feed.attach(self._token, self):
            self.close(4404, "unknown or expired page: reload it")

    def on_message(self, message: str | bytes) -> None:
        self.close(1003, "this socket only sends")

    def on_close(self) -> None:
        self.feed.detach(self._token, self)
