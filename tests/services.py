"""Real services for integration tests: Mosquitto over TLS and nginx with a self-signed cert.

Both run from the files in ``deploy/``: Mosquitto from ``deploy/mosquitto/mosquitto.conf``
rendered by :func:`hitting_coach.dev_broker.prepare` (as ``hitting-coach broker`` does), nginx
with ``deploy/nginx/hitting-coach-http.conf`` and ``deploy/nginx/hitting-coach-locations.conf``
included unchanged but for the upstream port. Everything listens on 127.0.0.1, on free ports,
with its own files in a temporary directory; ``stop()`` asserts the exit code.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from hitting_coach import dev_broker as broker
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client
from support import ROOT, free_port, wait_for

DEPLOY = ROOT / "deploy"
#: Users of the test broker: the app's, and the server's.
PHONE = ("phone", "phone-secret")
SERVER = ("hitting-coach", "server-secret")


def _wait_port(host: str, port: int, proc: subprocess.Popen, log: Path, timeout: float = 15):
    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_for(listening, timeout, interval=0.05, what=f"port {port}")
    except AssertionError:
        raise RuntimeError(f"port {port} not open after {timeout} s:\n{log.read_text()}") from None


class Mosquitto:
    """Mosquitto with TLS on TCP and WebSockets, a password file and persistence.

    Ports and files stay the same across :meth:`restart`, so clients and the persistent
    session find it again.
    """

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        bridge: broker.Bridge | None = None,
    ) -> None:
        """``users`` beside the phone and the server; ``bridge``: a cage broker forwarding
        to another (``hitting-coach broker --bridge-to``)."""
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.files = broker.prepare(
            workdir / "broker",
            hosts=["localhost", "127.0.0.1"],
            users={**dict([PHONE, SERVER]), **(users or {})},
            bridge=bridge,
            mqtt_port=free_port(),
            websockets_port=free_port(),
            bind_address=self.host,
            log_dest="stderr",
        )
        self.port = self.files.mqtt_port
        self.ws_port = self.files.websockets_port
        self.ca_file = str(self.files.pki.ca_cert)
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        self._log = open(self.log, "ab")
        cmd = [broker.mosquitto_binary(), "-c", str(self.files.config)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        _wait_port(self.host, self.port, self.proc, self.log)
        _wait_port(self.host, self.ws_port, self.proc, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self._log.close()
        code = self.proc.returncode
        if sig == signal.SIGTERM:
            assert code == 0, f"mosquitto exited with {code}:\n{self.output()}"
        return code

    def restart(self) -> Mosquitto:
        self.stop()
        return self.start()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def server_env(self, transport: str = "tcp", **extra: str) -> dict[str, str]:
        """Settings for ``hitting-coach serve`` to consume from this broker."""
        return {
            "MQTT_BROKER": self.host,
            "MQTT_PORT": str(self.port if transport == "tcp" else self.ws_port),
            "MQTT_USERNAME": SERVER[0],
            "MQTT_PASSWORD": SERVER[1],
            "HITTING_COACH_MQTT_TRANSPORT": transport,
            "HITTING_COACH_MQTT_CA_FILE": self.ca_file,
            **extra,
        }

    def publisher(
        self, credentials: tuple[str, str] | None = PHONE, transport: str = "websockets"
    ) -> Publisher:
        """A :class:`Publisher` for this broker (connecting; see ``wait_connected``)."""
        port = self.ws_port if transport == "websockets" else self.port
        return Publisher(self.host, port, self.ca_file, credentials, transport)

    def settings(self, **extra: Any):
        """The same, as in-process :class:`Settings` (no ``.env`` file read)."""
        from hitting_coach.config import Settings

        return Settings.load(environ=self.server_env(**extra), env_file=None)


class Publisher:
    """A publisher that behaves like Sensor Logger: WebSockets over TLS, user and password,
    QoS 0, topic ``sensor-logger``, a clean session. ``None`` credentials: anonymous."""

    def __init__(
        self,
        host: str,
        port: int,
        ca_file: str,
        credentials: tuple[str, str] | None = PHONE,
        transport: str = "websockets",
        topic: str = "sensor-logger",
    ) -> None:
        self.topic = topic
        self.refused: list[str] = []
        user, password = credentials or (None, None)
        options = MqttOptions(
            host,
            port,
            transport=transport,
            ca_file=ca_file,
            username=user,
            password=password,
            reconnect_min_s=0.2,
            reconnect_max_s=1,
        )
        self.published = 0
        self.connects = 0  # successful connections so far (a reconnect adds one)
        self._pending: list[paho.MQTTMessageInfo] = []
        self.client = mqtt_client(options, on_connect=self._on_connect).start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
        else:
            self.connects += 1

    @property
    def connected(self) -> bool:
        return self.client.connected.is_set()

    def wait_connected(self, timeout: float = 15) -> Publisher:
        assert self.client.wait_connected(timeout), (
            f"the publisher did not connect within {timeout} s (refused: {self.refused})"
        )
        return self

    def publish(self, message: dict | bytes, wait: bool = True, timeout: float = 10) -> None:
        """Publish at QoS 0; with ``wait``, until it is written to the socket (see flush)."""
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        info = self.client.publish(self.topic, payload, qos=0)
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish failed: {info.rc}"
        self._pending.append(info)
        self.published += 1
        if wait:
            self.flush(timeout)

    def flush(self, timeout: float = 60) -> None:
        """Wait until every message published so far is written (raises if one is not)."""
        for info in self._pending:
            info.wait_for_publish(timeout)
            assert info.is_published(), "a message was not written to the broker"
        self._pending.clear()

    def close(self) -> None:
        self.client.close()


class Nginx:
    """nginx with a self-signed certificate in front of ``upstream_port``, from deploy/nginx."""

    def __init__(self, workdir: Path, upstream_port: int) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        pki = broker.ensure_pki(workdir / "tls", ["localhost", "127.0.0.1"])
        self.ca_file = str(pki.ca_cert)
        http_conf = (DEPLOY / "nginx" / "hitting-coach-http.conf").read_text()
        assert http_conf.count("127.0.0.1:8000") == 1, "upstream address not found"
        (workdir / "http.conf").write_text(
            http_conf.replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
        )
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / name).mkdir(exist_ok=True)
        locations = DEPLOY / "nginx" / "hitting-coach-locations.conf"
        self.config = workdir / "nginx.conf"
        self.config.write_text(
            f"""
user root;
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/http.conf;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        server_name localhost;
        ssl_certificate {pki.cert};
        ssl_certificate_key {pki.key};
        include {locations};
        location = / {{ return 302 /sensor/; }}  # as in hitting-coach-site.conf
    }}
}}
"""
        )
        self.log = workdir / "nginx.out"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run(
            [nginx, "-t", "-c", str(self.config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [nginx, "-c", str(self.config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        _wait_port("127.0.0.1", self.port, self.proc, self.log)
        return self

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown
            self.proc.wait(15)
        self._log.close()
        assert self.proc.returncode == 0, f"nginx exited with {self.proc.returncode}"
        return self.proc.returncode
