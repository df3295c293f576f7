"""Every use of a library's private API, in one place, with the versions it was written against.

Each was worth it (see the reason beside it); none is published by its library, so an upgrade
may break it without a deprecation. :data:`WRITTEN_AGAINST` lists the versions each section
was written and tested against; ``pyproject.toml`` bounds those libraries from above to match,
and ``tests/test_compat.py`` names the installed versions and fails, saying which section to
check, outside them. Before raising a bound: read that section against the new version, then
widen its range here and in ``pyproject.toml`` together.

This module sits at the base of the layers: it imports only what it patches (Panel and
nbformat lazily, inside the functions that need them, so importing it stays cheap).

Our own private names (``tracker._ingest`` in ``analysis/swings.py``) are not listed here: they
are ours to change.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
import tornado.httpserver
import tornado.iostream

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = [
    "WRITTEN_AGAINST",
    "ClosingSocketClient",
    "bokeh_http_server",
    "buffer_concat",
    "can_sweep_connections",
    "import_nbformat",
    "login_handler_of",
    "login_is_valid",
    "offline_login_template",
    "server_connections",
    "set_buffer_chunk_rows",
    "stream_wait",
    "versions_outside",
    "wrap_requests",
]

#: Library: (lowest, highest) ``major.minor`` this module was written and tested against (both
#: included); ``pyproject.toml`` keeps the library below the next minor version.
WRITTEN_AGAINST: dict[str, tuple[str, str]] = {
    "tornado": ("6.6", "6.6"),  # HTTPServer._connections, IOStream._read_regex/_read_bytes/...
    "bokeh": ("3.9", "3.9"),  # bokeh.server.server.Server._http; BokehJS Range1d.update (JS)
    "panel": ("1.9", "1.9"),  # _templates/basic_login.html, BasicLoginHandler._validate, ...
    "paho-mqtt": ("2.2", "2.2"),  # Client._create_socket and the attributes it reads
    "holoviews": ("1.23", "1.23"),  # streams.Buffer._concat and _chunk_length (a live window)
    "nbformat": ("5.10", "5.11"),  # imported with rfc3987_syntax kept out (jsonschema's import)
}


def versions_outside() -> list[str]:
    """One line per library whose installed version is outside :data:`WRITTEN_AGAINST`."""
    problems = []
    for name, (low, high) in WRITTEN_AGAINST.items():
        installed = importlib.metadata.version(name)
        minor = _minor(installed)
        if not _minor(low) <= minor <= _minor(high):
            problems.append(
                f"{name} {installed} is installed, but hitting_coach/compat.py uses its private "
                f"API as in {low}..{high}: check the {name} section of compat.py against "
                f"{installed}, then widen WRITTEN_AGAINST and the bound in pyproject.toml"
            )
    return problems


def _minor(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


# ------------------------------------------------------------------------------------ tornado
# The connection sweep (hitting_coach.web.connections) replaces tornado's two timers per
# request with one periodic pass over the server's connections, reading what tornado does not
# publish: the set of open connections and what each stream is waiting to read.

_STREAM_STATE = ("_read_regex", "_read_bytes", "_total_write_index")


def can_sweep_connections(server: tornado.httpserver.HTTPServer) -> bool:
    """This tornado keeps ``server``'s connections, and each stream's read state, where
    :func:`server_connections` and :func:`stream_wait` look (checked from the names
    ``IOStream.__init__`` sets up)."""
    names = tornado.iostream.BaseIOStream.__init__.__code__.co_names
    return isinstance(getattr(server, "_connections", None), set) and all(
        name in names for name in _STREAM_STATE
    )


def server_connections(server: tornado.httpserver.HTTPServer) -> list[Any]:
    """``server``'s open HTTP/1 connections (each has a ``stream``), a copy."""
    return list(server._connections)


def stream_wait(stream: tornado.iostream.IOStream) -> tuple[str | None, int]:
    """What ``stream`` waits for: ``"headers"`` (of the next request: the connection is idle
    or sending them), ``"body"`` (of a request), or None (the server is answering, or it is
    between reads); and how many bytes were written to it so far (an answer moves it)."""
    if stream._read_regex is not None:
        phase: str | None = "headers"
    elif stream._read_bytes is not None:
        phase = "body"
    else:
        phase = None
    return phase, stream._total_write_index


# -------------------------------------------------------------------------------------- bokeh
def bokeh_http_server(server: Any) -> tornado.httpserver.HTTPServer:
    """The tornado ``HTTPServer`` of a ``bokeh.server.server.Server`` (which does not publish
    it): the connection sweep runs on it."""
    return server._http


def wrap_requests(server: tornado.httpserver.HTTPServer, wrap: Any) -> None:
    """Every request ``server`` takes from now on goes to ``wrap(its delegate)`` instead (the
    Host check around Bokeh's application). Tornado's ``HTTPServer`` keeps the application it
    was built with as ``request_callback`` (not published) and reads it for each request."""
    server.request_callback = wrap(server.request_callback)


# -------------------------------------------------------------------------------------- panel
# The dashboard login (hitting_coach.web.login): Panel's own login page, made offline and
# throttled. Panel builds its BasicAuthProvider itself (from --basic-auth), and its login page
# is a private template file.


def offline_login_template(favicon: str) -> Template:
    """Panel's basic login page without its CDN: ``favicon`` (a URL on this server) for the
    icon and the name in text instead of Panel's logo (a phone at the cage may have no
    internet). Raises RuntimeError if this Panel's page links its CDN some other way."""
    import panel
    from jinja2 import Template

    source = (Path(panel.__file__).parent / "_templates" / "basic_login.html").read_text()
    source = source.replace("{{ PANEL_CDN }}images/favicon.ico", favicon)
    source = re.sub(
        r'<img id="logo"[^>]*>', '<span class="hc-name">Hitting Coach</span>', source, count=1
    )
    if "PANEL_CDN" in source:  # a newer Panel with more CDN links: refuse rather than leak
        raise RuntimeError("Panel's login template links its CDN in a way not replaced here")
    return Template(source)


def login_is_valid(handler: Any, username: str, password: str) -> bool:
    """Whether Panel's ``BasicLoginHandler`` ``handler`` takes this user and password."""
    return bool(handler._validate(username, password))


def login_handler_of(provider: object, handler: type, favicon: str) -> object:
    """Panel's own ``BasicAuthProvider`` object ``provider``, serving ``handler`` (a subclass
    of Panel's ``BasicLoginHandler``) as its login page, with Panel's default page made
    offline (:func:`offline_login_template`) unless a template was given. Panel builds the
    provider itself; the same object is given a class that adds only this property, so its
    state and registrations stay as they are. Any other provider is returned unchanged."""
    from panel.auth import BASIC_LOGIN_TEMPLATE, BasicAuthProvider

    if type(provider) is not BasicAuthProvider:
        return provider

    class _Provider(BasicAuthProvider):
        @property
        def login_handler(self) -> type:
            handler._login_endpoint = self._login_endpoint
            handler._login_template = (
                offline_login_template(favicon)
                if self._login_template is BASIC_LOGIN_TEMPLATE
                else self._login_template
            )
            return handler

    provider.__class__ = _Provider
    return provider


# ---------------------------------------------------------------------------------- paho-mqtt
class ClosingSocketClient(paho.Client):
    """paho's client whose connection attempt closes a socket whose TLS or WebSocket handshake
    failed: paho leaves it to the garbage collector (a ResourceWarning, an error under
    ``filterwarnings = error``). The method is paho 2.2's own ``_create_socket`` otherwise;
    host names are checked by the TLS context (``check_hostname``) unless it is insecure."""

    def _create_socket(self) -> Any:
        sock = self._create_socket_connection()
        try:
            if self._ssl:
                assert self._ssl_context is not None
                sock = self._ssl_context.wrap_socket(
                    sock, server_hostname=self._host, do_handshake_on_connect=False
                )
                sock.settimeout(self._connect_timeout)
                sock.do_handshake()
            if self._transport == "websockets":
                sock.settimeout(self._connect_timeout)
                return paho._WebsocketWrapper(
                    socket=sock,
                    host=self._host,
                    port=self._port,
                    is_ssl=self._ssl,
                    path=self._websocket_path,
                    extra_headers=self._websocket_extra_headers,
                )
        except BaseException:
            sock.close()
            raise
        return sock


# ----------------------------------------------------------------------------------- nbformat
_nbformat_lock = threading.Lock()


def import_nbformat() -> Any:
    """``nbformat``, imported without ``rfc3987_syntax`` if nothing imported jsonschema yet.

    nbformat validates with jsonschema, and jsonschema, as it is imported, imports
    rfc3987_syntax if it is installed (jupyter-events asks for it) to check "iri" string
    formats; rfc3987_syntax builds a Lark grammar as it is imported, a large part of a
    report's fixed cost (docs/benchmarks.md). Notebooks have no such format and validation never checks formats, so the
    import is made to fail (``sys.modules[name] = None``) while jsonschema is imported (it
    carries on without those two checkers), and left alone after."""
    with _nbformat_lock:  # the exporter's thread imports it too
        if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
            import nbformat

            return nbformat
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  (its import fails)
        try:
            import nbformat
        finally:
            del sys.modules["rfc3987_syntax"]
        return nbformat


# ------------------------------------------------------------------------------ holoviews
# ``streams.Buffer`` keeps a fixed number of rows (``length``); a live window is a span of
# time, so ``ui.live_buffer.SensorBuffer`` overrides Buffer's private ``_concat`` hook (which
# appends a chunk and trims) and sets ``_chunk_length``, the rows Bokeh's plot streams of the
# last chunk (``holoviews/plotting/bokeh/plot.py`` reads it with ``length`` as the rollover).
def buffer_concat(buffer: Any, data: Any) -> Any:
    """What ``holoviews.streams.Buffer._concat`` makes of ``data``: the buffer's own append
    and trim to ``length`` rows (it also sets the rows to stream)."""
    import holoviews as hv

    return hv.streams.Buffer._concat(buffer, data)


def set_buffer_chunk_rows(buffer: Any, rows: int) -> None:
    """Tell the buffer's plots to stream the last ``rows`` rows of what ``_concat`` kept."""
    buffer._chunk_length = rows
