"""Slow and idle HTTP connections are closed by one sweep, not by two timers per request.

Tornado's own ``idle_connection_timeout`` and ``body_timeout`` wrap every read of every
request's headers and body in ``gen.with_timeout``: a timer, a future and their callbacks per
read: a large share of the event loop's CPU under a phone's stream of posts
(docs/benchmarks.md). :class:`ConnectionGuard` gives the same protection from a periodic sweep:
a connection kept waiting for a request's headers (idle, or sending them slowly) for
``idle_s``, or for its body for ``body_s``, is closed. A connection the server is answering
is never closed by it, however long the answer takes.

The sweep reads tornado's connection state (its open connections and what each stream is
reading), which tornado does not publish (:mod:`hitting_coach.compat`). :func:`guard` checks
that this state is there and otherwise leaves the timeouts to tornado, with a warning in the
log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tornado.httpserver
import tornado.ioloop

from hitting_coach.compat import can_sweep_connections, server_connections, stream_wait

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
        for conn in server_connections(self.server):
            stream = conn.stream
            if stream.closed():
                continue
            phase, written = stream_wait(stream)
            if phase is None:  # the server is answering (or the stream is between reads)
                continue
            limit = self.idle_s if phase == "headers" else self.body_s
            # the same wait as at the last sweep only if no answer was written since
            state = (phase, written)
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


def guard(
    server: tornado.httpserver.HTTPServer, idle_s: float, body_s: float
) -> ConnectionGuard | None:
    """Start a :class:`ConnectionGuard` on ``server`` (on the current event loop) in place of
    tornado's per-request timeouts (an ``HTTPServer`` times every request's headers, 3600 s
    when not told otherwise), or, if this tornado keeps its connections elsewhere, leave the
    timeouts to tornado."""
    params = server.conn_params
    if not can_sweep_connections(server):
        log.warning("this tornado's connections cannot be swept; using its per-request timeouts")
        params.header_timeout, params.body_timeout = idle_s, body_s
        return None
    params.header_timeout = params.body_timeout = None
    return ConnectionGuard(server, idle_s, body_s).start()
