"""The Host allowlist: every request and websocket of the server names this server in its
``Host``, or is refused with 403 before any handler sees it.

A page on another site cannot read this server's answers (the browser's same-origin rule)
unless it makes its own name point at this server (DNS rebinding): then the browser sends the
attacker's name in ``Host`` and in ``Origin``, both alike, and every "same origin" check passes.
Checking ``Host`` against the names and addresses this server really has closes that: the
attacker's name is not one of them.

:class:`HostGuard` wraps the server's request delegate (tornado's ``Application``, or Bokeh's),
so one check covers the Panel pages, Bokeh's websocket, POST /data and every route of
:mod:`hitting_coach.web.routes`. An IP address in ``Host`` is taken when it is the address the
connection arrived on (a DHCP lease that changed since start-up still works); names are taken
from :func:`server_names` (``localhost``, the host name, the bound and LAN addresses and
``HITTING_COACH_ALLOWED_HOSTS``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable

import orjson
import tornado.httputil

from hitting_coach.config import Settings

__all__ = ["HostGuard", "host_name", "server_names"]

log = logging.getLogger(__name__)


def host_name(value: str) -> str:
    """The name part of a ``Host`` header or ``host[:port]`` entry, lower case, without port
    or IPv6 brackets: ``"[::1]:8000"`` -> ``"::1"``, ``"Coach.Example.com:443"`` ->
    ``"coach.example.com"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a bare name, or a bare IPv6 address (several colons)


def server_names(settings: Settings, addresses: Iterable[str] = ()) -> frozenset[str]:
    """The names this server answers to: loopback names, this machine's host name (and its
    ``.local`` mDNS name), the bound address, ``addresses`` (the LAN addresses serve prints for
    phones) and ``HITTING_COACH_ALLOWED_HOSTS``."""
    hostname = socket.gethostname().lower()
    names = {"localhost", "127.0.0.1", "::1", hostname, socket.getfqdn().lower()}
    if "." not in hostname:
        names.add(f"{hostname}.local")
    if settings.address not in ("", "0.0.0.0", "::"):
        names.add(host_name(settings.address))
    names.update(host_name(a) for a in addresses)
    names.update(host_name(h) for h in settings.extra_hosts)
    return frozenset(n for n in names if n)


class HostGuard(tornado.httputil.HTTPServerConnectionDelegate):
    """``inner`` (the server's request delegate), answering 403 to any request whose ``Host``
    is not in ``names`` nor the IP address the connection arrived on."""

    def __init__(self, inner: tornado.httputil.HTTPServerConnectionDelegate, names: Iterable[str]):
        self.inner = inner
        self.names = frozenset(host_name(n) for n in names)

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        return _HostCheck(self, self.inner.start_request(server_conn, request_conn), request_conn)

    def on_close(self, server_conn: object) -> None:
        self.inner.on_close(server_conn)

    def allows(self, host: str | None, local_address: Callable[[], str | None]) -> bool:
        """Whether a request with this ``Host`` (None: none given), which arrived on
        ``local_address()`` (asked only for an address not among the names), is for this
        server."""
        if not host:
            return False
        name = host_name(host)
        if name in self.names:
            return True
        address = local_address()
        return address is not None and _same_ip(name, address)


def _same_ip(name: str, address: str) -> bool:
    try:
        given, local = ipaddress.ip_address(name), ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
        local = local.ipv4_mapped
    return given == local


def _local_address(request_conn: object) -> str | None:
    try:
        return request_conn.stream.socket.getsockname()[0]  # type: ignore[attr-defined]
    except (AttributeError, OSError, IndexError, TypeError):
        return None


class _HostCheck(tornado.httputil.HTTPMessageDelegate):
    """One request: passed on to the inner delegate, or answered 403 once its body (at most
    the server's body limit) is read, so the client gets the reason instead of a reset."""

    def __init__(
        self,
        guard: HostGuard,
        inner: tornado.httputil.HTTPMessageDelegate,
        conn: tornado.httputil.HTTPConnection,
    ) -> None:
        self.guard, self.inner, self.conn = guard, inner, conn
        self.refused: str | None = None

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ):  # type: ignore[no-untyped-def]
        host = headers.get("Host")
        if self.guard.allows(host, lambda: _local_address(self.conn)):
            return self.inner.headers_received(start_line, headers)
        self.refused = (host or "")[:100]
        log.warning("refused a request for the host %r (not this server's name)", self.refused)
        return None

    def data_received(self, chunk: bytes):  # type: ignore[no-untyped-def]
        if self.refused is None:
            return self.inner.data_received(chunk)
        return None

    def finish(self) -> None:
        if self.refused is None:
            self.inner.finish()
            return
        error = (
            f"this server does not answer to the host {self.refused!r}: open it by its own "
            "address or name (add a name to HITTING_COACH_ALLOWED_HOSTS if it is this server's)"
        )
        body = orjson.dumps({"error": error, "reason": "bad_host", "field": "Host"})
        headers = tornado.httputil.HTTPHeaders()
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(body))
        headers["Cache-Control"] = "no-store"
        start_line = tornado.httputil.ResponseStartLine("", 403, "Forbidden")
        self.conn.write_headers(start_line, headers, body)
        self.conn.finish()

    def on_connection_close(self) -> None:
        if self.refused is None:
            self.inner.on_connection_close()
