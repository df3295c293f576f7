"""What every handler of the web layer is given: the :class:`App` it serves, and the two
things handlers share (the JSON answer and the dashboard login check).

A handler gets the app through tornado's ``initialize(app=...)`` (the route's keyword
arguments, :func:`hitting_coach.web.routes.routes`), the POST /data delegate through its
constructor: no lookup of a process-wide object, and an editor can follow ``self.app.hub``.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import tornado.web

from hitting_coach.config import Settings
from hitting_coach.ingest.hub import Hub
from hitting_coach.web.hosts import host_name

__all__ = ["App", "AppHandler", "FeedSockets", "LoginRequired", "origin_allowed"]


class FeedSockets(Protocol):
    """What ``live.ws`` needs of the live feed (:class:`hitting_coach.web.live.LiveFeed`):
    a page's socket attached under the page's token, and detached when it closes."""

    def attach(self, token: str, socket: Any) -> bool:
        """Send the page's frames to ``socket``; False for an unknown or expired token."""
        ...

    def detach(self, token: str, socket: Any) -> None: ...


class App(Protocol):
    """The server the handlers serve (:class:`hitting_coach.runtime.Runtime` is one)."""

    #: the readings: POST /data ingests into it, readings.json reads from it
    hub: Hub
    #: the settings it was built from (allowed origins, data directory, ...)
    settings: Settings
    #: POST /data needs it (bearer header or ``?token=``); empty: no token needed
    ingest_token: str
    #: the live plots' frames, sent over ``live.ws``
    feed: FeedSockets

    def status(self) -> dict[str, Any]:
        """The counters and every source's state (status.json, metrics)."""
        ...

    def live_swings(self, device: str) -> list[dict[str, Any]] | None:
        """``device``'s live swings as JSON values, oldest first; None for an unknown device."""
        ...


def origin_allowed(origin: str, host: str, allowed: list[str]) -> bool:
    """A browser names the page's site in ``Origin``: this server itself (``host``, the Host
    the request went to, already checked by :class:`~hitting_coach.web.hosts.HostGuard`) or
    an allowed host (``HITTING_COACH_ALLOWED_HOSTS``: ``host``, any port, or ``host:port``)
    may post or connect; any other site may not."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    if not netloc:
        return False
    if netloc == host.lower():
        return True
    name = host_name(netloc)
    return any(netloc == a or (host_name(a) == a and name == a) for a in allowed)


class AppHandler(tornado.web.RequestHandler):
    """A request handler of the app: ``self.app``, and :meth:`reply` for JSON answers."""

    app: App

    def initialize(self, app: App) -> None:
        self.app = app

    def check_xsrf_cookie(self) -> None:
        """Phones post without cookies; the token (when set) is the credential."""

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(body))


class LoginRequired(AppHandler):
    """With a dashboard login (``--basic-auth``, OAuth), this handler needs it too: 401 (JSON)
    for a request without a logged-in user. Without a login everyone may read."""

    async def prepare(self) -> None:
        provider = getattr(self.application, "auth_provider", None)  # Bokeh's, when served
        if getattr(provider, "get_user_async", None) is not None:
            user = await provider.get_user_async(self)
        elif getattr(provider, "get_user", None) is not None:
            user = provider.get_user(self)
        else:
            return
        if not user:
            self.reply(401, {"error": "log in first: open /sensor/ in this browser"})
