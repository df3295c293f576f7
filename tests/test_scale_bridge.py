"""A cage broker bridged to a central one (``hitting-coach broker --bridge-to``), with real
Mosquitto processes: TLS verified both ways, the bridge's own user, the uplink cut mid-stream
while the phone keeps publishing to the cage, and every message recorded once after it is back.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import orjson
import pytest

from hitting_coach import dev_broker as broker
from hitting_coach.errors import StartupError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.mqtt_consumer import MqttConsumer
from hitting_coach.store.journal import iter_lines, segments
from hitting_coach.store.recorder import Recorder
from services import Mosquitto
from support import motion_messages, wait_for

#: How long the uplink is down. The queue at the cage is what is tested: 8 s of a phone
#: publishing 5 messages a second into it (the issue's 30 s would only make it longer).
CUT_S = 8.0
CAGE_USER = ("cage-north", "cage-secret")


def _bridge(centre: Mosquitto, **changes) -> broker.Bridge:
    values = dict(
        host="localhost",  # the name on the centre's certificate: its host name is checked
        port=centre.port,
        username=CAGE_USER[0],
        password=CAGE_USER[1],
        ca_file=centre.ca_file,
        name="cage-north",
        retry_s=1,
        retry_max_s=2,
    )
    return broker.Bridge(**{**values, **changes})


def _recorded_ids(data_dir) -> Counter[int]:
    ids: Counter[int] = Counter()
    for segment in segments(data_dir):
        for _, line in iter_lines(segment):
            ids[orjson.loads(line)["message"]["messageId"]] += 1
    return ids


@pytest.mark.integration
def test_cage_queues_while_the_uplink_is_cut_and_every_message_is_recorded_once(tmp_path):
    centre = Mosquitto(tmp_path / "centre", users=dict([CAGE_USER])).start()
    cage = Mosquitto(tmp_path / "cage", bridge=_bridge(centre)).start()
    recorder = Recorder(tmp_path / "data", parquet_interval_s=1)
    hub = Hub(sink=recorder)
    ages: list[float] = []  # every message's age on arrival, as the status gives it
    set_state = hub.set_source_state

    def keep_ages(source: str, **state) -> None:
        if "message_age_s" in state:
            ages.append(state["message_age_s"])
        set_state(source, **state)

    hub.set_source_state = keep_ages
    for key in recorder.open():
        hub.remember(key)
    consumer = MqttConsumer(centre.settings(), hub).start()
    phone = cage.publisher().wait_connected()
    try:
        assert consumer.wait_subscribed(15)
        messages = motion_messages(100, batch_s=0.2)
        before, during, after = messages[:30], messages[30:70], messages[70:]
        for m in before:
            phone.publish(m)
        wait_for(lambda: recorder.counters["messages"] == 30, what="the bridge to forward")

        centre.stop()  # the uplink is cut: the phone keeps publishing to the cage
        cut = time.monotonic()
        for m in during:
            phone.publish(m)
            time.sleep(CUT_S / len(during))
        assert time.monotonic() - cut >= CUT_S
        assert recorder.counters["messages"] == 30, "nothing can arrive while the link is cut"
        assert phone.connected, "the phone's broker is the cage's: it never noticed the cut"
        centre.start()

        for m in after:
            phone.publish(m)
        wait_for(lambda: recorder.counters["messages"] >= 100, timeout=30, what="the queue")
        time.sleep(0.5)  # a duplicate would arrive now
    finally:
        phone.close()
        consumer.stop()
        recorder.close()
        cage.stop()
        centre.stop()

    ids = _recorded_ids(tmp_path / "data")
    assert set(ids) == {m["messageId"] for m in messages}
    assert max(ids.values()) == 1, "a message was recorded twice"
    # the queued messages arrived late, and the status said by how much; the last came live
    assert max(ages) >= CUT_S - 2, f"the oldest queued message arrived {max(ages)} s old"
    state = hub.status()["sources"]["mqtt"]
    assert state["message_age_s"] < 5 and state["late"] is None
    assert cage.output().count("Connecting bridge") >= 2, "the bridge connected again"


@pytest.mark.integration
def test_a_centre_whose_certificate_does_not_verify_gets_nothing(tmp_path):
    """The bridge checks the centre's certificate: against another CA it never connects."""
    centre = Mosquitto(tmp_path / "centre", users=dict([CAGE_USER])).start()
    stranger = broker.ensure_pki(tmp_path / "other-ca", ["localhost"])
    cage = Mosquitto(tmp_path / "cage", bridge=_bridge(centre, ca_file=str(stranger.ca_cert)))
    cage.start()
    hub = Hub()
    consumer = MqttConsumer(centre.settings(), hub).start()
    phone = cage.publisher().wait_connected()
    try:
        assert consumer.wait_subscribed(15)
        phone.publish(motion_messages(1)[0])
        wait_for(lambda: "certificate verify failed" in cage.output(), what="the TLS refusal")
        assert hub.counters["messages"] == 0
    finally:
        phone.close()
        consumer.stop()
        # Mosquitto 2.0.11 aborts at exit ("double free") after a bridge failed its TLS
        # handshake: its exit code is not this test's subject.
        cage.stop(signal.SIGINT)
        centre.stop()


def test_bridge_config_has_tls_verified_and_its_own_credentials(tmp_path):
    ca = broker.ensure_pki(tmp_path / "ca", ["central.example"]).ca_cert
    bridge = broker.Bridge(
        host="central.example", username="cage-north", password="pw", ca_file=str(ca)
    )
    lines = broker.bridge_config(bridge).splitlines()
    for expected in (
        "address central.example:8883",
        "topic sensor-logger out 1",
        f"bridge_cafile {ca.resolve()}",
        "bridge_insecure false",
        "cleansession false",
        "remote_username cage-north",
        "remote_password pw",
    ):
        assert expected in lines


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"host": ""}, "central broker's host name"),
        ({"password": "two words"}, "one word"),
        ({"username": ""}, "one word"),
        ({"ca_file": "/nonexistent/ca.crt"}, "no such file"),
        ({"name": "cage north"}, "letters, digits"),
    ],
)
def test_bad_bridge_settings_are_refused_clearly(tmp_path, changes, error):
    ca = broker.ensure_pki(tmp_path / "ca", ["central.example"]).ca_cert
    values = dict(host="central.example", username="u", password="p", ca_file=str(ca))
    with pytest.raises(StartupError, match=error):
        broker.Bridge(**{**values, **changes})


def test_print_config_with_bridge_needs_a_password_file(tmp_path, capsys):
    from hitting_coach.cli import main

    env = tmp_path / "none.env"
    code = main(["--env-file", str(env), "broker", "--print-config", "--bridge-to", "c.example"])
    assert code == 1
    assert "--bridge-password-file" in capsys.readouterr().err

    secret = tmp_path / "pw"
    secret.write_text("cage-secret\n")
    ca = broker.ensure_pki(tmp_path / "ca", ["c.example"]).ca_cert
    code = main(
        ["--env-file", str(env), "broker", "--print-config", "--bridge-to", "c.example:9883",
         "--bridge-user", "cage-1", "--bridge-password-file", str(secret),
         "--bridge-ca", str(ca), "--bridge-name", "cage-1"]
    )  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "address c.example:9883" in out and "remote_password cage-secret" in out
    assert "connection cage-1" in out and "listener 8883" in out


def test_late_messages_are_named_in_the_status_line():
    from hitting_coach.ingest.mqtt_consumer import _age
    from hitting_coach.ui.shared_status import status_text

    now = time.time_ns()
    assert _age(now - 40 * 10**9)["late"] == "messages arrive 40 s late"
    assert _age(now)["late"] is None
    status = {
        "last_message_age_s": 0.1,
        "messages_per_s": 5.0,
        "rejected": 0,
        "duplicates": 0,
        "sources": {"mqtt": {"state": "connected to centre:8883", **_age(now - 40 * 10**9)}},
        "recording": {"enabled": False},
        "devices": {},
    }
    assert "MQTT: connected to centre:8883 (messages arrive 40 s late)" in status_text(status, None)
