"""Slow and idle HTTP connections are closed by one sweep, not by two timers per request.

Tornado's own ``idle_connection_timeout`` and ``body_timeout`` wrap every read of every
request's headers and body in ``gen.with_timeout``: a timer, a future and their callbacks per
read, about 50 µs of the event loop's CPU a request (14% of it under a phone's stream of posts,
docs/benchmarks.md). :class:`ConnectionGuard` gives the same protection from a periodic sweep:
a connection kept waiting for a request's headers (idle, or sending them slowly) for
``idle_s``, or for its body for ``body_s``, is closed. A connection the server is answering
is never closed by it, however long the answer takes.

The sweep reads tornado's connection state (``HTTPServer._connections`` and what each stream
is reading), which tornado does not publish. :func:`guard` checks that this state is there and
otherwise leaves the timeouts to tornado, with a warning in the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tornado.httpserver
import tornado.ioloop
import tornado.iostream

__all__ = ["ConnectionGuard", "guard"]

log = logging.getLogger(__name__)


class ConnectionGuard:
    """Every second (or a quarter of the shorter limit), close the connections of ``server``
    that kept it waiting too long: ``idle_s`` for the headers of the next request, ``body_s``
    for a request's body."""

    def __init__(self, server: tornado.httpserver.HTTPServer, idle_s: float, body_s: float) -> None:
        self.server = server
        self.idle_s, self.body_s = idle_s, body_s
        # connection: ((what it waits for, answers written so far), since when)
        self._waiting: dict[Any, tuple[tuple[str, int], float]] = {}
        self.closed = 0
        every_ms = 1000 * min(1.0, idle_s / 4, body_s / 4)
        self._timer = tornado.ioloop.PeriodicCallback(self.sweep, every_ms)

    def start(self) -> ConnectionGuard:
        """Start sweeping on the current event loop."""
        self._timer.start()
        return self

    def sweep(self) -> int:
        """Close what waited too long; returns how many were closed."""
        now = time.monotonic()
        waiting: dict[Any, tuple[tuple[str, int], float]] = {}
        closed = 0
        for conn in list(self.server._connections):
            stream = conn.stream
            if stream.closed():
                continue
            if stream._read_regex is not None:  # the headers of the next request
                phase, limit = "headers", self.idle_s
            elif stream._read_bytes is not None:  # a request's body
                phase, limit = "body", self.body_s
            else:  # the server is answering (or the stream is between reads)
                continue
            # the same wait as at the last sweep only if no answer was written since
            state = (phase, stream._total_write_index)
            seen = self._waiting.get(conn)
            since = seen[1] if seen is not None and seen[0] == state else now
            if now - since >= limit:
                stream.close()
                closed += 1
                continue
            waiting[conn] = (state, since)
        self._waiting = waiting
        self.closed += closed
        return closed


def _can_guard(server: tornado.httpserver.HTTPServer) -> bool:
    """Tornado's connection state the sweep reads is where it expects it."""
    names = tornado.iostream.BaseIOStream.__init__.__code__.co_names  # what a stream sets up
    return isinstance(getattr(server, "_connections", None), set) and all(
        name in names for name in ("_read_regex", "_read_bytes", "_total_write_index")
    )


def guard(
    server: tornado.httpserver.HTTPServer, idle_s: float, body_s: float
) -> ConnectionGuard | None:
    """Start a :class:`ConnectionGuard` on ``server`` (on the current event loop) in place of
    tornado's per-request timeouts (an ``HTTPServer`` times every request's headers, 3600 s
    when not told otherwise), or, if this tornado keeps its connections elsewhere, leave the
    timeouts to tornado."""
    params = server.conn_params
    if not _can_guard(server):
        log.warning("this tornado's connections cannot be swept; using its per-request timeouts")
        params.header_timeout, params.body_timeout = idle_s, body_s
        return None
    params.header_timeout = params.body_timeout = None
    return ConnectionGuard(server, idle_s, body_s).start()
