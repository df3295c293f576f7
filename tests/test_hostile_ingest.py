"""Issue 11, the ingest side: what a hostile sender tries, and the safe outcome.

Each test reproduces one attack against POST /data (a real tornado server in this process,
with the limits ``hitting-coach serve`` gives it) or against the hub, and checks that the
message is refused with a clear error naming the field, that nothing of it was recorded or
remembered, and that everything else keeps working.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import time

import numpy as np
import orjson
import pytest

from hitting_coach.config import Settings
from hitting_coach.errors import Busy, MessageError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import Limits, parse_message
from hitting_coach.ingest.prometheus import prometheus_text
from hitting_coach.ingest.ring import INITIAL_SIZE, RingBuffer
from hitting_coach.runtime import limits
from hitting_coach.serve import RepeatFilter
from hitting_coach.store.sessions import load_session
from support import message, motion_messages, post, serve_runtimes, xyz_readings

NOW = (time.time_ns() // 10**9 - 60) * 10**9  # a minute ago


def reading(name: str = "bat", t: int = NOW, **values) -> dict:
    return {"name": name, "time": t, "values": values}


@pytest.fixture
def app(tmp_path):
    """Our routes with serve's HTTP limits, in this process; returns (runtime, url)."""
    served = serve_runtimes(tmp_path / "data")
    yield next(served)
    served.close()


def refused(url: str, doc, status: int = 400, **kw) -> dict:
    code, body = post(url + "/data", doc, **kw)
    assert code == status, body
    return json.loads(body)


# --------------------------------------------------------------- item 4: reserved names
def test_a_value_named_time_ns_is_refused_and_the_session_stays_readable(app, tmp_path):
    runtime, url = app()
    bad = message(1, [reading(v=1.0, time_ns=5)], device="bat-1")
    reply = refused(url, bad)
    assert reply["field"] == "payload[0].values.time_ns" and reply["reason"] == "reserved_key"
    assert "recording uses" in reply["error"]
    # nothing kept: not counted, not remembered (its corrected retry is no duplicate)
    assert runtime.hub.status()["messages"] == 0
    fixed = message(1, [reading(v=1.0)], device="bat-1")
    assert post(url + "/data", fixed) == (200, b'{"ok":true,"readings":1,"duplicate":false}')
    other = message(2, [reading(t=NOW + 10**7, v=2.0)], device="bat-1")
    assert post(url + "/data", other)[0] == 200
    runtime.stop()  # converts the journal to Parquet
    frame = load_session("bat-1/session-1", tmp_path / "data")["bat"]
    assert list(frame.columns) == ["time_ns", "v"] and frame["v"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (message(1, [reading(v=1.0)], device="d" * 300), "deviceId"),
        (message(1, [reading(v=1.0)], device="é" * 41), "deviceId"),  # 82 bytes of UTF-8
        (message(1, [reading(v=1.0)], session="s" * 81), "sessionId"),
        (message(1, [reading("n" * 200, v=1.0)]), "payload[0].name"),
        (message(1, [reading(**{"k" * 100: 1.0})]), "payload[0].values." + "k" * 37 + "..."),
    ],
)
def test_names_longer_than_the_file_system_allows_are_refused(app, doc, field):
    runtime, url = app()
    reply = refused(url, doc)
    assert reply["field"] == field and reply["reason"] == "name_too_long"
    assert "names are at most 80" in reply["error"]
    assert runtime.hub.status()["messages"] == 0 and runtime.hub.devices() == []


def test_what_raised_limits_let_in_is_read_back_from_the_journal(app, tmp_path):
    runtime, url = app(max_value_keys=100, max_name_bytes=200)
    wide = message(1, [reading(**{f"k{i}": float(i) for i in range(80)})], device="d" * 150)
    assert post(url + "/data", wide)[0] == 200
    runtime.stop()  # converts the journal, read back past the default limits
    frame = load_session(f"{'d' * 150}/session-1", tmp_path / "data")["bat"]
    assert frame.shape == (1, 81) and frame["k79"].tolist() == [79.0]


# ------------------------------------------------------------ item 3: memory on demand
def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_a_2000_key_message_and_1000_sensor_names_are_refused_before_allocating(app):
    runtime, url = app()
    before = rss_mb()
    keys = message(1, [reading(**{f"k{i}": 1.0 for i in range(2000)})])
    reply = refused(url, keys)
    assert reply["reason"] == "too_many_keys" and reply["field"] == "payload[0].values"
    assert "at most 64" in reply["error"]
    names = message(2, [reading(f"sensor-{i}", v=1.0) for i in range(1000)])
    reply = refused(url, names)
    assert reply["reason"] == "too_many_sensors" and reply["field"] == "payload[32].name"
    # keys added a few at a time are bounded per sensor, too
    for k in range(3):
        doc = message(10 + k, [reading(**{f"k{k}-{i}": 1.0 for i in range(30)})])
        code, _ = post(url + "/data", doc)
        assert code == (200 if k < 2 else 400)
    assert rss_mb() - before < 50
    # the refused keys were not remembered: the same ids with a sane payload are accepted
    assert post(url + "/data", message(1, [reading(v=1.0)]))[0] == 200
    assert post(url + "/data", message(2, [reading(v=2.0)]))[0] == 200


def test_3000_new_devices_cost_megabytes_not_gigabytes():
    """Each (device, sensor) used to allocate its full 60,000-reading buffer up front: 3,000
    one-reading devices took 4.5 GB. Now a buffer grows with its readings."""
    hub = Hub(capacity=60_000, max_devices=10_000)
    before = rss_mb()
    for k in range(3000):
        doc = message(0, xyz_readings("gyroscope", NOW, 1, 100), device=f"dev-{k}")
        hub.ingest(orjson.dumps(doc))
    grown = rss_mb() - before
    assert len(hub.devices()) == 3000
    assert grown < 150, f"+{grown:.0f} MB for 3,000 one-reading devices"


def test_devices_beyond_the_live_limit_wait_and_labels_stay_bounded(app):
    runtime, url = app(max_live_devices=3)
    for k in range(3):
        assert post(url + "/data", message(0, [reading(v=1.0)], device=f"d{k}"))[0] == 200
    code, body = post(url + "/data", message(0, [reading(v=1.0)], device="d3"))
    assert code == 503 and json.loads(body)["reason"] == "too_many_devices"
    assert runtime.hub.devices() == ["d0", "d1", "d2"]
    # a live device goes on as before; Prometheus has one series per live (device, sensor)
    assert post(url + "/data", message(1, [reading(v=2.0)], device="d0"))[0] == 200
    text = prometheus_text(runtime.status())
    assert text.count("hitting_coach_sensor_readings_total{") == 3
    assert "hitting_coach_live_devices 3" in text


def test_idle_devices_leave_memory_and_come_back(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    hub = Hub(device_idle_s=60, max_devices=2)
    hub.ingest(orjson.dumps(message(0, xyz_readings("gyroscope", NOW, 5, 100), device="a")))
    reader = hub.reader("a", "gyroscope")
    clock[0] += 30
    hub.ingest(orjson.dumps(message(0, xyz_readings("gyroscope", NOW, 5, 100), device="b")))
    clock[0] += 40  # a: silent 70 s, b: 40 s
    assert hub.devices() == ["b"] and hub.status()["devices_expired"] == 1
    with pytest.raises(Busy):  # room for one more, not two
        for name in ("c", "d"):
            hub.ingest(orjson.dumps(message(0, [reading(v=1.0)], device=name)))
    clock[0] += 61
    hub.ingest(orjson.dumps(message(1, xyz_readings("gyroscope", NOW, 3, 100), device="a")))
    assert hub.devices() == ["a"]
    assert len(reader.read()) == 3  # an old reader picks up the new buffer from its start


def test_ring_buffers_start_small_and_grow_with_readings():
    ring = RingBuffer(["x"], capacity=60_000)
    assert ring.allocated == INITIAL_SIZE
    t = np.arange(1000, dtype=np.int64)
    ring.append(t[:1], {"x": t[:1] * 1.0})
    assert ring.allocated == INITIAL_SIZE
    ring.append(t[1:], {"x": t[1:] * 1.0})
    assert ring.allocated == 1024
    time_ns, values, cursor, missed = ring.read(0)
    assert time_ns.tolist() == t.tolist() and values[0].tolist() == (t * 1.0).tolist()
    ring.append(np.arange(1000, 70_000), {"x": np.arange(1000, 70_000) * 1.0})
    assert ring.allocated == 60_000
    time_ns, _, cursor, missed = ring.read(0)
    assert time_ns[0] == 10_000 and len(time_ns) == 60_000 and missed == 10_000


# --------------------------------------------------------------------- item 7: times
@pytest.mark.parametrize(
    ("t", "words"),
    [
        (0, "before the year 2000"),
        (NOW // 10**6, "before the year 2000"),  # milliseconds
        (9_214_646_400 * 10**9, "ahead of this server's clock"),  # 2262
        (NOW - 8 * 86_400 * 10**9, "older than this server's clock"),
    ],
    # ids without the times: each xdist worker collects at its own moment, and ids made from
    # NOW differed between workers when a second turned in between (a collection error)
    ids=["zero", "milliseconds", "year-2262", "eight-days-old"],
)
def test_live_readings_far_from_the_receive_time_are_refused(app, t, words):
    runtime, url = app()
    doc = message(1, [reading(v=1.0), reading(t=t, v=2.0)], shuffle=False)
    reply = refused(url, doc)
    assert reply["field"] == "payload[1].time" and reply["reason"] == "bad_time"
    assert words in reply["error"]
    assert runtime.hub.status()["rejected_by_reason"] == {"bad_time": 1}
    assert runtime.hub.devices() == []


def test_a_replay_keeps_its_old_times_but_never_runs_ahead(app):
    runtime, url = app()
    old = NOW - 400 * 86_400 * 10**9
    doc = dict(message(1, [reading(t=old, v=1.0)]), replay=True)
    assert post(url + "/data", doc)[0] == 200
    ahead = dict(message(2, [reading(t=NOW + 2 * 3600 * 10**9, v=1.0)]), replay=True)
    assert refused(url, ahead)["reason"] == "bad_time"
    assert refused(url, dict(message(3, [reading(v=1.0)]), replay="yes"))["field"] == "replay"


# -------------------------------------------------------------- item 8: a type changes
def test_a_value_that_changes_type_is_refused_and_the_session_stays_readable(app, tmp_path):
    runtime, url = app()
    assert post(url + "/data", message(1, [reading(v=1.5)]))[0] == 200
    reply = refused(url, message(2, [reading(t=NOW + 10**7, v="abc")]))
    assert reply == {
        "error": "bat.values.v: is text but was a number in this device's earlier readings; "
        "a value keeps one type",
        "reason": "changed_type",
        "field": "bat.values.v",
    }
    mixed = message(3, [reading(t=NOW + 2 * 10**7, w=1.0), reading(w="x")], shuffle=False)
    reply = refused(url, mixed)
    assert reply["field"] == "payload[1].values.w" and reply["reason"] == "changed_type"
    # missing values (null) are no type: still a number column
    assert post(url + "/data", message(4, [reading(t=NOW + 3 * 10**7, v=None)]))[0] == 200
    runtime.stop()
    frame = load_session("session-1", tmp_path / "data")["bat"]
    assert frame["v"].dtype == np.float64 and frame["v"].tolist()[0] == 1.5


# --------------------------------------------------------------- item 9: deep nesting
def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (message(1, [reading(v=nested(300))]), "payload[0].values.v"),
        (message(1, [dict(reading(v=1.0), accuracy=nested(300))]), "payload[0].accuracy"),
        (dict(message(1, [reading(v=1.0)]), extra=nested(300)), "extra"),
    ],
)
def test_deep_nesting_is_a_400_not_a_500(app, doc, field):
    runtime, url = app()
    reply = refused(url, doc)
    assert reply == {
        "error": f"{field}: nests deeper than 8 levels",
        "reason": "too_deep",
        "field": field,
    }
    assert post(url + "/data", message(2, [reading(v=nested(7))]))[0] == 200


def test_deep_nesting_over_mqtt_is_a_counted_rejection():
    hub = Hub()
    with pytest.raises(MessageError, match="nests deeper"):
        hub.ingest(json.dumps(message(1, [reading(v=nested(500))])).encode(), source="mqtt")
    deep_user = orjson.dumps(dict(message(1, [reading(v=1.0)]), userId=0))  # 900 levels:
    deep_user = deep_user.replace(b'"userId":0', b'"userId":' + b"[" * 900 + b"]" * 900)
    with pytest.raises(MessageError, match="userId"):  # more than orjson can write back
        hub.ingest(deep_user, "mqtt")
    status = hub.status()
    assert status["rejected_by_reason"] == {"too_deep": 1, "bad_field": 1}
    for k, user in enumerate(("", None, "coach", 42)):  # what a real app sends is still fine
        hub.ingest(orjson.dumps(dict(message(10 + k, [reading(v=1.0)]), userId=user)))
    assert status["last_rejection"].startswith("mqtt: userId")


# ---------------------------------------------------------- item 6: size before reading
def raw_request(url: str, head: bytes, body: bytes = b"", wait_s: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as s:
        s.sendall(head + body)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_declared_90_mb_body_is_refused_from_its_headers(app):
    runtime, url = app()
    head = (
        b"POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 90000000\r\n\r\n"
    )
    answer = raw_request(url, head)  # no body sent: the answer comes from the headers
    assert answer.startswith(b"HTTP/1.1 413")
    # the connection is closed unread, and the answer says so (no client sends on it again)
    assert b"\r\nConnection: close\r\n" in answer.partition(b"\r\n\r\n")[0] + b"\r\n"
    assert b"message of 90000000 bytes is over the limit of 1048576" in answer
    assert runtime.hub.status()["rejected_by_reason"] == {"too_large": 1}


def test_a_body_streamed_without_a_length_is_cut_off_at_the_limit(app):
    runtime, url = app(max_message_bytes=10_000)
    head = b"POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (4096, b" " * 4096)
    answer = raw_request(url, head, chunk * 5)
    assert answer.startswith(b"HTTP/1.1 400")  # tornado stops reading and closes
    assert runtime.hub.status()["messages"] == 0
    assert post(url + "/data", motion_messages(1, start_ns=NOW)[0])[0] == 200


def test_slow_and_idle_connections_are_closed(app):
    runtime, url = app(body_timeout_s=0.5, idle_timeout_s=0.5)
    host, port = url.removeprefix("http://").split(":")
    head = b"POST /data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
    with socket.create_connection((host, int(port)), timeout=20) as slow:
        slow.sendall(head)  # headers and one byte, then nothing
        with socket.create_connection((host, int(port)), timeout=20) as idle:
            assert idle.recv(100) == b""  # closed by the server, not by our timeout
        assert slow.recv(100) in (b"", b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert post(url + "/data", motion_messages(1, start_ns=NOW)[0])[0] == 200


def test_a_flood_of_one_log_line_is_written_once_with_a_count():
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    repeat = RepeatFilter(every_s=3600)
    handler.addFilter(repeat)
    logger = logging.getLogger("test.flood")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for k in range(10_000):
            logger.error("error in accept: %s (%d)", "Too many open files", k)
        logger.warning("something else")
        assert lines == ["error in accept: Too many open files (0)", "something else"]
        repeat.every_s = 0  # the next one after the interval carries the count
        logger.error("error in accept: %s (%d)", "Too many open files", 10_000)
        assert lines[-1] == (
            "error in accept: Too many open files (10000) (and 9999 more like it in the last 0 s)"
        )
    finally:
        logger.removeHandler(handler)


# ---------------------------------------------------------- item 14: posts from web pages
def test_a_web_page_on_another_site_cannot_post(app):
    runtime, url = app(allowed_hosts="coach.example.com")
    doc = orjson.dumps(motion_messages(1, start_ns=NOW)[0])
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    reply = refused(url, doc, 403, headers=evil)
    assert reply["field"] == "Origin" and "evil.example" in reply["error"]
    assert refused(url, doc, 403, headers={"Origin": "null"})["reason"] == "bad_origin"
    assert runtime.hub.status()["messages"] == 0
    assert runtime.hub.status()["rejected_by_reason"] == {"bad_origin": 2}
    # the app (no Origin), this server's own pages and allowed origins post as before
    host = url.removeprefix("http://")
    for k, headers in enumerate([{}, {"Origin": url}, {"Origin": "https://coach.example.com"}]):
        doc = motion_messages(1, start_ns=NOW, first_id=k)[0]
        assert post(url + "/data", doc, headers=headers)[0] == 200, (headers, host)


# ------------------------------------------------------------------ secure by default
def test_on_a_network_address_an_ingest_token_is_made_and_kept(tmp_path):
    base = Settings.load(environ={}, env_file=None).replace(data_dir=str(tmp_path / "d"))
    assert base.address == "0.0.0.0" and base.ingest_token == "auto"
    token = base.resolved_ingest_token()
    kept = tmp_path / "d" / "secrets" / "ingest-token"
    assert len(token) >= 32 and kept.read_text().strip() == token
    assert kept.stat().st_mode & 0o777 == 0o600
    assert base.resolved_ingest_token() == token  # the same after a restart
    assert base.replace(address="127.0.0.1").resolved_ingest_token() == ""
    # behind a proxy (--use-xheaders) a loopback address is reachable from the network
    assert base.replace(address="127.0.0.1").resolved_ingest_token(behind_proxy=True) == token
    assert base.replace(ingest_token="").resolved_ingest_token() == ""  # turned off
    assert base.replace(ingest_token="mine").resolved_ingest_token() == "mine"


def test_the_kept_token_is_required_on_a_network_address(app):
    runtime, url = app(address="0.0.0.0")
    doc = motion_messages(1, start_ns=NOW)[0]
    code, body = post(url + "/data", doc)
    assert code == 499 and b"wrong or missing token" in body
    assert post(url + f"/data?token={runtime.ingest_token}", doc)[0] == 200
    assert runtime.status()["http"] == {"token_required": True}


def test_limits_come_from_the_settings():
    settings = Settings.load(
        environ={"HITTING_COACH_MAX_VALUE_KEYS": "3", "HITTING_COACH_MAX_NAME_BYTES": "5"},
        env_file=None,
    )
    got = limits(settings)
    assert (got.max_keys, got.max_name_bytes) == (3, 5)
    with pytest.raises(MessageError, match="deviceId: is 6 bytes long"):
        parse_message(orjson.dumps(message(1, [], device="phone1")), got)
    assert parse_message(orjson.dumps(message(1, [], device="p1", session="s")), Limits())


# --------------------------------------------------------------- issue 27: video uploads
WEBM = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4  # starts as a WebM recording does


def _video_files(data_dir) -> dict[str, bytes]:
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted((data_dir / "sessions").glob("*/*/video=*/*"))
    }


def test_hostile_video_uploads_are_refused_and_change_nothing(app, tmp_path):
    from support import client

    runtime, url = app(video_chunk_bytes=5000)
    for device, session in (("cam-1", "s-1"), ("cam-2", "s-2")):
        code, body = post(url + "/data", motion_messages(1, device=device, session=session)[0])
        assert code == 200, body
    http = client()

    def start(device: str, kind: str = "video/webm;codecs=vp8"):
        doc = {"device": device, "type": kind, "started_ns": time.time_ns()}
        return http.post(url + "/camera/start", json=doc)

    def chunk(video: str, seq: int, body: bytes, session: str = "s-1", kind: str = "video/webm"):
        query = {"video": video, "session": session, "seq": seq, "end_ns": time.time_ns()}
        r = http.post(
            url + "/camera/chunk", params=query, content=body, headers={"Content-Type": kind}
        )
        return r.status_code, r.json()

    video = start("cam-1").json()["video"]
    other = start("cam-2").json()["video"]
    assert chunk(video, 0, WEBM) == (
        200,
        {"ok": True, "seq": 0, "duplicate": False, "bytes": len(WEBM)},
    )
    data_dir = tmp_path / "data"
    before = _video_files(data_dir)
    cases = [
        # (what, status, reason, the request)
        ("not video", 415, "wrong_type", lambda: chunk(video, 1, WEBM, kind="text/html")),
        ("too large", 413, "too_large", lambda: chunk(video, 1, b"\0" * 5001)),
        ("a path as the video", 400, "bad_id", lambda: chunk("../../../etc/passwd", 1, WEBM)),
        ("a path as the session", 409, "wrong_session", lambda: chunk(video, 1, WEBM, "../s-2")),
        ("another session's chunk", 409, "wrong_session", lambda: chunk(other, 0, WEBM)),
        ("a chunk skipped", 409, "missing_chunk", lambda: chunk(video, 5, WEBM)),
        ("no such video", 404, "no_video", lambda: chunk("A" * 22, 0, WEBM)),
        (
            "an HTML page as a first chunk",
            415,
            "wrong_type",
            lambda: chunk(other, 0, b"<html>", "s-2"),
        ),
    ]
    for what, status, reason, request in cases:
        code, reply = request()
        assert (code, reply.get("reason")) == (status, reason), (what, reply)
        assert reply["error"], what
    # A chunk refused before its body was read: the server closes that connection, and its
    # answer says so, so the client's next request goes on a new one (a CI run's next request,
    # sent on the closed connection, got no answer at all).
    query = {"video": video, "session": "s-1", "seq": 1, "end_ns": 1}
    big = http.post(
        url + "/camera/chunk",
        params=query,
        content=b"\0" * 5001,
        headers={"Content-Type": "video/webm"},
    )
    assert (big.status_code, big.headers.get("connection")) == (413, "close")
    assert chunk(video, 5, WEBM)[1]["reason"] == "missing_chunk"  # the next one is answered
    r = start("cam-1", "text/html")
    assert r.status_code == 415 and "video/webm or video/mp4" in r.json()["error"]
    r = start("nobody")
    assert r.status_code == 409 and r.json()["reason"] == "not_streaming"
    # another site's page can neither upload nor read
    evil = {"Origin": "http://evil.example", "Content-Type": "video/webm"}
    r = http.post(
        url + f"/camera/chunk?video={video}&session=s-1&seq=1&end_ns=1", content=WEBM, headers=evil
    )
    assert (r.status_code, r.headers.get("connection")) == (403, "close")
    assert (
        http.get(url + f"/video/{video}", headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 403
    )
    assert http.get(url + "/video/..%2F..%2Fserver.lock").status_code == 404
    # nothing changed; the right next chunk still goes in, and a resent one is not doubled
    assert _video_files(data_dir) == before
    assert chunk(video, 1, WEBM)[0] == 200
    assert chunk(video, 1, WEBM)[1]["duplicate"] is True
    assert http.get(url + f"/video/{video}").content == WEBM + WEBM
