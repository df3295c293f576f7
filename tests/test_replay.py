"""Replay: a session or export published as Sensor Logger messages, over HTTP and MQTT."""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
import time

import orjson
import pytest

from hitting_coach.errors import SessionError
from hitting_coach.ingest.parse import parse_message
from hitting_coach.replay import HTTPPublisher, ReplayError, build_messages, replay
from hitting_coach.store.sessions import Session, load_session
from support import ROOT, ServerProcess, free_port, motion_messages, wait_for

T0 = 1_714_572_202_123_456_789


class Collect:
    """A publisher that keeps what it is given (and when)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.times: list[float] = []

    def publish(self, body: bytes) -> None:
        self.bodies.append(body)
        self.times.append(time.monotonic())

    def close(self) -> None:
        pass


def readings_of(bodies: list[bytes]) -> Session:
    """The session a list of messages carries, read back like the recorder would."""
    from hitting_coach.store.parts import batches_to_table, frame_from_tables

    batches: dict[str, list] = {}
    for body in bodies:
        for batch in parse_message(body).batches.values():
            batches.setdefault(batch.sensor, []).append(batch)
    frames = {s: frame_from_tables([batches_to_table(b)]) for s, b in sorted(batches.items())}
    return Session("?", "?", frames=frames)


def assert_same_readings(got: Session, expected: Session) -> None:
    assert got.sensors == expected.sensors
    for sensor in expected.sensors:
        assert got[sensor].equals(expected[sensor]), sensor


@pytest.fixture
def source(tmp_path, record, varied_messages):
    data = tmp_path / "source"
    record(data, varied_messages(25, T0))  # 5 s of an Android phone
    return data


def test_messages_carry_every_reading_once_in_batches_of_reading_time(source):
    session = load_session("varied", source)
    messages = build_messages(session, batch_s=0.2)
    assert len(messages) == 25 and messages[-1].at_s == pytest.approx(5.0)
    docs = [orjson.loads(m.body) for m in messages]
    assert [d["messageId"] for d in docs] == list(range(25))
    times = [r["time"] for d in docs for r in d["payload"]]
    assert times == sorted(times)
    gyro = [r for r in docs[0]["payload"] if r["name"] == "gyroscope"]
    assert gyro[0]["accuracy"] == 3 and set(gyro[0]["values"]) == {"x", "y", "z"}
    assert_same_readings(readings_of([m.body for m in messages]), session)


def test_replay_keeps_time_at_the_speed_asked(source):
    sink = Collect()
    result = replay("varied", "http://unused", speed=10, data_dir=source, publisher=sink)
    assert result.messages == 25 and result.readings == load_session("varied", source).readings
    span = sink.times[-1] - sink.times[0]
    assert 0.45 <= span < 1.5  # 4.8 s of readings between first and last message, at 10x
    assert result.session_id.startswith("varied-replay-") and result.device_id == "pixel-8"
    fast = Collect()
    assert (
        replay(
            "varied", "http://unused", speed=0, data_dir=source, keep_ids=True, publisher=fast
        ).session_id
        == "varied"
    )
    assert fast.times[-1] - fast.times[0] < 0.5


def test_replay_errors_are_clear(source):
    with pytest.raises(ReplayError, match="cannot replay to ftp://x.*use http"):
        replay("varied", "ftp://x/data", data_dir=source)
    with pytest.raises(SessionError, match="no session 'nope'"):
        replay("nope", "http://unused", data_dir=source)
    closed = f"http://127.0.0.1:{free_port()}/data"
    with pytest.raises(ReplayError, match="cannot post to"):
        replay("varied", closed, data_dir=source, publisher=HTTPPublisher(closed, retries=2))


def test_the_app_message_of_a_499_reaches_the_user(source):
    class WrongToken(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(499)
            self.end_headers()
            self.wfile.write(b"Hitting Coach: wrong or missing token.")

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), WrongToken)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/data?token=wrong"
        with pytest.raises(ReplayError, match=r"token=\*\*\* answered 499: .*wrong or missing"):
            replay("varied", url, data_dir=source, speed=0)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.integration
def test_replay_into_a_running_server_reproduces_the_session(source, server):
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hitting_coach.cli",
            "replay",
            "varied",
            "--to",
            f"{server.base}/data",
            "--speed",
            "10",
            "--data-dir",
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 0.5
    replayed = re.search(r"as pixel-8/(\S+) in", done.stdout).group(1)
    assert server.status()["devices"]["pixel-8"]["gyroscope"]["readings"] == 1000
    # Loaded while the server is still recording it: Parquet plus the journal tail.
    got = load_session(replayed, server.workdir / "data")
    assert_same_readings(got, load_session("varied", source))


@pytest.mark.integration
def test_replay_over_http_rides_out_a_server_restart(tmp_path, record):
    """The server stops after message 20 and starts again: the replay waits for it (HTTPX's
    connection retries) and every reading arrives, once."""
    record(tmp_path / "source", motion_messages(60, device="src", session="restarting"))
    server = ServerProcess(tmp_path / "server").start()
    starting: list[threading.Thread] = []

    class RestartAfter20(HTTPPublisher):
        sent = 0

        def publish(self, body: bytes) -> None:
            super().publish(body)
            self.sent += 1
            if self.sent == 20:
                assert server.stop() == 0, server.output()
                starting.append(threading.Thread(target=server.start, daemon=True))
                starting[0].start()

    url = f"{server.base}/data"
    try:
        result = replay(
            "restarting",
            url,
            speed=0,
            data_dir=tmp_path / "source",
            publisher=RestartAfter20(url, retries=8),  # up to a minute for the restart
        )
        assert result.messages == 60
        starting[0].join(60)
        assert server.proc.poll() is None, server.output()
        got = load_session(result.session_id, server.workdir / "data")
        assert got.readings == 60 * 40
        assert server.status()["duplicates"] == 0
    finally:
        assert server.stop() == 0, server.output()


@pytest.mark.integration
def test_replay_over_mqtt_with_tls_into_a_running_server(source, mosquitto, tmp_path):
    from services import PHONE

    server = ServerProcess(tmp_path / "server", env=mosquitto.server_env()).start()
    try:
        wait_for(
            lambda: server.status()["sources"]["mqtt"].get("connected"),
            30,
            what="the server to connect to the broker",
        )
        user, password = PHONE
        url = f"mqtts://{user}:{password}@127.0.0.1:{mosquitto.port}/sensor-logger"
        result = replay("varied", url, speed=0, data_dir=source, ca_file=mosquitto.ca_file)
        assert result.target.startswith(f"mqtts://{user}:***@")  # the password is not shown
        wss = f"wss://127.0.0.1:{mosquitto.ws_port}/mqtt"
        again = replay(
            "varied",
            wss,
            speed=0,
            data_dir=source,
            ca_file=mosquitto.ca_file,
            username=user,
            password=password,
            session_id="over-websockets",
        )
        wait_for(
            lambda: server.status()["readings"] == 2 * result.readings,
            30,
            what="both replays to arrive",
        )
        original = load_session("varied", source)
        data = server.workdir / "data"
        assert_same_readings(load_session(result.session_id, data), original)
        assert_same_readings(load_session(again.session_id, data), original)

        # The broker's certificate is verified: without our CA it is refused.
        with pytest.raises(ReplayError, match="certificate is not trusted.*--ca-file"):
            replay("varied", url, speed=0, data_dir=source)
        with pytest.raises(ReplayError, match="refused the connection"):
            replay(
                "varied",
                url.replace(password, "wrong"),
                speed=0,
                data_dir=source,
                ca_file=mosquitto.ca_file,
            )
    finally:
        assert server.stop() == 0, server.output()
