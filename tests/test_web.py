"""POST /data, status and metrics, served by a real tornado server in this process."""

from __future__ import annotations

import json
import socket
import time

import httpx
import orjson
import pytest

from support import message, motion_messages, post, serve_runtimes, xyz_readings

T0 = (time.time_ns() // 10**9 - 60) * 10**9  # a minute ago: live readings are checked


@pytest.fixture
def app(tmp_path):
    """Start our routes on an in-process server; returns a function building (runtime, url)."""
    runtimes = []

    def start(**settings):
        runtime, url = serve(**settings)
        runtimes.append(runtime)
        return runtime, url

    served = serve_runtimes(tmp_path / "data")
    serve = next(served)
    yield start
    for runtime in runtimes:
        assert runtime.hub.status()["recording"]["ok"]
    served.close()


def test_accepts_a_message_and_reports_duplicates(app):
    runtime, url = app()
    docs = motion_messages(2, start_ns=T0)
    assert post(url + "/data", docs[0]) == (200, b'{"ok":true,"readings":40,"duplicate":false}')
    assert post(url + "/data", docs[1])[0] == 200
    code, body = post(url + "/data", docs[1])
    assert code == 200 and json.loads(body)["duplicate"] is True
    assert runtime.hub.status()["readings"] == 80


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (b"{", None, "body is not valid JSON"),
        (
            message(1, [{"name": "gyroscope", "time": T0, "values": {"x": 1, "y": 2}}]),
            "payload[0].values.z",
            "payload[0].values.z: missing",
        ),
        (
            {"sessionId": "s", "deviceId": "d", "payload": []},
            "messageId",
            "messageId: required field is missing",
        ),
    ],
)
def test_malformed_message_gets_400_naming_the_problem_and_changes_nothing(app, body, field, error):
    runtime, url = app()
    assert post(url + "/data", motion_messages(1, start_ns=T0)[0])[0] == 200
    before = runtime.hub.status()
    code, reply = post(url + "/data", body)
    assert code == 400
    reply = json.loads(reply)
    assert reply["error"].startswith(error) and reply["field"] == field
    after = runtime.hub.status()
    assert after["rejected"] == before["rejected"] + 1
    assert (after["messages"], after["readings"]) == (before["messages"], before["readings"])
    assert len(runtime.hub.frame("phone-1", "gyroscope")) == 20


def test_over_the_size_limit_gets_413(app):
    runtime, url = app(max_message_bytes=2000)
    big = message(1, xyz_readings("gyroscope", T0, 100, 100))
    code, reply = post(url + "/data", big)
    assert code == 413 and "over the limit of 2000" in json.loads(reply)["error"]
    assert runtime.hub.status()["readings"] == 0
    assert runtime.hub.status()["rejected_by_reason"] == {"too_large": 1}


def test_token_refusal_is_shown_on_the_phone(app):
    runtime, url = app(ingest_token="s3cret")
    doc = motion_messages(1, start_ns=T0)[0]
    for target, headers in [
        ("/data", {}),
        ("/data?token=wrong", {}),
        ("/data", {"Authorization": "Bearer wrong"}),
    ]:
        code, reply = post(url + target, doc, headers=headers)
        assert code == 499 and b"wrong or missing token" in reply
    assert runtime.hub.status()["readings"] == 0
    assert runtime.hub.status()["rejected_by_reason"] == {"bad_token": 3}
    assert post(url + "/data?token=s3cret", doc)[0] == 200
    doc2 = motion_messages(2, start_ns=T0)[1]
    assert post(url + "/data", doc2, headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert runtime.hub.status()["readings"] == 80


def _exchange(s: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one request on an open connection and read its whole answer: (status, body)."""
    s.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(65536) or pytest.fail(f"the server hung up after {answer!r}")
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += s.recv(65536) or pytest.fail("the server hung up in the middle of its answer")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    "headers, target, size, status",
    [
        (b"", b"/data", None, 499),
        (b"Origin: http://evil.example\r\n", b"/data", None, 403),
        (b"", b"/data?token=s3cret", 60_000, 413),  # over the 20000-byte limit: read, refused
    ],
    ids=["no-token", "other-site", "too-large"],
)
def test_a_refused_post_is_answered_and_the_connection_goes_on(app, headers, target, size, status):
    """The refusal arrives even though the client sent its whole body (a server that hangs up
    on unread bytes resets the connection, and the client can lose the answer), and the
    phone's next post on the same connection is taken."""
    runtime, url = app(ingest_token="s3cret", max_message_bytes=20_000)
    body = orjson.dumps(motion_messages(1, start_ns=T0)[0])
    refused = body.ljust(size or len(body))
    head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % target
    head += headers + b"Content-Length: %d\r\n\r\n" % len(refused)
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as s:
        for _ in range(3):
            code, reply = _exchange(s, head + refused)
            assert code == status and reply  # the reason, for the phone to show
        good = b"POST /data?token=s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
        assert _exchange(s, good % len(body) + body)[0] == 200
    assert runtime.hub.status()["readings"] == 40
    assert sum(runtime.hub.status()["rejected_by_reason"].values()) == 3


def test_status_json_and_prometheus_metrics(app):
    runtime, url = app()
    post(url + "/data", motion_messages(1, start_ns=T0)[0])
    post(url + "/data", b"nope")
    status = httpx.get(url + "/status.json", timeout=10).raise_for_status().json()
    assert status["messages"] == 1 and status["rejected_by_reason"] == {"not_json": 1}
    assert status["devices"]["phone-1"]["gyroscope"]["readings"] == 20
    text = httpx.get(url + "/metrics", timeout=10).raise_for_status().text
    assert "hitting_coach_readings_total 40" in text
    assert 'hitting_coach_rejected_total{reason="not_json"} 1' in text
    assert 'hitting_coach_sensor_readings_total{device="phone-1",sensor="gyroscope"} 20' in text
    assert orjson.loads(orjson.dumps(status))  # JSON-ready


def test_a_server_fault_is_answered_500_counted_and_the_next_post_is_taken(app, monkeypatch):
    runtime, url = app()
    docs = motion_messages(2, start_ns=T0)
    real = runtime.hub.ingest

    def broken(raw, source="http", received_ns=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runtime.hub, "ingest", broken)
    code, body = post(url + "/data", docs[0])
    assert code == 500 and "failed on this message" in json.loads(body)["error"]
    monkeypatch.setattr(runtime.hub, "ingest", real)
    assert runtime.hub.status()["rejected_by_reason"] == {"server_error": 1}
    assert post(url + "/data", docs[0])[0] == 200  # the phone's retry is taken
    assert runtime.hub.status()["readings"] == 40


def test_only_post_is_taken_at_data(app):
    runtime, url = app()
    answer = httpx.get(url + "/data")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert "POST Sensor Logger messages here" in answer.json()["error"]
    head = httpx.head(url + "/data")
    assert head.status_code == 405 and head.content == b""
