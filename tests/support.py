"""Test helpers: Sensor Logger message builders, free ports, and a real server process."""

from __future__ import annotations

import atexit
import http.cookiejar
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: In the page: how many points each live plot holds ([accelerometer, gyroscope]), or null.
JS_LENGTHS = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  if (!doc) return null;
  const n = (name) => { const m = doc.get_model_by_name(name); return m ? m.data.t.length : null; };
  return [n('accelerometer-source'), n('gyroscope-source')];
}"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


_ISSUED: set[int] = set()


#: A phone's screen (an iPhone 12-15's CSS pixels), for the ``phone`` fixture and its checks.
PHONE_SCREEN = {"width": 390, "height": 844}


def free_port() -> int:
    """A port free now and not handed out before by this process. Under pytest-xdist each
    worker takes its own share of the ports (by its number modulo the workers' count), so two
    workers never pick the same port between choosing it and a server binding it."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    for _ in range(10_000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # Linux hands out even ports to bind(): split by port // 2
        if (port // 2) % count == index % count and port not in _ISSUED:
            _ISSUED.add(port)
            return port
    raise RuntimeError("no free port left for this worker")


def xyz_readings(
    sensor: str, start_ns: int, n: int, rate_hz: float, amplitude: float = 1.0, phase: float = 0.0
) -> list[dict[str, Any]]:
    """``n`` readings of an x/y/z sensor: smooth sines, so a plot of them looks like motion."""
    step = int(1e9 / rate_hz)
    out = []
    for i in range(n):
        t = start_ns + i * step
        s = t / 1e9
        out.append(
            {
                "name": sensor,
                "time": t,
                "values": {
                    "x": amplitude * math.sin(2 * s + phase),
                    "y": amplitude * math.sin(3 * s + phase + 1),
                    "z": amplitude * math.sin(5 * s + phase + 2),
                },
            }
        )
    return out


def message(
    message_id: int,
    payload: list[dict[str, Any]],
    device: str = "phone-1",
    session: str = "session-1",
    shuffle: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """A Sensor Logger push message; readings interleaved and unsorted, as real captures are."""
    payload = list(payload)
    if shuffle:
        random.Random(seed + message_id).shuffle(payload)
    return {"messageId": message_id, "sessionId": session, "deviceId": device, "payload": payload}


def motion_messages(
    count: int,
    start_ns: int | None = None,
    rate_hz: float = 100,
    batch_s: float = 0.2,
    device: str = "phone-1",
    session: str = "session-1",
    first_id: int = 0,
) -> list[dict[str, Any]]:
    """``count`` messages of accelerometer + gyroscope at ``rate_hz``, ``batch_s`` apart."""
    start_ns = time.time_ns() if start_ns is None else start_ns
    per = max(1, int(rate_hz * batch_s))
    out = []
    for k in range(count):
        t0 = start_ns + int(k * batch_s * 1e9)
        payload = xyz_readings("accelerometer", t0, per, rate_hz, 20.0) + xyz_readings(
            "gyroscope", t0, per, rate_hz, 10.0, 0.5
        )
        out.append(message(first_id + k, payload, device, session))
    return out


def ingest_all(hub: Any, messages: list[dict[str, Any]]) -> None:
    """Hand each message to ``hub`` as the network would (JSON bytes)."""
    for m in messages:
        hub.ingest(orjson.dumps(m))


def times_ms(messages: list[dict[str, Any]], sensor: str) -> list[float]:
    """The messages' reading times of ``sensor``, in ms, sorted (as a plot holds them)."""
    return sorted(r["time"] / 1e6 for m in messages for r in m["payload"] if r["name"] == sensor)


_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One HTTP client for the helpers below (a new ``httpx.Client`` costs ~80 ms here: its
    TLS context): keep-alive connections, and no cookies kept from one request to the next,
    so each request is as a fresh client would send it."""
    global _client
    if _client is None:
        no_cookies = http.cookiejar.CookieJar(
            http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
        )
        _client = httpx.Client(timeout=10, cookies=no_cookies)
        atexit.register(_client.close)
    return _client


def post(url: str, body: bytes | dict, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    response = client().post(url, content=data, headers=headers)
    return response.status_code, response.content


def get_json(url: str) -> Any:
    """The JSON a GET of ``url`` answers; raises :class:`httpx.HTTPStatusError` for an error."""
    return client().get(url).raise_for_status().json()


class ServerProcess:
    """``hitting-coach serve`` in a subprocess on a free port, with its own data dir."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, args: list[str] = ()):
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))},
            "HITTING_COACH_DATA_DIR": str(workdir / "data"),
            "HITTING_COACH_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"server-{self.port}.log"

    def start(self, timeout: float = 60) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "hitting_coach.cli",
            "serve",
            "--port",
            str(self.port),
            "--address",
            "127.0.0.1",
            *self.args,
        ]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                self.status()
            except httpx.TransportError:  # not listening yet
                return False
            return True

        try:
            wait_for(answers, timeout, interval=0.2, what="the server to answer")
        except AssertionError:
            raise RuntimeError(f"server did not start in {timeout} s:\n{self.output()}") from None
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def status(self) -> dict[str, Any]:
        return get_json(self.base + "/sensor/status.json")

    def post(self, body: bytes | dict, path: str = "/data", **kw: Any) -> tuple[int, bytes]:
        return post(self.base + path, body, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server ignored signal {sig}:\n{self.output()}") from None
        self._log.close()
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


def wait_for(predicate, timeout: float = 15, interval: float = 0.1, what: str = "condition"):
    """How a test waits for something it cannot be told about: ``predicate()`` until it is
    truthy (returns that value), or AssertionError naming ``what`` after ``timeout`` s.
    Where a thread or a process can say so, wait for its event or output line instead."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class InProcessServer:
    """The web layer's routes for ``app`` on a real tornado ``HTTPServer`` in this process, with
    the production limits (``serve.http_limits``: body and buffer sizes; the connection sweep
    in place of tornado's timeouts) and Host check (``web.hosts.HostGuard``), on an event loop
    of its own thread. ``url`` has no trailing slash; :meth:`stop` closes every connection (a
    client must not reuse a kept-alive one into a dead loop) and the loop."""

    def __init__(self, app: Any) -> None:
        import asyncio
        import threading

        import tornado.httpserver
        import tornado.netutil
        import tornado.web

        from hitting_coach.serve import guard_connections, http_limits
        from hitting_coach.web.hosts import HostGuard, server_names
        from hitting_coach.web.routes import routes

        self.app = app
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        self._ready = threading.Event()

        def serve() -> None:
            self.loop = loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.server = tornado.httpserver.HTTPServer(
                HostGuard(tornado.web.Application(routes(app)), server_names(app.settings)),
                **http_limits(app.settings),
            )
            guard_connections(self.server, app.settings)
            self.server.add_sockets(sockets)
            self._ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the in-process server did not start")

    def stop(self) -> None:
        import asyncio

        async def close() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def serve_runtimes(data_dir: Path):
    """For a fixture: yields ``start(**settings)`` -> ``(runtime, url)``, a started Runtime
    (``data_dir`` and loopback unless given) behind an :class:`InProcessServer`; stops them
    all at the end."""
    from hitting_coach.config import Settings
    from hitting_coach.runtime import Runtime

    started: list[tuple[Any, InProcessServer]] = []

    def start(**changes: Any) -> tuple[Any, str]:
        changes.setdefault("data_dir", str(data_dir))
        changes.setdefault("address", "127.0.0.1")  # loopback: no automatic token
        settings = Settings.load(environ={}, env_file=None).replace(**changes)
        runtime = Runtime(settings).start()
        server = InProcessServer(runtime)
        started.append((runtime, server))
        return runtime, server.url

    try:
        yield start
    finally:
        for runtime, server in started:
            server.stop()
            runtime.stop()


def ws_status(url: str, headers: dict[str, str]) -> int | str:
    """Open ``url`` as a websocket with ``headers``: "open" (101 Switching Protocols),
    "closed" (the server closed the connection during the handshake), or the refusing HTTP
    status. The handshake is written by hand on a socket closed before this returns (a
    websocket client left to a closed event loop leaked its socket into a later test)."""
    import base64
    import os
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    fields = {
        "Host": parts.netloc,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall((request + "\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            piece = sock.recv(4096)
            if not piece:
                return "closed"
            answer += piece
    status = int(answer.split(b" ", 2)[1])
    return "open" if status == 101 else status


def only_files(page) -> list[str]:
    """Let ``page`` load ``file:`` URLs only (a saved report or view must need no network):
    every other request is refused and its URL listed in the returned list."""
    fetched: list[str] = []

    def route(request_route) -> None:  # type: ignore[no-untyped-def]
        if request_route.request.url.startswith("file:"):
            request_route.continue_()
        else:
            fetched.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    return fetched
