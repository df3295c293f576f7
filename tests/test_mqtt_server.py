"""``hitting-coach serve`` with MQTT: real server processes, a real Mosquitto, restarts."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from services import Mosquitto
from support import ServerProcess, motion_messages, wait_for

pytestmark = pytest.mark.integration


def _mqtt(server: ServerProcess) -> dict:
    return server.status()["sources"]["mqtt"]


def _metrics(server: ServerProcess) -> str:
    return httpx.get(server.base + "/sensor/metrics", timeout=10).raise_for_status().text


def _phone_messages():
    """Sensor Logger's stream: 40-reading messages, 200 ms of data each, made as needed."""
    start, k = time.time_ns(), 0
    while True:
        yield motion_messages(1, start_ns=start + k * 200_000_000, first_id=k)[0]
        k += 1


def test_serve_keeps_serving_while_the_broker_is_down_then_connects(tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto")  # not started yet
    server = ServerProcess(tmp_path / "server", env=broker.server_env()).start()
    try:
        wait_for(lambda: "cannot reach" in _mqtt(server)["state"], what="MQTT state")
        assert _mqtt(server)["connected"] is False
        assert "Connection refused" in _mqtt(server)["last_error"]
        assert "hitting_coach_mqtt_connected 0" in _metrics(server)
        # HTTP push goes on meanwhile.
        code, body = server.post(motion_messages(1, device="http-phone")[0])
        assert code == 200, body

        broker.start()
        try:
            wait_for(lambda: _mqtt(server)["connected"], timeout=45, what="the consumer")
            publisher = broker.publisher().wait_connected()
            for m in motion_messages(5, device="mqtt-phone"):
                publisher.publish(m)
            publisher.close()
            wait_for(lambda: server.status()["messages"] == 6, what="the MQTT messages")
            status = server.status()
            assert status["messages_by_source"] == {"http": 1, "mqtt": 5}
            assert set(status["devices"]) == {"http-phone", "mqtt-phone"}
            assert status["sources"]["mqtt"]["state"].startswith("connected to")
            assert "hitting_coach_mqtt_connected 1" in _metrics(server)
        finally:
            broker.stop()
        wait_for(lambda: not _mqtt(server)["connected"], what="the broker's loss to show")
        assert "connection lost" in _mqtt(server)["last_error"]
    finally:
        assert server.stop() == 0, server.output()


def test_server_stopped_for_5_s_gets_everything_published_meanwhile_once(tmp_path, mosquitto):
    env = mosquitto.server_env()
    server = ServerProcess(tmp_path / "server", env=env).start()
    wait_for(lambda: _mqtt(server)["connected"], what="the consumer")
    publisher = mosquitto.publisher().wait_connected()
    stream = _phone_messages()
    paused, idle, done = threading.Event(), threading.Event(), threading.Event()

    def publish_until_done() -> None:  # the phone: a message every 20 ms, whatever happens
        while not done.is_set():
            if paused.is_set():
                idle.set()  # no publish in progress
            else:
                idle.clear()
                publisher.publish(next(stream))
            done.wait(0.02)

    thread = threading.Thread(target=publish_until_done, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.status()["messages"] >= 50, what="the stream to flow")
        # Until the recorder keeps counts across restarts, tell "before" from "after" exactly:
        # pause the phone for a moment, and check the server has every message so far.
        paused.set()
        assert idle.wait(5), "the phone did not pause"  # a publish in progress has finished
        before = publisher.published
        wait_for(lambda: server.status()["messages"] == before, what="all messages so far")
        paused.clear()
        assert server.stop() == 0, server.output()

        time.sleep(5)  # the server is down; the phone keeps publishing
        during = publisher.published - before
        assert during >= 150, f"only {during} messages published while the server was down"

        server = ServerProcess(tmp_path / "server", env=env).start()
        wait_for(lambda: server.status()["messages"] >= during, what="the queued messages")
        wait_for(
            lambda: publisher.published - before >= during + 25,  # about 0.5 s more
            what="the phone to publish to the restarted server",
        )
        done.set()
        thread.join()
        after = publisher.published - before
        wait_for(lambda: server.status()["messages"] == after, what="every message after the stop")
        status = server.status()
        assert status["duplicates"] == 0
        assert status["readings"] == after * 40
        assert status["sources"]["mqtt"]["connected"]
    finally:
        done.set()
        publisher.close()
        assert server.stop() == 0, server.output()
