"""Issue 29 at the web edge, in this process: the Host allowlist (DNS rebinding) for every
route and websocket, the same-origin checks of the routes that reveal stored data, and the
export's streaming and bound."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hitting_coach.config import Settings
from hitting_coach.errors import ConfigError
from hitting_coach.store.layout import session_dir
from hitting_coach.web.hosts import HostGuard, host_name, server_names
from support import motion_messages, post, serve_runtimes, wait_for, ws_status

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


# ------------------------------------------------------------------ finding 2: DNS rebinding
def test_dns_rebinding_is_refused_on_every_route_and_the_live_socket(app):
    runtime, url = _recorded(app)
    evil = _rebound(url)
    doc = motion_messages(1, start_ns=T0, first_id=50)[0]
    session = {"device": "phone-1", "session": "session-1"}
    with httpx.Client(timeout=10) as client:
        refused = {
            "POST /data": client.post(url + "/data", json=doc, headers=evil),
            "export": client.post(url + "/session_export.zip", data=session, headers=evil),
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
        assert client.post(url + "/session_export.zip", data=session).status_code == 200
        port = url.rsplit(":", 1)[1]
        by_name = client.get(url + "/status.json", headers={"Host": f"localhost:{port}"})
        assert by_name.status_code == 200
    token = runtime.feed.subscribe(window_s=10.0).token
    ws_url = url.replace("http://", "ws://") + f"/live.ws?token={token}"
    assert ws_status(ws_url, evil) == 403
    assert ws_status(ws_url, {"Host": "evil.example"}) == 403  # no Origin at all: still refused
    assert ws_status(ws_url, {"Origin": url}) == "open"


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
    assert guard.allows("192.0.2.9:8000", lambda: "::ffff:192.0.2.9")  # on a dual-stack socket
    assert not guard.allows("192.0.2.9:8000", lambda: "192.0.2.8")
    assert not guard.allows(None, lambda: "127.0.0.1")


def test_the_old_allowed_origins_setting_stops_start_up_with_its_new_name():
    with pytest.raises(ConfigError, match="HITTING_COACH_ALLOWED_ORIGINS is now called .*HOSTS"):
        Settings.load(environ={"HITTING_COACH_ALLOWED_ORIGINS": "a.example"}, env_file=None)


# --------------------------------------------------- finding 1: from this server's pages only
def test_files_and_readings_are_refused_to_other_sites_and_exports_are_posts(app):
    runtime, url = _recorded(app)
    session = {"device": "phone-1", "session": "session-1"}
    port = url.rsplit(":", 1)[1]
    evil_page = {"Origin": "http://evil.example"}  # the Host is ours: no rebinding here
    with httpx.Client(timeout=10) as client:
        # a link or an <img> of another site (a GET) starts no export, reads no report
        for path in ("/session_export.zip", "/session_report.html"):
            answer = client.get(url + path, params=session)
            assert answer.status_code == 405 and answer.headers["Allow"] == "POST", path
            assert "sessions page" in answer.json()["error"]
        # a form of another site: refused, whatever the login
        for path in ("/session_export.zip", "/session_report.html"):
            answer = client.post(url + path, data=session, headers=evil_page)
            assert answer.status_code == 403 and answer.json()["reason"] == "cross_site", path
        cross = {"Sec-Fetch-Site": "cross-site"}  # a browser that sends no Origin on a GET
        for path in ("/readings.json", "/swings.json"):
            assert client.get(url + path, headers=evil_page).status_code == 403, path
            assert client.get(url + path, headers=cross).status_code == 403, path
        # this server's own page, a typed URL, a notebook (no browser headers): as before
        own = {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}
        answer = client.post(url + "/session_export.zip", data=session, headers=own)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/zip"
        assert client.get(url + "/readings.json", headers={"Sec-Fetch-Site": "none"}).is_success
        assert client.get(url + "/swings.json").is_success
        answer = client.post(url + "/session_report.html", data=session)
        assert answer.status_code == 404 and "no report yet" in answer.json()["error"]


def test_login_is_on_by_default_off_the_loopback_with_a_kept_password(tmp_path):
    from hitting_coach.serve import basic_auth

    base = Settings.load(environ={}, env_file=None).replace(data_dir=str(tmp_path / "d"))
    assert base.address == "0.0.0.0" and base.basic_auth == "auto"
    password, line = basic_auth(base)
    kept = tmp_path / "d" / "secrets" / "dashboard-password"
    assert len(password) >= 32 and kept.read_text().strip() == password
    assert kept.stat().st_mode & 0o777 == 0o600
    assert line.startswith("  Dashboard login: on (0.0.0.0)") and password in line  # once
    again, line = basic_auth(base)  # a restart: the same password, not printed again
    assert again == password and password not in line and str(kept) in line
    loopback = base.replace(address="127.0.0.1")
    assert basic_auth(loopback) == (
        None,
        "  Dashboard login: off (loopback address 127.0.0.1: only this computer can open it; "
        "HITTING_COACH_BASIC_AUTH sets one)",
    )
    assert basic_auth(loopback, behind_proxy=True)[0] == password  # nginx: the network
    assert basic_auth(base.replace(basic_auth=""))[0] == password  # empty is auto, not off
    off, line = basic_auth(base.replace(basic_auth="off"))
    assert off is None and line.startswith("  WARNING: dashboard login off")
    assert basic_auth(loopback.replace(basic_auth="off"))[0] is None
    assert basic_auth(base.replace(basic_auth="mine")) == (
        "mine",
        "  Dashboard login: on (HITTING_COACH_BASIC_AUTH)",
    )


# ------------------------------------------------------- finding 6: the export, streamed
class _Paced:
    """An export whose pieces are made only when the test lets them: ``made`` counts them."""

    def __init__(self, pieces: list[bytes], go: threading.Event) -> None:
        self.name, self.pieces, self.go, self.made, self.closed = "x.zip", pieces, go, 0, False

    def __iter__(self):
        for piece in self.pieces:
            if self.made and not self.go.wait(10):
                raise AssertionError("the next piece was never asked for in time")
            self.go.clear()
            self.made += 1
            yield piece

    def close(self) -> None:
        self.closed = True


def test_the_export_is_written_as_it_is_made(app, monkeypatch):
    from hitting_coach.web import files

    runtime, url = _recorded(app)
    go = threading.Event()
    export = _Paced([b"a" * 5000, b"b" * 5000, b"c" * 5000], go)
    monkeypatch.setattr(files, "open_export", lambda *key, limit: export)
    session = {"device": "phone-1", "session": "session-1"}
    received = b""
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", url + "/session_export.zip", data=session) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["Transfer-Encoding"] == "chunked"  # no length: not built first
        assert answer.headers["Content-Disposition"] == 'attachment; filename="x.zip"'
        for chunk in answer.iter_raw():
            received += chunk
            if len(received) % 5000 == 0:
                # a whole piece reached the browser, and the next is not made yet
                assert export.made == len(received) // 5000
                go.set()
    assert received == b"a" * 5000 + b"b" * 5000 + b"c" * 5000 and export.closed


def test_exports_at_once_are_bounded_and_refused_with_retry_after(app, monkeypatch):
    from hitting_coach.web import files

    runtime, url = _recorded(app, max_exports=1)
    real, go, started = files.open_export, threading.Event(), threading.Event()

    class Held:  # the real export, held before its first piece until the test lets it go
        def __init__(self, *key, limit):
            self.export = real(*key, limit=limit)  # takes the slot, or ExportsBusy
            self.name = self.export.name

        def __iter__(self):
            started.set()
            go.wait(20)
            yield from self.export

        def close(self):
            self.export.close()

    monkeypatch.setattr(files, "open_export", Held)
    session = {"device": "phone-1", "session": "session-1"}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, url + "/session_export.zip", data=session, timeout=30)
        assert started.wait(10), "the first export never started"
        busy = httpx.post(url + "/session_export.zip", data=session, timeout=10)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
        assert "HITTING_COACH_MAX_EXPORTS" in busy.json()["error"]
        go.set()
        done = first.result()
    assert done.status_code == 200
    with zipfile.ZipFile(io.BytesIO(done.content)) as z:
        assert {"Metadata.csv", "Accelerometer.csv", "Gyroscope.csv"} <= set(z.namelist())
        assert z.read("Gyroscope.csv").count(b"\n") == 61  # the header and 3 x 20 readings
    # the slot is free again (the limit is 1)
    assert httpx.post(url + "/session_export.zip", data=session, timeout=10).status_code == 200


def test_a_download_abandoned_midway_stops_the_export_and_frees_its_slot(app, monkeypatch):
    from hitting_coach.web import files

    runtime, url = _recorded(app)
    go = threading.Event()
    export = _Paced([b"a" * 5000, b"b" * 5000, b"c" * 5000], go)
    monkeypatch.setattr(files, "open_export", lambda *key, limit: export)
    session = {"device": "phone-1", "session": "session-1"}
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", url + "/session_export.zip", data=session) as answer,
    ):
        assert next(answer.iter_raw()) == b"a" * 5000
    # the browser went away after the first piece; the next one finds the connection closed
    go.set()
    wait_for(lambda: export.closed, 20, what="the export closed")
    assert export.made == 2  # the third piece was never made
