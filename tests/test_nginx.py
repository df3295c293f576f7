"""Through nginx with a self-signed certificate (deploy/nginx), in headless Chromium; and the
other deployment files (deploy/systemd) as a server would install them."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time

import httpx
import pytest

from hitting_coach import dev_broker as broker
from services import DEPLOY, Nginx
from support import JS_LENGTHS, ROOT, ServerProcess, motion_messages, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def proxied(tmp_path):
    """Start ``hitting-coach serve`` (with extra args) behind nginx; both stopped cleanly."""
    started = []

    def start(*args: str) -> tuple[ServerProcess, Nginx]:
        server = ServerProcess(tmp_path / "server", args=["--use-xheaders", *args])
        nginx = Nginx(tmp_path / "nginx", upstream_port=server.port)
        # the public name (nginx passes the browser's Host on); its pages' port for Bokeh
        server.env["HITTING_COACH_ALLOWED_HOSTS"] = f"coach.example.com,127.0.0.1:{nginx.port}"
        started.append((server.start(), nginx.start()))
        # Behind a proxy the server makes an ingest token even on 127.0.0.1 (README, Security).
        nginx.push_token = (server.workdir / "data" / "secrets" / "ingest-token").read_text()
        # ... and the dashboard login is on, its password kept there too (unless given)
        kept = server.workdir / "data" / "secrets" / "dashboard-password"
        nginx.password = kept.read_text().strip() if kept.is_file() else None
        return started[-1]

    yield start
    for server, nginx in started:
        nginx.stop()
        assert server.stop() == 0, server.output()


def _post(nginx: Nginx, path: str, body: bytes | dict, host: str | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    verified = ssl.create_default_context(cafile=nginx.ca_file)
    headers = {"Content-Type": "application/json", **({"Host": host} if host else {})}
    headers["Authorization"] = f"Bearer {nginx.push_token.strip()}"
    response = httpx.post(
        nginx.base + path, content=data, headers=headers, verify=verified, timeout=10
    )
    return response.status_code, response.json()


def _https_page(browser):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def test_dashboard_and_push_over_https(proxied, browser):
    server, nginx = proxied()
    start = time.time_ns()
    messages = motion_messages(10, start_ns=start)
    for m in messages[:4]:
        assert _post(nginx, "/data", m) == (200, {"ok": True, "readings": 40, "duplicate": False})
    assert _post(nginx, "/sensor/data", messages[4])[0] == 200
    # the public name nginx passes on is the server's (HITTING_COACH_ALLOWED_HOSTS); no other
    assert _post(nginx, "/data", messages[3], host="coach.example.com")[0] == 200  # a duplicate
    code, body = _post(nginx, "/data", messages[3], host="evil.example")
    assert (code, body["field"]) == (403, "Host")
    # Oversized: the server answers (nginx lets it through), with a reason the app can show.
    code, body = _post(nginx, "/data", b"[" + b"0," * 600_000 + b"0]")
    assert (code, body["reason"]) == (413, "too_large")

    context, page, errors = _https_page(browser)
    try:
        page.goto(nginx.base + "/sensor/")
        assert "/sensor/login" in page.url and nginx.password  # on by default behind a proxy
        assert nginx.password in server.output()  # printed at its first start
        page.fill("input[name=username]", "coach")
        page.fill("input[name=password]", nginx.password)
        page.click("button[type=submit]")
        wait_for(lambda: page.evaluate(JS_LENGTHS) == [100, 100], 30, what="plots over https")
        status = page.get_by_text("msg/s")
        # the device's own line: the oversized body named no device (status.json counts it)
        wait_for(lambda: "0 rejected" in status.inner_text(), what="the status line")
        assert server.status()["rejected"] == 1
        for m in messages[5:]:
            assert _post(nginx, "/data", m)[0] == 200
        wait_for(lambda: page.evaluate(JS_LENGTHS) == [200, 200], what="live updates via nginx")
        assert errors == []
    finally:
        context.close()
    assert server.status()["messages"] == 10


def test_dashboard_login_through_nginx(proxied, browser, tmp_path):
    password = tmp_path / "password"  # a password is never a command-line argument
    password.write_text("coach-password\n")
    server, nginx = proxied("--basic-auth", str(password))
    # Phones cannot log in: the push endpoint stays open (protect it with the ingest token).
    assert _post(nginx, "/data", motion_messages(1)[0])[0] == 200

    context, page, errors = _https_page(browser)
    try:
        page.goto(nginx.base + "/sensor/")
        assert "/sensor/login" in page.url
        page.fill("input[name=username]", "coach")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/sensor/login" in page.url
        assert page.evaluate("() => window.Bokeh === undefined")

        page.fill("input[name=username]", "coach")
        page.fill("input[name=password]", "coach-password")
        page.click("button[type=submit]")
        wait_for(lambda: page.evaluate(JS_LENGTHS) == [20, 20], 30, what="the dashboard")
        assert errors == []
    finally:
        context.close()


def test_example_site_is_valid_nginx(tmp_path):
    """deploy/nginx as a server would install it: site + snippet + http part, `nginx -t`."""
    pki = broker.ensure_pki(tmp_path / "tls", ["coach.example.com"])
    snippets = tmp_path / "snippets"
    snippets.mkdir()
    shutil.copy(DEPLOY / "nginx" / "hitting-coach-locations.conf", snippets / "hitting-coach.conf")
    site = (DEPLOY / "nginx" / "hitting-coach-site.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/coach.example.com/fullchain.pem", str(pki.cert))
    site = site.replace("/etc/letsencrypt/live/coach.example.com/privkey.pem", str(pki.key))
    site = site.replace("include snippets/", f"include {snippets}/")
    (tmp_path / "site.conf").write_text(site)
    http = DEPLOY / "nginx" / "hitting-coach-http.conf"
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {http}; include {tmp_path}/site.conf; }}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    check = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("name", ["hitting-coach.service", "hitting-coach-worker@.service"])
def test_systemd_unit_is_valid(tmp_path, name):
    """The unit as installed (paths pointed at this checkout), checked by systemd itself."""
    unit = (DEPLOY / "systemd" / name).read_text()
    assert unit.count("/opt/hitting-coach/.venv/bin/hitting-coach") == 1
    unit = unit.replace(
        "/opt/hitting-coach/.venv/bin/hitting-coach", str(ROOT / ".venv/bin/hitting-coach")
    )
    unit = unit.replace("WorkingDirectory=/opt/hitting-coach", f"WorkingDirectory={ROOT}")
    installed = name.replace("@.", "@1.")  # a template is verified as an instance
    (tmp_path / name).write_text(unit)
    if installed != name:
        (tmp_path / installed).symlink_to(tmp_path / name)
    check = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / installed)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert name.split("@")[0] not in check.stderr, check.stderr  # no unknown keys
