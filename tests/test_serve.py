"""``hitting-coach serve`` as a user runs it: a real process on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hitting_coach.config import Settings
from hitting_coach.runtime import Runtime
from hitting_coach.serve import print_urls
from support import InProcessServer, ServerProcess, free_port, motion_messages, post, ws_status

pytestmark = pytest.mark.integration


def test_phone_urls_status_and_root_redirect(server):
    docs = motion_messages(2)
    assert server.post(docs[0], path="/data")[0] == 200
    assert server.post(docs[1], path="/sensor/data")[0] == 200  # behind a prefix-keeping proxy
    code, body = server.post(b'{"messageId": 1}')
    assert code == 400 and json.loads(body)["error"] == "deviceId: required field is missing"
    status = server.status()
    assert (status["messages"], status["readings"], status["rejected"]) == (2, 80, 1)
    assert status["sources"]["mqtt"]["state"].startswith("not configured")
    page = httpx.get(server.base + "/", follow_redirects=True, timeout=10)
    assert str(page.url) == server.base + "/sensor/" and b"bokeh" in page.content.lower()
    metrics = httpx.get(server.base + "/sensor/metrics", timeout=10).raise_for_status().text
    assert "hitting_coach_messages_total 2" in metrics


def test_serve_prints_the_urls_to_type_into_sensor_logger(server):
    out = server.output()
    assert "Dashboard login: off (loopback address 127.0.0.1: only this computer" in out
    assert f"http://localhost:{server.port}/sensor/" in out
    assert f"Sensor Logger HTTP push URL:  http://127.0.0.1:{server.port}/data" in out
    assert "MQTT: not configured" in out


def test_bad_setting_stops_start_up_with_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hitting_coach.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HITTING_COACH_WINDOW_POINTS": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "hitting-coach: error: HITTING_COACH_WINDOW_POINTS='lots' is not a valid int"
    )
    assert "Traceback" not in proc.stdout + proc.stderr


def test_with_a_login_readings_need_it_but_phones_can_still_post(tmp_path):
    server = ServerProcess(tmp_path, env={"HITTING_COACH_BASIC_AUTH": "s3cret-pass"})
    server.start()
    try:
        assert server.post(motion_messages(1)[0])[0] == 200  # phones cannot log in
        readings = httpx.get(server.base + "/sensor/readings.json", timeout=10)
        assert readings.status_code == 401 and b"log in first" in readings.content
        assert server.status()["readings"] == 40  # monitoring stays open (see README)
    finally:
        assert server.stop() == 0, server.output()


# --------------------------------------------------------------------- issue 11, ingest side
def test_on_a_network_address_the_push_url_carries_a_kept_token(tmp_path, capsys):
    """In this process (serve's token logic, its printed URL and our routes): a real server
    process is started by the tests above."""

    def served(data: Path, **changes):
        settings = Settings.load(environ={}, env_file=None).replace(data_dir=str(data), **changes)
        token = settings.resolved_ingest_token()
        print_urls(settings, ["192.0.2.7"], False, token)
        runtime = Runtime(settings.replace(ingest_token=token)).start()
        return runtime, InProcessServer(runtime)

    runtime, server = served(tmp_path / "data", address="0.0.0.0")
    try:
        token = (tmp_path / "data" / "secrets" / "ingest-token").read_text().strip()
        assert len(token) >= 32
        assert f"http://192.0.2.7:8000/data?token={token}" in capsys.readouterr().out
        doc = motion_messages(1)[0]
        code, body = post(server.url + "/data", doc)
        assert code == 499 and b"wrong or missing token" in body
        assert post(server.url + f"/data?token={token}", doc)[0] == 200
        assert runtime.status()["http"] == {"token_required": True}
    finally:
        server.stop()
        runtime.stop()
    runtime, server = served(tmp_path / "data", address="0.0.0.0")  # a restart: same token
    try:
        assert runtime.ingest_token == token
        assert post(server.url + f"/data?token={token}", motion_messages(2)[1])[0] == 200
    finally:
        server.stop()
        runtime.stop()
    runtime, server = served(tmp_path / "off", address="0.0.0.0", ingest_token="")
    try:
        assert "WARNING: HITTING_COACH_INGEST_TOKEN is empty" in capsys.readouterr().out
        assert post(server.url + "/data", motion_messages(1)[0])[0] == 200
    finally:
        server.stop()
        runtime.stop()


def test_http_defends_itself_before_reading_a_body(tmp_path):
    import socket

    server = ServerProcess(
        tmp_path, env={"HITTING_COACH_BODY_TIMEOUT_S": "1", "HITTING_COACH_IDLE_TIMEOUT_S": "1"}
    ).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 90000000\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 413")  # no body was sent
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            assert s.recv(100) in (b"", b"HTTP/1.1 400 Bad Request\r\n\r\n")  # server hung up
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            assert s.recv(100) == b""  # idle: closed by the server
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        code, body = server.post(motion_messages(1)[0], headers=evil)
        assert code == 403 and json.loads(body)["field"] == "Origin"
        assert server.post(motion_messages(1)[0])[0] == 200  # the app sends no Origin
        assert server.status()["rejected_by_reason"] == {"too_large": 1, "bad_origin": 1}
        for _ in range(20):
            assert server.post(b"{nope")[0] == 400
    finally:
        assert server.stop() == 0, server.output()
    # 22 refusals, one access-log line (alike lines are written once a minute, with a count)
    assert server.output().count("tornado.access") == 1, server.output()


def test_login_from_the_environment_keeps_a_cookie_secret_and_throttles(tmp_path):
    password = "s3cret-pass-for-test"
    server = ServerProcess(tmp_path, env={"HITTING_COACH_BASIC_AUTH": password}).start()
    try:
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline  # `ps` cannot show it
        assert (tmp_path / "data" / "secrets" / "cookie-secret").is_file()
        login = server.base + "/sensor/login"
        with httpx.Client(timeout=10) as client:
            ok = client.post(login, data={"username": "coach", "password": password})
            assert ok.status_code == 302 and "user" in ok.cookies  # was a 500
            assert client.get(server.base + "/sensor/readings.json").status_code == 200
        with httpx.Client(timeout=10) as client:
            codes = [
                client.post(login, data={"username": "coach", "password": f"guess{k}"}).status_code
                for k in range(5)
            ]
            assert codes == [302] * 5  # back to the login page with an error
            late = client.post(login, data={"username": "coach", "password": password})
            assert late.status_code == 429 and "Too many wrong passwords" in late.text
            assert int(late.headers["Retry-After"]) > 200
    finally:
        assert server.stop() == 0, server.output()


def test_a_password_on_the_command_line_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hitting_coach.cli", "serve", "--port", str(free_port())]
        + ["--address", "127.0.0.1", "--basic-auth", "hunter2hunter2"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HITTING_COACH_DATA_DIR": str(tmp_path / "d")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--basic-auth takes a file" in proc.stderr and "hunter2hunter2" not in proc.stderr


def test_at_the_open_file_limit_the_log_stays_small_and_the_server_recovers(tmp_path, monkeypatch):
    import resource
    import socket
    import time

    server = ServerProcess(tmp_path, env={"HITTING_COACH_IDLE_TIMEOUT_S": "2"})
    popen = subprocess.Popen

    def low_limit(*args, **kwargs):  # the server may open 200 files
        limit = (200, 200)
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit)
        return popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", low_limit)
    server.start()
    monkeypatch.undo()
    try:
        hogs = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
        time.sleep(3)  # the server spins on accept(): EMFILE, over and over
        log = server.output()
        assert log.count("Too many open files") == 1, log[-2000:]
        assert len(log) < 5000  # was 180 MB a minute
        for hog in hogs:
            hog.close()
        assert server.post(motion_messages(1)[0])[0] == 200
    finally:
        assert server.stop() == 0, server.output()[-2000:]


# ------------------------------------------------------------- issue 29, finding 2 (Bokeh)
def test_bokeh_pages_and_their_websocket_refuse_other_hosts_and_origins(server):
    """The pages and Bokeh's own websocket (where the dashboard's marks travel) check Host like
    our routes, and Bokeh checks the websocket's Origin (``--allow-websocket-origin``, from
    the same list)."""
    port = server.port
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    for path in ("/sensor/", "/sensor/sessions"):
        assert httpx.get(server.base + path, headers=evil, timeout=30).status_code == 403
        assert httpx.get(server.base + path, timeout=60).status_code == 200
    ws = server.base.replace("http://", "ws://") + "/sensor/ws"
    assert ws_status(ws, evil) == 403  # DNS rebinding: the Host check
    assert ws_status(ws, {"Origin": f"http://evil.example:{port}"}) == 403  # Bokeh's own check
    assert ws_status(ws, {"Origin": f"http://localhost:{port}"}) != 403  # only the token missing


# ------------------------------------------------------------- issue 29, finding 1 (login)
def test_on_a_network_address_the_login_is_on_with_a_password_printed_once(tmp_path):
    import re

    server = ServerProcess(tmp_path, args=["--address", "0.0.0.0"]).start()
    try:
        out = server.output()
        found = re.search(r"Dashboard login: on \(0\.0\.0\.0\): any user name, password (\S+)", out)
        assert found, out
        password = found.group(1)
        kept = tmp_path / "data" / "secrets" / "dashboard-password"
        assert kept.read_text().strip() == password
        base, query = server.base, {"device": "d", "session": "s"}
        assert httpx.get(base + "/sensor/readings.json", timeout=10).status_code == 401
        assert httpx.get(base + "/sensor/swings.json", timeout=10).status_code == 401
        for path in ("/sensor/session_export.zip", "/sensor/session_report.html"):
            assert httpx.post(base + path, data=query, timeout=10).status_code == 401, path
        for path in ("/sensor/", "/sensor/sessions", "/sensor/camera"):
            page = httpx.get(base + path, timeout=30)
            assert page.status_code == 302 and "login" in page.headers["location"], path
        # the camera's video and routes (issue 27)
        for path in ("/camera/time", "/clips.json?device=d", f"/video/{'A' * 22}"):
            assert httpx.get(base + "/sensor" + path, timeout=10).status_code == 401, path
        for path in ("/camera/start", "/camera/chunk?video=x&session=s&seq=0&end_ns=1"):
            assert httpx.post(base + "/sensor" + path, content=b"{}").status_code == 401, path
        # the dashboard's marks travel over Bokeh's websocket: no login, no socket
        ws = base.replace("http://", "ws://") + "/sensor/ws"
        assert ws_status(ws, {"Origin": f"http://127.0.0.1:{server.port}"}) != "open"
        with httpx.Client(timeout=10) as client:
            login = client.post(
                base + "/sensor/login", data={"username": "x", "password": password}
            )
            assert login.status_code == 302 and "user" in login.cookies
            assert client.get(base + "/sensor/readings.json").status_code == 200
            assert client.get(base + "/sensor/sessions").status_code == 200
    finally:
        assert server.stop() == 0, server.output()
    again = ServerProcess(tmp_path, args=["--address", "0.0.0.0"]).start()  # a restart
    try:
        assert password not in again.output()  # shown once only
        assert f"Dashboard login: on (0.0.0.0): any user name, the password kept in {kept}" in (
            again.output()
        )
    finally:
        assert again.stop() == 0, again.output()


def test_a_login_turned_off_on_a_network_address_is_warned(tmp_path):
    env = {"HITTING_COACH_BASIC_AUTH": "off"}
    server = ServerProcess(tmp_path, env=env, args=["--address", "0.0.0.0"]).start()
    try:
        assert "WARNING: dashboard login off (HITTING_COACH_BASIC_AUTH=off)" in server.output()
        assert httpx.get(server.base + "/sensor/readings.json", timeout=10).status_code == 200
        assert not (tmp_path / "data" / "secrets" / "dashboard-password").exists()
    finally:
        assert server.stop() == 0, server.output()
