"""The MQTT consumer against a real Mosquitto (deploy/mosquitto), in this process.

The publisher behaves like Sensor Logger: WebSockets over TLS, user and password, QoS 0, topic
``sensor-logger``. The consumer feeds a real Hub; what a user would see is its status.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading

import pytest

from hitting_coach.config import Settings
from hitting_coach.errors import ConfigError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.mqtt_clients import MqttOptions, tls_context
from hitting_coach.ingest.mqtt_consumer import MqttConsumer
from services import PHONE
from support import free_port, message, motion_messages, wait_for, xyz_readings

pytestmark = pytest.mark.integration


def _mqtt(hub: Hub) -> dict:
    return hub.status()["sources"]["mqtt"]


def _connected(hub: Hub, reconnects: int = 0) -> None:
    wait_for(
        lambda: _mqtt(hub)["connected"] and _mqtt(hub)["reconnects"] == reconnects,
        what=f"the consumer to be connected (reconnects={reconnects})",
    )


@pytest.fixture
def consume(mosquitto):
    """Start consumers on the test broker; every one is stopped at the end."""
    started: list[MqttConsumer] = []

    def start(hub: Hub | None = None, **settings: str) -> tuple[Hub, MqttConsumer]:
        hub = hub or Hub()
        consumer = MqttConsumer(mosquitto.settings(**settings), hub).start()
        started.append(consumer)
        return hub, consumer

    yield start
    for consumer in started:
        consumer.stop()


@pytest.fixture
def publisher(mosquitto):
    pub = mosquitto.publisher().wait_connected()
    yield pub
    pub.close()


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_app_like_publisher_reaches_the_hub(consume, publisher, transport):
    hub, _ = consume(transport=transport)
    _connected(hub)
    for m in motion_messages(10, rate_hz=100, batch_s=0.1):  # 10 + 10 readings each
        publisher.publish(m)
    wait_for(lambda: hub.status()["readings"] == 200, what="200 readings")
    status = hub.status()
    assert status["messages_by_source"] == {"mqtt": 10}
    assert status["devices"]["phone-1"]["accelerometer"]["readings"] == 100
    assert status["rejected"] == 0
    state = status["sources"]["mqtt"]
    assert state["state"].startswith("connected to 127.0.0.1:")
    assert state["tls"] == "verified"
    assert state["last_error"] is None
    assert state["transport"] == transport


def test_anonymous_and_wrong_password_are_refused(mosquitto, consume):
    anonymous = mosquitto.publisher(credentials=None)
    wrong = mosquitto.publisher(credentials=(PHONE[0], "not-the-password"))
    try:
        wait_for(lambda: anonymous.refused and wrong.refused, what="both to be refused")
        assert not anonymous.connected and not wrong.connected
        assert anonymous.refused[0] == "Not authorized"
        assert wrong.refused[0] == "Not authorized"
    finally:
        anonymous.close()
        wrong.close()
    # The server with a wrong password says so, and keeps trying.
    hub, _ = consume(MQTT_PASSWORD="wrong")
    wait_for(lambda: _mqtt(hub)["last_error"], what="the refusal to show")
    state = _mqtt(hub)
    assert state["connected"] is False
    assert "refused" in state["state"] and "Not authorized" in state["last_error"]
    assert "wrong" not in json.dumps(hub.status())  # the password is never shown


def test_broker_certificate_is_verified(mosquitto, consume, caplog):
    # Without our CA file the broker's certificate is not trusted: refused, and said why.
    hub, _ = consume(HITTING_COACH_MQTT_CA_FILE="")
    wait_for(lambda: _mqtt(hub)["last_error"], what="the TLS error to show")
    assert "CERTIFICATE_VERIFY_FAILED" in _mqtt(hub)["last_error"]
    assert "HITTING_COACH_MQTT_CA_FILE" in _mqtt(hub)["last_error"]
    assert not _mqtt(hub)["connected"]
    # The explicit opt-out connects, and says loudly that nothing is checked.
    with caplog.at_level(logging.WARNING, logger="hitting_coach.ingest"):
        insecure, _ = consume(
            HITTING_COACH_MQTT_CA_FILE="",
            HITTING_COACH_MQTT_TLS_INSECURE="true",
            HITTING_COACH_MQTT_CLIENT_ID="insecure",
        )
    _connected(insecure)
    assert _mqtt(insecure)["tls"].startswith("INSECURE")
    assert any("certificate checks are OFF" in r.getMessage() for r in caplog.records)


def test_tls_context_defaults_verify_and_bad_ca_file_is_named(tmp_path):
    context = tls_context(MqttOptions.from_settings(Settings()))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    missing = Settings(mqtt_ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="HITTING_COACH_MQTT_CA_FILE"):
        tls_context(MqttOptions.from_settings(missing))


def test_broker_restarted_mid_stream_consumer_reconnects(mosquitto, consume, publisher):
    hub, _ = consume()
    _connected(hub)
    for m in motion_messages(20):
        publisher.publish(m)
    wait_for(lambda: hub.status()["messages"] == 20, what="the first 20 messages")

    mosquitto.restart()

    _connected(hub, reconnects=1)
    publisher.wait_connected()
    for m in motion_messages(20, first_id=20):
        publisher.publish(m)
    wait_for(lambda: hub.status()["messages"] == 40, what="the messages after the restart")
    status = hub.status()
    assert status["duplicates"] == 0
    assert "connection lost" in status["sources"]["mqtt"]["last_error"]
    assert status["sources"]["mqtt"]["state"].endswith("(reconnected 1x)")  # on the dashboard


def test_messages_queued_for_the_server_survive_a_broker_restart(mosquitto, consume, publisher):
    hub, consumer = consume()
    _connected(hub)
    consumer.stop()  # the server is away; the broker keeps its session and queues for it
    for m in motion_messages(10):
        publisher.publish(m)
    publisher.close()
    # QoS 0: the publisher cannot know when the broker has them; its log says when it has
    # read the publisher's last packet.
    wait_for(lambda: mosquitto.output().count(" disconnected.") >= 2, what="the broker")
    mosquitto.restart()  # saved to disk and read back

    later, _ = consume()
    wait_for(lambda: later.status()["messages"] == 10, what="the queued messages")


def test_bad_messages_are_rejected_and_counted_good_ones_still_arrive(consume, publisher):
    # The broker delivers nothing over the server's default limit (test_broker_limits.py):
    # this server's own limit is lower, to see it refuse what the broker lets through.
    hub, _ = consume(Hub(max_message_bytes=500_000))
    _connected(hub)
    good = message(0, xyz_readings("gyroscope", 1_700_000_000_000_000_000, 5, 100))
    bad = [
        b"not json at all",
        b"\xff\xfe\x00binary",
        b"[1, 2, 3]",
        json.dumps({**good, "deviceId": None}).encode(),
        json.dumps({**good, "payload": "nope"}).encode(),
        json.dumps({**good, "payload": [{"name": "gyroscope", "time": "soon"}]}).encode(),
        b'{"messageId": 1, "payload": [' + b"0," * 350_000 + b"0]}",  # 700 kB, over 500 kB
    ]
    for raw in bad:
        publisher.publish(raw)
    for k in range(3):
        publisher.publish(message(k, xyz_readings("gyroscope", 1_700_000_000 * 10**9, 5, 100)))
    wait_for(lambda: hub.status()["messages"] == 3, what="the good messages after the bad")
    status = hub.status()
    assert status["rejected"] == len(bad)
    assert status["rejected_by_reason"]["too_large"] == 1
    assert status["rejected_by_reason"]["not_json"] >= 1
    state = status["sources"]["mqtt"]
    assert state["connected"] and state["reconnects"] == 0
    assert state["errors"] == 0


class _FlakyHub(Hub):
    """A hub with a bug: ``ingest`` blows up on one payload."""

    def ingest(self, raw: bytes, *args, **kwargs):
        if raw == b"boom":
            raise RuntimeError("a bug in the hub")
        return super().ingest(raw, *args, **kwargs)


def test_an_unexpected_error_is_counted_and_the_consumer_carries_on(consume, publisher, caplog):
    hub, _ = consume(_FlakyHub())
    _connected(hub)
    publisher.publish(b"boom")
    for m in motion_messages(3):
        publisher.publish(m)
    wait_for(lambda: hub.status()["messages"] == 3, what="the messages after the error")
    state = _mqtt(hub)
    assert state["errors"] == 1 and state["connected"] and state["reconnects"] == 0
    assert "a bug in the hub" in state["last_error"]
    assert any(r.exc_info and "a bug in the hub" in r.getMessage() for r in caplog.records)


def test_burst_of_5000_messages_nothing_lost(mosquitto, consume):
    hub, _ = consume()
    _connected(hub)
    # Published over TCP, the quickest way to get 5,000 messages into the broker at once.
    fast = mosquitto.publisher(transport="tcp").wait_connected()
    try:
        for m in motion_messages(5000, rate_hz=100, batch_s=0.2):  # 40 readings each
            fast.publish(m, wait=False)
        fast.flush()
    finally:
        fast.close()
    wait_for(lambda: hub.status()["messages"] == 5000, timeout=60, what="all 5,000 messages")
    assert hub.status()["duplicates"] == 0


def test_consumer_stopped_mid_stream_next_one_gets_the_rest_once(mosquitto, consume):
    """What ``hitting-coach serve`` does at a restart: stop() acknowledges only what it
    ingested; the next consumer (same client id) gets everything else, and nothing twice."""
    keys: list[list] = [[], []]
    first = Hub()
    first.subscribe(lambda m: keys[0].append(m.key))
    first, consumer = consume(first)
    _connected(first)
    fast = mosquitto.publisher(transport="tcp").wait_connected()
    total = 600
    stream = motion_messages(total)
    publishing = threading.Thread(target=lambda: [fast.publish(m) for m in stream])
    publishing.start()
    wait_for(lambda: first.status()["messages"] >= 100, what="the stream to flow")
    consumer.stop()
    got_first = first.status()["messages"]
    second = Hub()
    second.subscribe(lambda m: keys[1].append(m.key))
    consume(second)
    publishing.join()
    fast.close()
    assert got_first < total, "the stop came too late to test anything"
    wait_for(
        lambda: first.status()["messages"] + second.status()["messages"] >= total,
        what="every message, in one consumer or the other",
    )
    assert set(keys[0]).isdisjoint(keys[1]), "a message was ingested twice"
    assert len(set(keys[0]) | set(keys[1])) == len(keys[0]) + len(keys[1]) == total


def test_unreachable_broker_is_retried_and_shown(tmp_path):
    hub = Hub()
    settings = Settings(mqtt_broker="127.0.0.1", mqtt_port=free_port())
    consumer = MqttConsumer(settings, hub).start()
    try:
        wait_for(lambda: "cannot reach" in _mqtt(hub)["state"], what="the failure to show")
        assert "refused" in _mqtt(hub)["last_error"].lower()
        assert _mqtt(hub)["connected"] is False
    finally:
        consumer.stop()
    assert _mqtt(hub)["state"] == "stopped"
