"""The one factory for paho clients, in-process (the broker-facing cases are in test_mqtt.py)."""

from __future__ import annotations

import gc
import logging
import socket
import ssl
import threading
import warnings

import pytest

from hitting_coach.config import Settings
from hitting_coach.errors import ConfigError
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client, tls_context
from support import free_port


def test_the_servers_options_come_from_the_settings():
    settings = Settings(
        mqtt_broker="broker.example",
        mqtt_port=8884,
        mqtt_transport="websockets",
        mqtt_username="coach",
        mqtt_password="s3cret",
        mqtt_client_id="rink-1",
    )
    options = MqttOptions.from_settings(settings)
    assert (options.host, options.port, options.transport) == ("broker.example", 8884, "websockets")
    assert (options.client_id, options.clean_session) == ("rink-1", False)  # kept by the broker
    assert (options.username, options.password) == ("coach", "s3cret")
    assert options.tls_state == "verified" and options.ca_file is None  # the system's CAs
    assert "s3cret" not in repr(options)
    notebook = MqttOptions.from_settings(settings, client_id="nb", clean_session=True)
    assert (notebook.client_id, notebook.clean_session) == ("nb", True)


def test_a_bad_transport_or_ca_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="'udp': use tcp or websockets"):
        MqttOptions("localhost", 1883, transport="udp")
    missing = MqttOptions("localhost", 8883, ca_file=str(tmp_path / "ca.pem"), ca_name="--ca-file")
    with pytest.raises(ConfigError, match=r"--ca-file=.*ca\.pem: cannot load it"):
        mqtt_client(missing)
    insecure = tls_context(MqttOptions("localhost", 8883, insecure=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


def test_no_tls_and_no_certificate_checks_are_said_out_loud(caplog):
    with caplog.at_level(logging.WARNING, logger="hitting_coach.ingest.mqtt_clients"):
        mqtt_client(MqttOptions("broker.example", 8883, insecure=True))
        mqtt_client(MqttOptions("broker.example", 1883, tls=False))
        mqtt_client(MqttOptions("broker.example", 8883))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "certificate checks are OFF for broker.example:8883" in lines[0]
    assert "without TLS to broker.example:1883" in lines[1]


def test_an_unreachable_broker_answers_with_the_reason_and_paho_keeps_trying():
    failures = []
    options = MqttOptions("127.0.0.1", free_port(), tls=False, reconnect_min_s=0.05)
    client = mqtt_client(options, on_connect_fail=lambda c, u: failures.append(1)).start()
    try:
        assert client.answered.wait(10)
        assert isinstance(client.last_connect_error, ConnectionRefusedError)
        assert not client.connected.is_set() and client.refusal is None
        assert not client.wait_connected(0.5)
        assert len(failures) >= 2  # tried again after the first failure
    finally:
        client.close()


def _still_open_to(port: int) -> int:
    """Our end of connections to ``port`` not yet closed (ESTABLISHED or CLOSE_WAIT)."""
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            remote, state = line.split()[2:4]
            count += int(remote.split(":")[1], 16) == port and state in ("01", "08")
    return count


def test_failed_tls_handshakes_leave_no_socket_to_the_garbage_collector():
    """paho leaves such sockets to the garbage collector (a ResourceWarning each, an error
    in paho's thread under ``filterwarnings = error``); the factory's client closes them."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:  # accept and close at once: every TLS handshake fails
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    failures = threading.Semaphore(0)
    options = MqttOptions("127.0.0.1", port, reconnect_min_s=0.05, reconnect_max_s=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        client = mqtt_client(options, on_connect_fail=lambda c, u: failures.release())
        client.start()
        try:
            for _ in range(3):
                assert failures.acquire(timeout=10)
            assert isinstance(client.last_connect_error, ssl.SSLError | ConnectionError)
            assert not client.connected.is_set()
        finally:
            client.close()
        client.last_connect_error = None
        gc.collect()
    listener.close()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    assert _still_open_to(port) == 0
