"""``hitting-coach broker``: certificates, password file, the config template, end to end."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509

from hitting_coach import dev_broker as broker
from hitting_coach.errors import StartupError
from services import Publisher
from support import JS_LENGTHS, ServerProcess, free_port, motion_messages, wait_for


@pytest.mark.integration
def test_password_hash_is_what_mosquitto_passwd_writes(tmp_path):
    path = tmp_path / "passwd"
    done = subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), "phone", "s3cret pass"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    user, hashed = path.read_text().strip().split(":", 1)
    _, kind, iterations, salt, _ = hashed.split("$")
    assert (user, kind) == ("phone", "7")

    ours = broker.hash_password("s3cret pass", base64.b64decode(salt), int(iterations))
    assert ours == hashed


def test_password_file_refuses_bad_user_names(tmp_path):
    with pytest.raises(StartupError, match="not allowed"):
        broker.write_password_file(tmp_path / "passwd", {"a:b": "pw"})


def test_render_config_fills_every_field_and_names_a_missing_one(tmp_path):
    text = broker.render_config(broker.SERVER_DEFAULTS)
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not any("${" in line for line in settings)
    for needed in (
        "allow_anonymous false",
        "persistence true",
        "queue_qos0_messages true",
        "upgrade_outgoing_qos true",
        "listener 8883",
        "listener 8884",
        "protocol websockets",
        "user mosquitto",
        "password_file /etc/mosquitto/passwd",
    ):
        assert needed in settings
    values = dict(broker.SERVER_DEFAULTS)
    del values["keyfile"]
    with pytest.raises(StartupError, match="no value for keyfile"):
        broker.render_config(values)


def test_print_config_for_a_server(capsys, tmp_path):
    from hitting_coach.cli import main

    code = main(
        ["--env-file", str(tmp_path / "none.env"), "broker", "--print-config",
         "--certfile", "/etc/ssl/coach.pem", "--keyfile", "/etc/ssl/coach.key"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "certfile /etc/ssl/coach.pem" in out
    assert "keyfile /etc/ssl/coach.key" in out
    assert "persistence_location /var/lib/mosquitto/" in out


def test_pki_keeps_the_ca_and_renews_the_server_certificate_for_new_hosts(tmp_path):
    first = broker.ensure_pki(tmp_path, ["localhost", "127.0.0.1"])
    ca = x509.load_pem_x509_certificate(first.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "ca.key").stat().st_mode & 0o777) == "0o600"

    same = broker.ensure_pki(tmp_path, ["localhost", "127.0.0.1"])
    assert same.cert.read_bytes() == first.cert.read_bytes()  # nothing to renew

    broker.ensure_pki(tmp_path, ["localhost", "127.0.0.1", "192.168.1.20"])
    assert x509.load_pem_x509_certificate(first.ca_cert.read_bytes()) == ca
    renewed = x509.load_pem_x509_certificate(first.cert.read_bytes())
    renewed.verify_directly_issued_by(ca)
    san = renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "192.168.1.20" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _start_broker_command(data_dir: Path, port: int, ws_port: int):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))}
    env["HITTING_COACH_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hitting_coach.cli", "broker", "--address", "127.0.0.1",
         "--port", str(port), "--websockets-port", str(ws_port)],
        cwd=data_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    started = threading.Event()  # set at its "Ctrl-C stops" line, or at the end of its output

    def read() -> None:
        with proc.stdout:  # closed by this thread when the command's output ends
            for line in proc.stdout:
                lines.append(line)
                if "Ctrl-C stops" in line:
                    started.set()
        started.set()

    threading.Thread(target=read, daemon=True).start()
    started.wait(30)
    out = "".join(lines)
    assert "Ctrl-C stops" in out, f"the broker command did not start ({proc.poll()=}):\n{out}"
    return proc, out


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(15)


@pytest.mark.integration
def test_broker_command_then_serve_puts_the_phone_on_the_dashboard(tmp_path, page):
    data = tmp_path / "data"
    port, ws_port = free_port(), free_port()
    proc, out = _start_broker_command(data, port, ws_port)
    try:
        env = dict(re.findall(r"^  ((?:MQTT|HITTING_COACH)_[A-Z_]+)=(.*)$", out, re.M))
        assert env["MQTT_BROKER"] == "localhost" and env["MQTT_PORT"] == str(port)
        phone = dict(re.findall(r"^  (Username|Password) +(\S+)$", out, re.M))
        assert f"Port        {ws_port} (WebSocket)" in out
        assert phone["Password"] == env["MQTT_PASSWORD"]

        server = ServerProcess(tmp_path / "server", env=env).start()
        try:
            wait_for(lambda: server.status()["sources"]["mqtt"]["connected"], what="consumer")
            publisher = Publisher(
                "127.0.0.1", ws_port, env["HITTING_COACH_MQTT_CA_FILE"],
                (phone["Username"], phone["Password"]),
            ).wait_connected()  # fmt: skip
            for m in motion_messages(5):
                publisher.publish(m)
            publisher.close()
            page.goto(server.base + "/sensor/")
            wait_for(lambda: page.evaluate(JS_LENGTHS) == [100, 100], 30, what="the plots")
            status = page.get_by_text("msg/s").inner_text()
            assert f"MQTT: connected to localhost:{port}" in status
            assert page.errors == []
        finally:
            assert server.stop() == 0, server.output()
    finally:
        assert _stop(proc) == 0
    # A second start keeps the password and the CA the phone already trusts.
    ca = (data / "broker" / "ca.crt").read_bytes()
    proc, again = _start_broker_command(data, port, ws_port)
    assert _stop(proc) == 0
    assert f"Password    {phone['Password']}" in again
    assert (data / "broker" / "ca.crt").read_bytes() == ca
