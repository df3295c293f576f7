"""Issue 29 at the web edge, in this process: the Host allowlist (DNS rebinding) for every
route and websocket, the same-origin checks of the routes that reveal stored data, and the
export's streaming and bound."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import tornado.httpclient
import tornado.websocket

from hitting_coach.config import Settings
from hitting_coach.errors import ConfigError
from hitting_coach.store.layout import session_dir
from hitting_coach.web.hosts import HostGuard, host_name, server_names
from support import motion_messages, post, serve_runtimes, wait_for

T0 = (time.time_ns() // 10**9 - 60) * 10**9


@pytest.fixture
def app(tmp_path):
    served = serve_runtimes(tmp_path / "data")
    yield next(served)
    served.close()


def _recorded(app, **settings):
    """A server with one session on disk (phone-1/session-1): (runtime, url)."""
    runtime, url = app(parquet_interval_s=0.1, **settings)
    for doc in motion_messages(3, start_ns=T0):
        assert post(url + "/data", doc)[0] == 200
    data = runtime.settings.data_path
    wait_for(lambda: session_dir(data, "phone-1", "session-1").is_dir(), 10, what="the session")
    return runtime, url


def _rebound(url: str) -> dict[str, str]:
    """What a browser sends once evil.example resolves to this server (DNS rebinding)."""
    port = url.rsplit(":", 1)[1]
    return {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}


def _ws(url: str, headers: dict[str, str]) -> int | str:
    """Open ``url`` as a websocket with ``headers``: "open", or the refusing HTTP status."""

    async def connect() -> int | str:
        request = tornado.httpclient.HTTPRequest(url, headers=headers)
        try:
            ws = await tornado.websocket.websocket_connect(request)
        except tornado.httpclient.HTTPClientError as e:
            return e.code
        ws.close()
        return "open"

    with ThreadPoolExecutor(1) as pool:  # a loop of its own (Playwright may hold this one's)
        return pool.submit(asyncio.run, connect()).result()


# ------------------------------------------------------------------ finding 2: DNS rebinding
def test_dns_rebinding_is_refused_on_every_route_and_the_live_socket(app):
    runtime, url = _recorded(app)
    evil = _rebound(url)
    doc = motion_messages(1, start_ns=T0, first_id=50)[0]
    session = {"device": "phone-1", "session": "session-1"}
    with httpx.Client(timeout=10) as client:
        refused = {
            "POST /data": client.post(url + "/data", json=doc, headers=evil),
            "export": client.get(url + "/session_export.zip", params=session, headers=evil),
            "readings.json": client.get(url + "/readings.json", headers=evil),
            "swings.json": client.get(url + "/swings.json", headers=evil),
            "status.json": client.get(url + "/status.json", headers=evil),
            "metrics": client.get(url + "/metrics", headers=evil),
        }
        for name, answer in refused.items():
            assert answer.status_code == 403, (name, answer.text)
            assert answer.json()["field"] == "Host" and "evil.example" in answer.json()["error"]
        assert runtime.hub.status()["messages"] == 3  # the rebound post was not taken
        # the same requests by this server's own name still work
        assert client.get(url + "/readings.json").status_code == 200
        assert client.get(url + "/swings.json").status_code == 200
        assert client.get(url + "/status.json").status_code == 200
        assert client.get(url + "/session_export.zip", params=session).status_code == 200
        port = url.rsplit(":", 1)[1]
        by_name = client.get(url + "/status.json", headers={"Host": f"localhost:{port}"})
        assert by_name.status_code == 200
    token = runtime.feed.subscribe(window_s=10.0).token
    ws_url = url.replace("http://", "ws://") + f"/live.ws?token={token}"
    assert _ws(ws_url, evil) == 403
    assert _ws(ws_url, {"Host": "evil.example"}) == 403  # no Origin at all: still refused
    assert _ws(ws_url, {"Origin": url}) == "open"


def test_allowed_hosts_are_answered_and_other_names_are_not(app):
    runtime, url = app(allowed_hosts="Coach.Example.com, 10.9.8.7:8443")
    port = url.rsplit(":", 1)[1]
    for host, status in [
        ("coach.example.com", 200),  # the public name behind nginx (any port)
        (f"coach.example.com:{port}", 200),
        ("10.9.8.7:8443", 200),
        ("127.0.0.1", 200),  # the address the connection came to (no port: port 80)
        ("evil.example", 403),
        ("coach.example.com.evil.example", 403),
        ("10.9.8.6", 403),  # an IP that is not this server's
        ("", 403),
    ]:
        answer = httpx.get(url + "/status.json", headers={"Host": host}, timeout=10)
        assert answer.status_code == status, host
    names = server_names(runtime.settings, ["192.0.2.7"])
    assert {"localhost", "127.0.0.1", "::1", "192.0.2.7", "coach.example.com"} <= names
    assert {host_name("[::1]:8000"), host_name("A.b:1"), host_name("fe80::1")} == {
        "::1",
        "a.b",
        "fe80::1",
    }
    guard = HostGuard(object(), ["x.example"])  # type: ignore[arg-type]
    assert guard.allows("192.0.2.9:8000", "::ffff:192.0.2.9")  # IPv4 on a dual-stack socket
    assert not guard.allows(None, "127.0.0.1")


def test_the_old_allowed_origins_setting_stops_start_up_with_its_new_name():
    with pytest.raises(ConfigError, match="HITTING_COACH_ALLOWED_ORIGINS is now called .*HOSTS"):
        Settings.load(environ={"HITTING_COACH_ALLOWED_ORIGINS": "a.example"}, env_file=None)
