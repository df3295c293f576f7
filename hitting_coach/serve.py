"""``hitting-coach serve``: ``panel serve`` with our apps and routes, in this process.

It builds the :class:`~hitting_coach.runtime.Runtime`, starts it, and hands its routes
(:func:`hitting_coach.web.routes.routes`) to Bokeh's server as ``extra_patterns``.
The equivalent command line, for deployments that prefer it (:mod:`hitting_coach.plugin`
builds the runtime from the environment there)::

    panel serve apps/sensor.py --prefix sensor --index sensor \\
        --plugins hitting_coach.plugin --port 8000
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import json
import logging
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hitting_coach.compat import bokeh_http_server, wrap_requests
from hitting_coach.config import Settings, is_loopback, kept_secret
from hitting_coach.errors import StartupError
from hitting_coach.resources import app_path
from hitting_coach.runtime import Runtime, hold_data_dir, serve_runtime
from hitting_coach.web.connections import ConnectionGuard, guard
from hitting_coach.web.hosts import HostGuard, host_name, server_names
from hitting_coach.web.routes import routes

if TYPE_CHECKING:
    from tornado.httpserver import HTTPServer

__all__ = [
    "PASSWORD_FILE",
    "RepeatFilter",
    "basic_auth",
    "check_port",
    "guard_connections",
    "http_limits",
    "lan_addresses",
    "panel_serve_args",
    "phone_hosts",
    "print_urls",
    "run",
]

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
    use_xheaders: bool = False,
) -> list[str]:
    """The ``panel serve`` arguments for these settings (without the leading ``serve``).

    ``hosts`` are the addresses phones use (default: :func:`phone_hosts`); the dashboard's
    websocket is allowed from pages of this server's own names (:func:`server_names`: them,
    localhost, the host name) and of ``HITTING_COACH_ALLOWED_HOSTS``, the same list the Host
    check of every request uses.
    Secrets (the login, the cookie secret) are never arguments: :func:`run` hands them to
    Panel inside this process, so ``ps`` cannot show them.
    """
    app = app_path("sensor.py")
    if not app.is_file():
        raise StartupError(f"dashboard app not found at {app}; run from a source checkout")
    if hosts is None:
        hosts = phone_hosts(settings)
    own = server_names(settings.replace(allowed_hosts=""), hosts)
    # Bokeh's list takes no IPv6 address; a name without a port matches any port
    origins = sorted(f"{name}:{settings.port}" for name in own if ":" not in name)
    origins += [h for h in settings.extra_hosts if ":" not in host_name(h)]
    args = [
        str(app),
        "--prefix",
        "sensor",
        "--index",
        "sensor",
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
    return args


def run(
    settings: Settings,
    demo: bool = False,
    basic_auth_file: str | None = None,
    use_xheaders: bool = False,
) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM).

    The dashboard login is :func:`basic_auth`'s (``HITTING_COACH_BASIC_AUTH``, on by default
    off the loopback, or ``basic_auth_file``: a password on its first line, or a JSON object of
    users); raises :class:`StartupError` for a login that cannot be read or kept."""
    from panel.command.serve import Serve

    # Before anything touches the data directory or imports the app: the data directory is
    # ours alone, and the port is free; otherwise one line says why (exit 1).
    hold_data_dir(settings.data_path)
    check_port(settings.address, settings.port)
    login, login_line = basic_auth(settings, basic_auth_file, behind_proxy=use_xheaders)
    token = settings.resolved_ingest_token(behind_proxy=use_xheaders)
    settings = settings.replace(ingest_token=token)  # the runtime serves this one
    hosts = phone_hosts(settings)
    args = panel_serve_args(settings, hosts=hosts, use_xheaders=use_xheaders)
    print_urls(settings, hosts or ["localhost"], demo, token)
    print(login_line, flush=True)
    if settings.log_level != "debug":  # one access line per POST would drown the log
        logging.getLogger("tornado.access").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter())
    # Bokeh lists the live page twice, at /sensor/ (the index) and under its file's name
    # (/sensor/sensor): print_urls said where the dashboard is; the second line is dropped.
    logging.getLogger("bokeh.command.subcommands.serve").addFilter(_NoFileNameRoute())
    if login:
        from panel.config import config

        config.basic_auth = login
        config.cookie_secret = settings.cookie_secret or kept_secret(
            settings.data_path, "cookie-secret"
        )
    http_server_kwargs = http_limits(settings)
    runtime = serve_runtime(Runtime(settings, demo=demo).start())
    atexit.register(runtime.stop)  # however serving ends, what was accepted is flushed to disk

    class _Serve(Serve):
        def customize_kwargs(self, args: argparse.Namespace, server_kwargs: dict) -> dict:
            from hitting_coach.web.login import throttle

            kwargs = super().customize_kwargs(args, server_kwargs)
            kwargs["extra_patterns"].extend(routes(runtime))  # Bokeh prefixes them (/sensor)
            kwargs["http_server_kwargs"] = http_server_kwargs
            if "auth_provider" in kwargs:
                kwargs["auth_provider"] = throttle(kwargs["auth_provider"])
            return kwargs

        def customize_server(self, server: Any) -> Any:
            http_server = bokeh_http_server(server)
            wrap_requests(http_server, lambda app: HostGuard(app, server_names(settings, hosts)))
            server.io_loop.add_callback(guard_connections, http_server, settings)
            server.io_loop.add_callback(_settle_heap)
            return super().customize_server(server)

    parser = argparse.ArgumentParser(prog="panel serve")
    command = _Serve(parser=parser)
    command.invoke(parser.parse_args(args))


def _settle_heap() -> None:
    """Once the server is up: move everything built so far (Panel, Bokeh, the apps: a great
    many objects) out of the garbage collector's sight. A full collection walked all of it
    and every parsed message waiting for Parquet, blocking the event loop under ingest load
    (the p99 of POST /data, docs/benchmarks.md); now it walks only what was made since, and
    messages are not tracked (see parse.Message)."""
    gc.collect()
    gc.freeze()
    log.debug("%d objects frozen out of the garbage collector", gc.get_freeze_count())


def http_limits(settings: Settings) -> dict[str, Any]:
    """Tornado ``HTTPServer`` arguments: no body over the message limit is ever buffered (the
    login form and POST /data are the only bodies). Slow and idle connections are closed by
    :func:`guard_connections`."""
    return {
        "max_body_size": settings.max_message_bytes,
        "max_buffer_size": max(settings.max_message_bytes, 1 << 20) + 65_536,
    }


def guard_connections(server: HTTPServer, settings: Settings) -> ConnectionGuard | None:
    """Close ``server``'s connections that stay idle (or send their headers) longer than
    ``idle_timeout_s``, or their body longer than ``body_timeout_s``; on the serving loop."""
    return guard(server, settings.idle_timeout_s, settings.body_timeout_s)


#: Where the dashboard password made at first start (``HITTING_COACH_BASIC_AUTH=auto``) is kept.
PASSWORD_FILE = "dashboard-password"


def basic_auth(
    settings: Settings, path: str | None = None, behind_proxy: bool = False
) -> tuple[str | None, str]:
    """The dashboard login for Panel (a password, or the path of a JSON file of users; None:
    no login) and the one start-up line that says which.

    From ``path`` (``--basic-auth FILE``) or the ``HITTING_COACH_BASIC_AUTH`` setting: ``auto``
    (the default; also when empty) is no login on a loopback address unless a proxy forwards
    the network to it, else a password made at first start (printed in that line once) and
    kept in ``<data>/secrets/``; ``off`` is no login; anything else a password or such a file.
    A password on the command line would be visible in ``ps``, so ``path`` must be a file."""
    setting = settings.basic_auth
    network = not is_loopback(settings.address) or behind_proxy
    where = f"{settings.address}{' behind a proxy' if behind_proxy else ''}"
    if path is None and setting.lower() == "off":
        if network:
            return None, (
                "  WARNING: dashboard login off (HITTING_COACH_BASIC_AUTH=off): anyone who can "
                "reach this server can view, download, rename and delete sessions"
            )
        return None, "  Dashboard login: off (HITTING_COACH_BASIC_AUTH=off)"
    if path is None and setting.lower() in ("", "auto"):
        if not network:
            return None, (
                f"  Dashboard login: off (loopback address {where}: only this computer can open "
                "it; HITTING_COACH_BASIC_AUTH sets one)"
            )
        kept = settings.data_path / "secrets" / PASSWORD_FILE
        made = not kept.is_file()
        password = kept_secret(settings.data_path, PASSWORD_FILE)
        if made:
            return password, (
                f"  Dashboard login: on ({where}): any user name, password {password} (made now "
                f"and shown this once; kept in {kept})"
            )
        return password, (
            f"  Dashboard login: on ({where}): any user name, the password kept in {kept}"
        )
    login = _login_from(settings, path)
    source = "--basic-auth" if path is not None else "HITTING_COACH_BASIC_AUTH"
    return login, f"  Dashboard login: on ({source})"


def _login_from(settings: Settings, path: str | None) -> str:
    if path is not None:
        source = Path(path).expanduser()
        if not source.is_file():
            raise StartupError(
                f"--basic-auth takes a file (a password on its first line, or a JSON object of "
                f"users), and {path[:3]}... is not one; to give the password itself, set "
                "HITTING_COACH_BASIC_AUTH (a command line shows in `ps`)"
            )
    elif Path(settings.basic_auth).expanduser().is_file():
        source = Path(settings.basic_auth).expanduser()
    else:
        return settings.basic_auth
    try:
        text = source.read_text()
    except OSError as e:
        raise StartupError(f"cannot read the login file {source}: {e.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            users = json.loads(text)
        except ValueError as e:
            raise StartupError(f"{source} is not a JSON object of users: {e}") from None
        if not isinstance(users, dict) or not users:
            raise StartupError(f"{source} must be a JSON object of {{user: password}}")
        return str(source.resolve())
    password = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise StartupError(f"the login file {source} is empty")
    return password


class _NoFileNameRoute(logging.Filter):
    """Drops Bokeh's start-up line naming the live app under its file's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().rstrip("/").endswith("/sensor/sensor")


class RepeatFilter(logging.Filter):
    """Log a repeated event once per ``every_s``, then say how many more there were.

    Events are alike when they share logger, level and message template (a flood of refused
    connections or rejected posts differs only in its arguments). A record logged with
    ``extra={"audit": True}`` (a coach's rename, delete or mark: who changed stored data) is
    never folded: each one is a line of its own."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}  # key: [since, more]

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "audit", False):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.every_s:
                seen[1] += 1
                return False
            more = int(seen[1]) if seen is not None else 0
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = [now, 0]
        if more:
            record.msg = f"{record.msg} (and {more} more like it in the last {self.every_s:g} s)"
        return True


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


def print_urls(settings: Settings, hosts: list[str], demo: bool, token: str) -> None:
    """What ``serve`` prints at start: the dashboard, the push URL (with the token) for each
    of ``hosts``, and a warning for a network address without a token."""
    query = f"?token={token}" if token else ""
    print(f"Hitting Coach: dashboard  http://localhost:{settings.port}/sensor/", flush=True)
    for host in hosts:
        print(f"  Sensor Logger HTTP push URL:  http://{host}:{settings.port}/data{query}")
    if hosts == ["localhost"]:
        print("  (no LAN address found: use this computer's address on the phone's network)")
    if not token and not is_loopback(settings.address):
        print(
            "  WARNING: HITTING_COACH_INGEST_TOKEN is empty: anyone on this network can post "
            "data (remove the setting to get a token kept in the data folder)"
        )
    if not settings.mqtt_broker:
        print("  MQTT: not configured (set MQTT_BROKER to receive over MQTT); HTTP push only")
    if demo:
        print("  demo: feeding simulated swings through the ingest path")
