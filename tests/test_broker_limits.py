"""The broker refuses what the server would refuse: a message over the server's size limit is
delivered to nobody (issue 11, item 15). Against a real Mosquitto from deploy/mosquitto."""

from __future__ import annotations

import queue
import threading

import pytest

from hitting_coach.config import Settings
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client
from services import SERVER
from support import wait_for

pytestmark = pytest.mark.integration

LIMIT = Settings.max_message_bytes  # the server's default, which the test broker is given


@pytest.fixture
def subscriber(mosquitto):
    """What the broker delivers on ``sensor-logger``, as the server's user receives it."""
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    options = MqttOptions(
        mosquitto.host,
        mosquitto.port,
        ca_file=mosquitto.ca_file,
        username=SERVER[0],
        password=SERVER[1],
    )

    def on_connect(client, userdata, flags, reason, properties) -> None:
        client.subscribe("sensor-logger", qos=1)

    client = mqtt_client(
        options,
        on_connect=on_connect,
        on_subscribe=lambda *args: subscribed.set(),
        on_message=lambda client, userdata, msg: received.put(msg.payload),
    ).start()
    assert client.wait_connected(15) and subscribed.wait(15)
    yield received
    client.close()


def test_a_publish_over_the_servers_limit_is_not_delivered_normal_ones_are(mosquitto, subscriber):
    publisher = mosquitto.publisher(transport="tcp").wait_connected()
    try:
        publisher.publish(b'{"n": 1}')
        publisher.publish(b"x" * (LIMIT + 1))  # one byte over: dropped, sender stays on
        publisher.publish(b"x" * LIMIT)  # at the limit: delivered
        publisher.publish(b'{"n": 2}')
        got = [subscriber.get(timeout=15) for _ in range(3)]
        assert [len(p) for p in got] == [8, LIMIT, 8]
        assert publisher.connected and not publisher.refused

        # Far over (3 MiB, past max_packet_size): the broker drops the sender before reading
        # it, and says so; the sender reconnects and goes on.
        connects = publisher.connects
        publisher.client.publish("sensor-logger", b"x" * (3 << 20), qos=0)
        wait_for(
            lambda: "disconnected due to oversize packet" in mosquitto.output(),
            what="the broker to drop the sender",
        )
        # a new connection, not the old one the client has not yet seen closed
        wait_for(lambda: publisher.connects > connects, what="the sender to reconnect")
        publisher.publish(b'{"n": 3}')
        assert subscriber.get(timeout=15) == b'{"n": 3}'
        assert subscriber.empty()
    finally:
        publisher.close()


def test_the_rendered_configuration_carries_the_servers_limit(mosquitto):
    config = mosquitto.files.config.read_text().splitlines()
    assert f"message_size_limit {LIMIT}" in config
    assert f"max_packet_size {LIMIT + 65_535 + 1_024}" in config
