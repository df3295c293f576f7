"""The server's own HTML pages and their buttons, behind the dashboard login, from its own pages:

- ``GET /sensor/sessions`` (``?page=N&player=DEVICE``): the sessions, 20 a page, newest first;
- ``POST /sensor/sessions/<rename|delete|report>`` (form fields ``device``, ``session``, and
  ``name`` or ``step``), ``POST /sensor/players/name`` (``device``, ``name``): what the pages'
  buttons do; each answers with a redirect (303) back to the page, whose first line says what
  happened (a short-lived cookie carries it);
- ``GET /sensor/sessions/report_state.json?device=D&session=S``: a report being made, as the
  page shows it (the page polls it);
- ``GET /sensor/players`` and ``GET /sensor/player?device=D``: the players, and one player's
  sessions and numbers.

What the pages say is made by the app's :class:`Pages` (the sessions page of
:mod:`hitting_coach.ui`, given by the runtime: this layer draws nothing), on one worker thread,
never on the event loop that answers the phones. Every route is a
:class:`~hitting_coach.web.app.LoginRequired`: a page of another site gets 403, and with a
login, a browser that is not logged in is sent to the login page (a page) or gets 401 (a
button).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit

import tornado.ioloop

from hitting_coach.web.app import LoginRequired

__all__ = [
    "ActionHandler",
    "Pages",
    "PlayerPageHandler",
    "PlayersPageHandler",
    "ReportStateHandler",
    "SessionsPageHandler",
]

log = logging.getLogger(__name__)

#: Pages are made here, one at a time, never on the event loop.
_worker = ThreadPoolExecutor(1, thread_name_prefix="pages")
#: The cookie that carries an action's result line to the page it redirects to.
SAID_COOKIE = "hc_said"
_ACTIONS = ("rename", "delete", "report")


class Done(Protocol):
    message: str
    error: bool
    query: dict[str, str] | None
    to: str


class Pages(Protocol):
    """What the pages say (:class:`hitting_coach.ui.sessions_page.SessionsPage` is one)."""

    def sessions(
        self,
        page_number: int = 0,
        player: str | None = None,
        *,
        said: tuple[str, bool] | None = None,
        ask_delete: tuple[str, str] | None = None,
    ) -> str: ...

    def report_state(self, device_id: str, session_id: str) -> dict[str, Any]: ...

    def act(self, action: str, form: dict[str, str]) -> Done: ...

    def players(self, *, said: tuple[str, bool] | None = None) -> str: ...

    def player(self, device_id: str) -> str | None: ...


class _PageHandler(LoginRequired):
    """A page of the server: its HTML made on the pages' worker."""

    def refuse_login(self) -> None:
        if self.request.method == "GET":
            provider = self.application.auth_provider
            prefix = getattr(self.application, "prefix", "") or ""
            login = urljoin(prefix + "/", (provider.login_url or "/login").lstrip("/"))
            self.redirect(f"{login}?{urlencode({'next': self.request.uri})}")
            return
        super().refuse_login()

    @property
    def pages(self) -> Pages:
        return self.app.pages  # type: ignore[attr-defined]

    async def made(self, make: Any, *args: Any, **kwargs: Any) -> Any:
        loop = tornado.ioloop.IOLoop.current()
        return await loop.run_in_executor(_worker, lambda: make(*args, **kwargs))

    def said(self) -> tuple[str, bool] | None:
        """The line the last action left for this page (read once)."""
        raw = self.get_cookie(SAID_COOKIE)
        if raw is None:
            return None
        self.clear_cookie(SAID_COOKIE, path="/sensor")
        try:
            text, error = json.loads(unquote(raw))
            return str(text)[:500], bool(error)
        except (ValueError, TypeError):
            return None

    def page(self, body: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class SessionsPageHandler(_PageHandler):
    async def get(self) -> None:
        try:
            number = max(0, int(self.get_query_argument("page", "0")))
        except ValueError:
            number = 0
        player = self.get_query_argument("player", "") or None
        ask = (
            self.get_query_argument("ask_device", ""),
            self.get_query_argument("ask_session", ""),
        )
        body = await self.made(
            self.pages.sessions,
            number,
            player,
            said=self.said(),
            ask_delete=ask if all(ask) else None,
        )
        self.page(body)


class PlayersPageHandler(_PageHandler):
    async def get(self) -> None:
        self.page(await self.made(self.pages.players, said=self.said()))


class PlayerPageHandler(_PageHandler):
    async def get(self) -> None:
        device = self.get_query_argument("device", "")
        body = await self.made(self.pages.player, device) if device else None
        if body is None:
            self.set_status(404)
            body = await self.made(
                self.pages.players, said=(f"no player with the device {device[:100]!r}", True)
            )
        self.page(body)


class ReportStateHandler(_PageHandler):
    async def get(self) -> None:
        device = self.get_query_argument("device", "")
        session = self.get_query_argument("session", "")
        self.reply(200, await self.made(self.pages.report_state, device, session))


class ActionHandler(_PageHandler):
    """A button of the sessions or players page: does it, then back to the page."""

    async def post(self, action: str) -> None:
        if action not in (*_ACTIONS, "name"):
            self.reply(404, {"error": f"no such action: {action[:40]}"})
            return
        form = {k: self.get_body_argument(k, "") for k in self.request.body_arguments}
        done = await self.made(self.pages.act, action, form)
        if done.message:
            line = quote(json.dumps([done.message, done.error]), safe="")
            self.set_cookie(SAID_COOKIE, line, path="/sensor", httponly=True, samesite="Strict")
        self.redirect(self._back(done), status=303)

    def _back(self, done: Done) -> str:
        if done.to:
            return done.to
        query = dict(done.query or {})
        card = query.pop("card", "")
        referer = urlsplit(self.request.headers.get("Referer", ""))
        kept = {}
        if referer.path == "/sensor/sessions":
            kept = {k: v for k, v in parse_qsl(referer.query) if k in ("page", "player") and v}
        kept.update(query)
        url = "/sensor/sessions" + (f"?{urlencode(kept)}" if kept else "")
        return url + (f"#{card}" if card else "")
