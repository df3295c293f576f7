"""``hitting-coach serve`` as a user runs it: a real process on a free port."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from support import ServerProcess, free_port, motion_messages

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
