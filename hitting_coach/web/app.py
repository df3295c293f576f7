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

    #: A handler that streams its request's body sets this until the body has been read:
    #: an answer before then makes tornado close the connection, and the answer says so, or a
    #: client that sends its next request on the same connection finds it closed, unanswered.
    body_unread = False

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        if self.body_unread:
            self.set_header("Connection", "close")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(body))


class LoginRequired(AppHandler):
    """What reveals or changes stored data: from this server's own pages only, and with a
    dashboard login (``--basic-auth``, on by default off the loopback; OAuth), only for a
    logged-in user.

    A browser says which site a request comes from: ``Origin`` (every POST, and cross-site
    reads), else ``Sec-Fetch-Site``. A request from another site's page gets 403 (JSON), so a
    page on the web cannot make the coach's browser read, export or change anything here; a
    notebook's or script's request (neither header) is as before. Then 401 (JSON) for a request
    without a logged-in user when there is a login; without one everyone on this computer may.
    """

    async def prepare(self) -> None:
        if not self.same_origin():
            origin = self.request.headers.get("Origin") or self.request.headers.get(
                "Sec-Fetch-Site", ""
            )
            self.reply(
                403,
                {
                    "error": f"a page of another site ({origin[:80]}) may not use this; "
                    "open it from this server's own pages",
                    "reason": "cross_site",
                    "field": "Origin",
                },
            )
            return
        provider = getattr(self.application, "auth_provider", None)  # Bokeh's, when served
        if getattr(provider, "get_user_async", None) is not None:
            user = await provider.get_user_async(self)
        elif getattr(provider, "get_user", None) is not None:
            user = provider.get_user(self)
        else:
            return
        if not user:
            self.refuse_login()

    def refuse_login(self) -> None:
        """Answer a request that needs the login, without it (a page redirects to the login)."""
        self.reply(401, {"error": "log in first: open /sensor/ in this browser"})

    def same_origin(self) -> bool:
        """The request comes from this server's own page (or an allowed host's), or from no
        page at all (typed, a notebook, a script)."""
        headers = self.request.headers
        origin = headers.get("Origin")
        if origin is not None:
            return origin_allowed(origin, headers.get("Host", ""), self.app.settings.extra_hosts)
        return headers.get("Sec-Fetch-Site", "none") in ("same-origin", "none")
