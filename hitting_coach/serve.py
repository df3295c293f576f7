"""``hitting-coach serve``: ``panel serve`` with our app, routes and setup, in this process.

The equivalent command line, for deployments that prefer it::

    panel serve apps/sensor.py --prefix sensor --index sensor \\
        --plugins hitting_coach.plugin --setup apps/setup.py --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import socket
import subprocess

from hitting_coach.config import Settings
from hitting_coach.errors import StartupError
from hitting_coach.resources import app_path
from hitting_coach.runtime import configure, hold_data_dir

__all__ = ["check_port", "lan_addresses", "panel_serve_args", "phone_hosts", "run"]

log = logging.getLogger(__name__)


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (what a phone on the LAN types)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found.update(
            i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        )
    try:  # the host name often resolves to 127.0.1.1 only; ask the interfaces (Linux)
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=2)
        found.update(a for a in out.stdout.split() if "." in a)
    except (OSError, subprocess.SubprocessError):
        pass
    return sorted(a for a in found if not a.startswith("127."))


def phone_hosts(settings: Settings) -> list[str]:
    """Addresses a phone can reach this server at: the bound one, or every LAN address."""
    if settings.address not in ("0.0.0.0", "::", ""):
        return [settings.address]
    return lan_addresses()


def panel_serve_args(
    settings: Settings,
    *,
    hosts: list[str] | None = None,
    basic_auth: str | None = None,
    cookie_secret: str | None = None,
    use_xheaders: bool = False,
) -> list[str]:
    """The ``panel serve`` arguments for these settings (without the leading ``serve``).

    ``hosts`` are the addresses phones use (default: :func:`phone_hosts`); the dashboard's
    websocket is allowed from them, from localhost and from ``HITTING_COACH_ALLOWED_ORIGINS``.
    """
    app = app_path("sensor.py")
    if not app.is_file():
        raise StartupError(f"dashboard app not found at {app}; run from a source checkout")
    if hosts is None:
        hosts = phone_hosts(settings)
    allowed = {"localhost", "127.0.0.1", socket.gethostname(), *hosts}
    origins = sorted(f"{host}:{settings.port}" for host in allowed) + settings.extra_origins
    args = [
        str(app),
        "--prefix",
        "sensor",
        "--index",
        "sensor",
        "--plugins",
        "hitting_coach.plugin",
        "--setup",
        str(app_path("setup.py")),
        "--port",
        str(settings.port),
        "--address",
        settings.address,
        "--log-level",
        settings.log_level,
        "--num-procs",
        "1",
        "--check-unused-sessions",
        "5000",
        "--unused-session-lifetime",
        "15000",
    ]
    for origin in origins:
        args += ["--allow-websocket-origin", origin]
    if use_xheaders:
        args.append("--use-xheaders")
    if basic_auth:
        args += ["--basic-auth", basic_auth]
        if cookie_secret:
            args += ["--cookie-secret", cookie_secret]
    return args


def run(settings: Settings, demo: bool = False, **options: object) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM)."""
    from panel.command.serve import Serve

    # Before anything touches the data directory or imports the app: the data directory is
    # ours alone, and the port is free; otherwise one line says why (exit 1).
    hold_data_dir(settings.data_path)
    check_port(settings.address, settings.port)
    hosts = phone_hosts(settings)
    args = panel_serve_args(settings, hosts=hosts, **options)  # type: ignore[arg-type]
    configure(settings, demo=demo)
    _print_urls(settings, hosts or ["localhost"], demo)
    if settings.log_level != "debug":  # one access line per POST would drown the log
        logging.getLogger("tornado.access").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="panel serve")
    command = Serve(parser=parser)
    command.invoke(parser.parse_args(args))


def check_port(address: str, port: int) -> None:
    """Raise :class:`StartupError` (one line) if ``address:port`` cannot be listened on, as
    tornado would bind it (``SO_REUSEADDR``, every address the name resolves to)."""
    try:
        infos = socket.getaddrinfo(
            address or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as e:
        raise StartupError(f"cannot listen on {address}:{port}: {e.strerror}") from None
    for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(sockaddr)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"port {port} on {address} is in use by another program; "
                        "choose another with --port or HITTING_COACH_PORT"
                    ) from None
                raise StartupError(f"cannot listen on {address}:{port}: {e.strerror}") from None


def _print_urls(settings: Settings, hosts: list[str], demo: bool) -> None:
    token = "?token=<HITTING_COACH_INGEST_TOKEN>" if settings.ingest_token else ""
    print(f"Hitting Coach: dashboard  http://localhost:{settings.port}/sensor/", flush=True)
    for host in hosts:
        print(f"  Sensor Logger HTTP push URL:  http://{host}:{settings.port}/data{token}")
    if hosts == ["localhost"]:
        print("  (no LAN address found: use this computer's address on the phone's network)")
    if not settings.mqtt_broker:
        print("  MQTT: not configured (set MQTT_BROKER to receive over MQTT); HTTP push only")
    if demo:
        print("  demo: feeding simulated swings through the ingest path")
