"""The connection sweep that replaced tornado's per-request timeouts (issue 13): it closes
what keeps the server waiting, and nothing the server itself is busy with."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from hitting_coach.web.connections import ConnectionGuard, guard
from support import wait_for

LIMIT_S = 0.5  # idle and body timeouts of the server under test


class Slow(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(3 * LIMIT_S)  # the server thinks longer than any timeout
        self.finish(b"thought it over")


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message)


@pytest.fixture
def server():
    """A tornado server in a thread of this process, swept with 0.5 s limits: (port, guard)."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    ready, state = threading.Event(), {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = tornado.web.Application([(r"/slow", Slow), (r"/ws", Echo)])
        http = tornado.httpserver.HTTPServer(app)
        http.add_sockets(sockets)
        state.update(loop=loop, guard=guard(http, LIMIT_S, LIMIT_S), http=http)
        ready.set()
        loop.run_forever()
        http.stop()
        loop.run_until_complete(http.close_all_connections())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield sockets[0].getsockname()[1], state["guard"]
    state["loop"].call_soon_threadsafe(state["loop"].stop)
    thread.join(10)


def get(sock: socket.socket, path: str) -> bytes:
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"thought it over"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_the_guard_replaces_tornados_timeouts(server):
    port, swept = server
    assert isinstance(swept, ConnectionGuard)  # this tornado's connections can be swept
    assert swept.server.conn_params.header_timeout is None  # no timer per request
    assert swept.server.conn_params.body_timeout is None


def test_idle_and_slow_connections_are_closed_within_about_the_limit(server):
    port, swept = server
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as idle,
        socket.create_connection(("127.0.0.1", port), timeout=10) as slow,
    ):
        slow.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        assert idle.recv(100) == b""  # closed by the server
        assert slow.recv(100) == b""
        assert time.monotonic() - start < 4 * LIMIT_S
    # the sweep counts the connections it closed once it has closed them all
    wait_for(lambda: swept.closed == 2, 2, what="the sweep's count")


def test_a_slow_answer_and_a_busy_keep_alive_connection_are_left_alone(server):
    port, swept = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert get(sock, "/slow").endswith(b"thought it over")  # 1.5 s of the server's own
        sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection
        assert sock.recv(100).startswith(b"HTTP/1.1 404")
    assert swept.closed == 0


def test_a_quiet_websocket_stays_open(server):
    port, swept = server

    async def talk() -> str:
        ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
        await asyncio.sleep(4 * LIMIT_S)  # quiet for longer than the idle limit
        await ws.write_message("still here")
        answer = await ws.read_message()
        ws.close()
        return answer

    assert in_a_thread(talk) == "still here"
    assert swept.closed == 0


def in_a_thread(coroutine_function):
    """Run a coroutine on a loop of its own (the test's thread may have one running already,
    left by an earlier test); its result, or its exception raised here."""
    outcome = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine_function())
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
