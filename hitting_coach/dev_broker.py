"""``hitting-coach broker``: a local Mosquitto over TLS for development, in one command.

It makes (once, in ``<data dir>/broker/``) a development CA, a server certificate for this
machine's names and addresses, and a password file; renders ``deploy/mosquitto/mosquitto.conf``
(the same template a server uses) with local paths and ports; runs Mosquitto in the
foreground; and prints what to type into Sensor Logger and into ``.env``.

``hitting-coach broker --print-config`` renders the template for a server instead (Debian's
paths by default) and prints it.

``--bridge-to HOST`` makes either one a cage broker: it also forwards the phones' topic to a
central broker (``deploy/mosquitto/bridge.conf``: QoS 1, a persistent queue while the uplink is
down, TLS verified against ``--bridge-ca``, its own user and password at the centre).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hitting_coach.config import Settings
from hitting_coach.errors import StartupError
from hitting_coach.resources import mosquitto_template, shipped

__all__ = [
    "Bridge",
    "BrokerFiles",
    "bridge_config",
    "Pki",
    "add_parser",
    "ensure_pki",
    "hash_password",
    "mosquitto_binary",
    "prepare",
    "render_config",
    "size_limits",
    "write_password_file",
]


#: ``--print-config`` values: Debian's Mosquitto package layout.
SERVER_DEFAULTS = {
    "user": "mosquitto",
    "persistence_dir": "/var/lib/mosquitto",
    "log_dest": "file /var/log/mosquitto/mosquitto.log",
    "password_file": "/etc/mosquitto/passwd",
    "bind_address": "",
    "mqtt_port": "8883",
    "websockets_port": "8884",
    "certfile": "/etc/mosquitto/certs/server.pem",
    "keyfile": "/etc/mosquitto/certs/server.key",
}
#: Mosquitto's ``max_packet_size`` counts the whole packet: the payload plus its topic (at most
#: 65,535 bytes) and the headers.
_PACKET_OVERHEAD = 65_535 + 1_024
#: Template fields that come from the server's settings, not from the command line.
_FROM_SETTINGS = ("message_size_limit", "max_packet_size")


def size_limits(max_message_bytes: int) -> dict[str, int]:
    """The broker's size limits for the server's own (``HITTING_COACH_MAX_MESSAGE_BYTES``):
    a larger payload is not delivered to anyone (its publisher stays connected), and a packet
    too large to hold any accepted payload makes the broker disconnect its sender before it
    reads the rest."""
    return {
        "message_size_limit": max_message_bytes,
        "max_packet_size": max_message_bytes + _PACKET_OVERHEAD,
    }


SERVER_DEFAULTS.update(size_limits(Settings.max_message_bytes))

_FIELD = re.compile(r"\$\{([a-z_]+)\}")
_CERT_DAYS = 397  # the longest validity Apple devices accept for a server certificate
_RENEW_DAYS = 30


# ------------------------------------------------------------------------------ config
def render_config(values: Mapping[str, object], template: Path | None = None) -> str:
    """The template with every ``${name}`` outside comments replaced by ``values[name]``.

    Raises :class:`StartupError` naming a field the values lack.
    """
    template = template or mosquitto_template()
    missing: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            missing.add(match.group(1))
            return match.group(0)
        return str(values[match.group(1)])

    lines = []
    for line in template.read_text().splitlines():
        if not line.lstrip().startswith("#"):
            line = _FIELD.sub(fill, line).rstrip()
        lines.append(line)
    if missing:
        raise StartupError(f"{template}: no value for {', '.join(sorted(missing))}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ bridge
#: The system's CA bundle (Debian, Ubuntu): the default for a centre with a public certificate.
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Bridge:
    """A cage broker's link to the central broker (see ``deploy/mosquitto/bridge.conf``)."""

    host: str
    username: str
    password: str = field(repr=False)
    port: int = 8883
    ca_file: str = SYSTEM_CA_FILE
    topic: str = Settings.mqtt_topic
    name: str = ""
    retry_s: int = 2
    retry_max_s: int = 30

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() or c in "#/" for c in self.host):
            raise StartupError(f"--bridge-to {self.host!r}: give the central broker's host name")
        if not 0 < self.port < 65536:
            raise StartupError(f"--bridge-to port {self.port} is not a TCP port")
        for what, value in (("user", self.username), ("password", self.password)):
            if not value or any(c.isspace() for c in value):
                raise StartupError(
                    f"bridge {what} must be one word (Mosquitto's config splits on spaces)"
                )
        if self.name and not _NAME.match(self.name):
            raise StartupError(f"bridge name {self.name!r}: letters, digits, '.', '_' and '-' only")
        if not self.topic or any(c.isspace() for c in self.topic):
            raise StartupError(f"bridge topic {self.topic!r} must be one word")
        if not 0 < self.retry_s <= self.retry_max_s:
            raise StartupError("bridge retry: 0 < first wait <= longest wait")
        if not Path(self.ca_file).is_file():
            raise StartupError(
                f"--bridge-ca {self.ca_file}: no such file (the CA the central broker's "
                "certificate chains to)"
            )

    @property
    def connection(self) -> str:
        """The connection's name: ``name``, else ``cage-<this host>``."""
        if self.name:
            return self.name
        host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:58] or "box"
        return f"cage-{host}"


def bridge_config(bridge: Bridge) -> str:
    """The bridge section for a cage broker (appended to its ``mosquitto.conf``)."""
    return render_config(
        {
            "bridge_name": bridge.connection,
            "bridge_address": f"{bridge.host}:{bridge.port}",
            "bridge_topic": bridge.topic,
            "bridge_cafile": Path(bridge.ca_file).resolve(),
            "bridge_username": bridge.username,
            "bridge_password": bridge.password,
            "bridge_retry_s": bridge.retry_s,
            "bridge_retry_max_s": bridge.retry_max_s,
        },
        shipped("deploy/mosquitto/bridge.conf"),
    )


def _bridge_from_args(args: argparse.Namespace, settings: Settings) -> Bridge | None:
    if not args.bridge_to:
        return None
    host, port = args.bridge_to, ""
    if ":" in host:
        host, port = host.rsplit(":", 1)
    if port and not port.isdigit():
        raise StartupError(f"--bridge-to {args.bridge_to}: the port must be a number")
    if not args.bridge_password_file:
        raise StartupError(
            "--bridge-to needs --bridge-password-file: the file holding this cage's password at "
            "the central broker (a password on the command line would show in `ps`)"
        )
    try:
        password = Path(args.bridge_password_file).read_text().strip()
    except OSError as e:
        raise StartupError(f"--bridge-password-file: cannot read it: {e.strerror}") from None
    return Bridge(
        host=host,
        port=int(port or 8883),
        username=args.bridge_user or "",
        password=password,
        ca_file=args.bridge_ca,
        topic=settings.mqtt_topic,
        name=args.bridge_name or "",
        retry_max_s=args.bridge_retry_max_s,
    )


# ------------------------------------------------------------------------------ users
def hash_password(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A Mosquitto 2 password hash (``$7$``: PBKDF2-SHA512), as ``mosquitto_passwd`` writes."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def write_password_file(path: Path, users: Mapping[str, str]) -> None:
    """Write a Mosquitto password file (mode 0600) for ``{user: password}``."""
    for user in users:
        if not user or ":" in user or user != user.strip():
            raise StartupError(f"MQTT user name {user!r} is not allowed (empty, or has ':')")
    text = "".join(f"{user}:{hash_password(pw)}\n" for user, pw in users.items())
    _write_private(path, text.encode())


# ------------------------------------------------------------------------ certificates
@dataclass(frozen=True)
class Pki:
    """Paths of the development CA certificate and the server's certificate and key."""

    ca_cert: Path
    cert: Path
    key: Path


def ensure_pki(directory: Path, hosts: Sequence[str]) -> Pki:
    """Make the CA (once) and a server certificate valid for ``hosts`` (names or IPs).

    The server certificate is made again when a host is missing from it or it expires
    within 30 days; the CA stays, so a phone that trusts it keeps trusting the broker.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca_key_path = directory / "ca.key"
    if pki.ca_cert.is_file() and ca_key_path.is_file():
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_private(ca_key_path, _pem_key(ca_key))
        pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    if not (pki.cert.is_file() and pki.key.is_file() and _covers(pki.cert, hosts, ca_cert)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, hosts, ca_cert, ca_key)  # type: ignore[arg-type]
        _write_private(pki.key, _pem_key(key))
        pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pki


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hitting Coach"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"Hitting Coach development CA ({socket.gethostname()})"
            ),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    hosts: Sequence[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _covers(path: Path, hosts: Sequence[str], ca_cert: x509.Certificate) -> bool:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    if cert.issuer != ca_cert.subject:
        return False
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=_RENEW_DAYS):
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    have |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return all(str(_normal(h)) in have for h in hosts)


def _normal(host: str) -> object:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return host


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


# --------------------------------------------------------------------- broker files
@dataclass(frozen=True)
class BrokerFiles:
    """Everything a local Mosquitto needs, under one directory."""

    directory: Path
    pki: Pki
    password_file: Path
    config: Path
    persistence_dir: Path
    mqtt_port: int
    websockets_port: int


def prepare(
    directory: Path,
    *,
    hosts: Sequence[str],
    users: Mapping[str, str],
    mqtt_port: int = 8883,
    websockets_port: int = 8884,
    bind_address: str = "",
    log_dest: str = "stderr",
    max_message_bytes: int = Settings.max_message_bytes,
    bridge: Bridge | None = None,
) -> BrokerFiles:
    """Certificates, password file and rendered configuration in ``directory``; the broker
    refuses messages over ``max_message_bytes`` (the server's limit); with ``bridge`` it
    forwards to a central broker (and the config, which then holds a password, is private)."""
    directory = directory.resolve()
    pki = ensure_pki(directory, hosts)
    password_file = directory / "passwd"
    write_password_file(password_file, users)
    persistence_dir = directory / "db"
    persistence_dir.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    text = render_config(
        {
            # Started as root, Mosquitto would switch to user mosquitto, which cannot read
            # private files in a root-owned data dir: a development broker stays who it is.
            "user": pwd.getpwuid(os.geteuid()).pw_name,
            "persistence_dir": persistence_dir,
            "log_dest": log_dest,
            "password_file": password_file,
            "bind_address": bind_address,
            "mqtt_port": mqtt_port,
            "websockets_port": websockets_port,
            "certfile": pki.cert,
            "keyfile": pki.key,
            **size_limits(max_message_bytes),
        }
    )
    if bridge is not None:
        text += "\n" + bridge_config(bridge)
    _write_private(config, text.encode())
    return BrokerFiles(
        directory, pki, password_file, config, persistence_dir, mqtt_port, websockets_port
    )


def mosquitto_binary() -> str:
    """Path of the ``mosquitto`` program; :class:`StartupError` if it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if not found:
        raise StartupError(
            "mosquitto is not installed: sudo apt-get install mosquitto (or scripts/bootstrap.sh"
            " --test)"
        )
    return found


# ---------------------------------------------------------------------------- the CLI
def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker",
        help="run a local Mosquitto over TLS for development (or print a server's config)",
        # the module's second paragraph, without its reStructuredText markup
        description=__doc__.split("\n\n")[1].replace("``", "") if __doc__ else None,
    )
    p.add_argument("--port", type=int, default=8883, help="MQTT over TLS port (default 8883)")
    p.add_argument(
        "--websockets-port", type=int, default=8884, help="WebSockets over TLS port (8884)"
    )
    p.add_argument("--address", default="", help="address to bind (default: every interface)")
    p.add_argument(
        "--host",
        action="append",
        default=[],
        help="extra name or address for the certificate (repeatable)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the configuration for a server (Debian paths) and exit",
    )
    p.add_argument(
        "--bridge-to",
        metavar="HOST[:PORT]",
        help="a cage broker: forward the phones' topic to this central broker (QoS 1, queued "
        "here while the link is down)",
    )
    p.add_argument(
        "--bridge-ca",
        default=SYSTEM_CA_FILE,
        help=f"CA file the centre's certificate must chain to (default {SYSTEM_CA_FILE})",
    )
    p.add_argument("--bridge-user", help="this cage's user name at the central broker")
    p.add_argument(
        "--bridge-password-file", metavar="FILE", help="file holding that user's password"
    )
    p.add_argument("--bridge-name", help="the link's name and client id (default cage-<host>)")
    p.add_argument(
        "--bridge-retry-max-s",
        type=int,
        default=30,
        help="longest wait between reconnection attempts of a dropped bridge (default 30)",
    )
    for name, default in SERVER_DEFAULTS.items():
        if name not in ("bind_address", "mqtt_port", "websockets_port", *_FROM_SETTINGS):
            flag = "--" + name.replace("_", "-")
            p.add_argument(flag, default=default, help=f"with --print-config (default {default})")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.print_config:
        values = {name: getattr(args, name, None) for name in SERVER_DEFAULTS}
        values.update(bind_address=args.address, mqtt_port=args.port)
        values["websockets_port"] = args.websockets_port
        values.update(size_limits(settings.max_message_bytes))
        text = render_config(values)
        bridge = _bridge_from_args(args, settings)
        if bridge is not None:
            text += "\n" + bridge_config(bridge)
        sys.stdout.write(text)
        return 0
    return run_local(settings, args)


def run_local(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare the files, start Mosquitto, print the settings, wait for it to end."""
    from hitting_coach.serve import lan_addresses

    directory = settings.data_path / "broker"
    username = settings.mqtt_username or "sensor-logger"
    password, generated = _password(directory, settings)
    lan = lan_addresses()
    hosts = ["localhost", "127.0.0.1", socket.gethostname(), *lan, *args.host]
    files = prepare(
        directory,
        hosts=hosts,
        users={username: password},
        mqtt_port=args.port,
        websockets_port=args.websockets_port,
        bind_address=args.address,
        max_message_bytes=settings.max_message_bytes,
        bridge=_bridge_from_args(args, settings),
    )
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(files.config)])
    stop = {"signal": None}

    def forward(signum: int, frame: object) -> None:
        stop["signal"] = signum
        proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    host = args.address or "127.0.0.1"
    if not _wait_listening(proc, host, args.port, files.pki.ca_cert):
        code = proc.wait()
        raise StartupError(f"mosquitto exited with {code}; its messages are above")
    shown = password if generated else None
    _print_settings(files, settings.mqtt_topic, username, shown, lan + args.host)
    code = proc.wait()
    return 0 if stop["signal"] is not None and code == 0 else code


def _password(directory: Path, settings: Settings) -> tuple[str, bool]:
    """``MQTT_PASSWORD`` when set; else a generated one, kept in the broker directory."""
    if settings.mqtt_password:
        return settings.mqtt_password, False
    path = directory / "credentials.json"
    if path.is_file():
        return json.loads(path.read_text())["password"], True
    password = secrets.token_urlsafe(12)
    _write_private(path, json.dumps({"password": password}).encode())
    return password, True


def _wait_listening(
    proc: subprocess.Popen, host: str, port: int, ca_file: Path, timeout: float = 10
) -> bool:
    """Wait until the TLS listener answers a handshake (a bare connect would log an error)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with (
                socket.create_connection((host, port), timeout=1) as raw,
                context.wrap_socket(raw) as tls,
            ):
                tls.unwrap()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _print_settings(
    files: BrokerFiles,
    topic: str,
    username: str,
    password: str | None,
    addresses: Sequence[str],
) -> None:
    host = addresses[0] if addresses else socket.gethostname()
    shown = password if password is not None else "(your MQTT_PASSWORD)"
    lines = [
        f"Hitting Coach development broker: Mosquitto, config {files.config}",
        "",
        "Sensor Logger → Settings → Data Streaming → MQTT:",
        f"  Host        {host}",
        f"  Port        {files.websockets_port} (WebSocket) or {files.mqtt_port} (TCP)",
        "  TLS         on",
        f"  Topic       {topic}",
        f"  Username    {username}",
        f"  Password    {shown}",
        f"  The phone must trust the development CA: copy {files.pki.ca_cert} to it and",
        "  install it (iOS: also Settings → General → About → Certificate Trust Settings).",
        "",
        "For hitting-coach serve (.env):",
        "  MQTT_BROKER=localhost",
        f"  MQTT_PORT={files.mqtt_port}",
        f"  MQTT_USERNAME={username}",
        f"  MQTT_PASSWORD={shown}",
        f"  HITTING_COACH_MQTT_CA_FILE={files.pki.ca_cert}",
        "",
        "Ctrl-C stops the broker; it keeps queued messages for the next start.",
    ]
    print("\n".join(lines), flush=True)
