"""Tornado handlers served inside ``panel serve``: POST /data, status JSON and metrics.

Bokeh prefixes every extra route with ``--prefix`` (``/sensor``), but phones and the seed's
nginx post to ``/data``. Tornado routes are anchored regular expressions, so the pattern
``/data$|/data`` becomes ``/sensor/data$|/data$`` once prefixed: both URLs reach the handler.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import orjson
import tornado.web

from hitting_coach.errors import MessageError, TooLarge
from hitting_coach.ingest.prometheus import prometheus_text

__all__ = ["DataHandler", "MetricsHandler", "ReadingsHandler", "StatusHandler", "routes"]

_ACCEPTED = {
    False: b'{"ok":true,"readings":%d,"duplicate":false}',
    True: b'{"ok":true,"readings":%d,"duplicate":true}',
}

#: The app answers a 499 with a text body by showing that text to the user (SENSOR_LOGGER.md).
APP_MESSAGE_STATUS = 499


class _JSONHandler(tornado.web.RequestHandler):
    def initialize(self, runtime: Callable[[], Any]) -> None:
        self._get_runtime = runtime

    def check_xsrf_cookie(self) -> None:
        """Phones post without cookies; the token (when set) is the credential."""

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(body))


class DataHandler(_JSONHandler):
    """Sensor Logger's HTTP push: one message per POST, the same JSON as over MQTT."""

    def post(self) -> None:
        runtime = self._get_runtime()
        hub, settings = runtime.hub, runtime.settings
        if settings.ingest_token and not self._token_ok(settings.ingest_token):
            hub.reject("bad_token", "missing or wrong ingest token", "http")
            self.set_status(APP_MESSAGE_STATUS)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("Hitting Coach: wrong or missing token. Add ?token=... to the push URL.")
            return
        try:
            result = hub.ingest(self.request.body, source="http")
        except TooLarge as e:
            self.reply(413, {"error": str(e), "reason": e.reason})
            return
        except MessageError as e:
            self.reply(400, {"error": str(e), "reason": e.reason, "field": e.field})
            return
        # the hot path: one header and a preformatted body (a phone posts several times a second)
        self.set_header("Content-Type", "application/json")
        self.finish(_ACCEPTED[result.duplicate] % result.readings)

    def get(self) -> None:
        self.reply(
            405,
            {"error": "POST Sensor Logger messages here (Content-Type: application/json)"},
        )

    def _token_ok(self, token: str) -> bool:
        header = self.request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        given = given or self.get_query_argument("token", "")
        return hmac.compare_digest(given.encode(), token.encode())


class StatusHandler(_JSONHandler):
    """The hub's counters and every source's state, as JSON."""

    def get(self) -> None:
        self.reply(200, self._get_runtime().status())


class MetricsHandler(_JSONHandler):
    """The same counters in Prometheus' text format."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(prometheus_text(self._get_runtime().status()))


class ReadingsHandler(_JSONHandler):
    """Read-only live readings for notebooks (:mod:`hitting_coach.client`).

    ``GET readings.json``: ``{"devices": {device: [sensor, ...]}}``.
    ``GET readings.json?device=D&sensor=S&cursor=N&last=M``: what the ring buffer got after
    ``cursor`` (at most the last ``M``, default and cap 20000), sorted by time, as
    ``{"columns", "time_ns", "values": {column: [...]}, "cursor", "missed"}``; pass the
    returned ``cursor`` back to get only what is new.
    """

    LIMIT = 20_000

    async def prepare(self) -> None:
        """With a dashboard login (``--basic-auth``, OAuth), readings need it too."""
        provider = getattr(self.application, "auth_provider", None)  # Bokeh's, when served
        if getattr(provider, "get_user_async", None) is not None:
            user = await provider.get_user_async(self)
        elif getattr(provider, "get_user", None) is not None:
            user = provider.get_user(self)
        else:
            return
        if not user:
            self.reply(401, {"error": "log in first: open /sensor/ in this browser"})

    def get(self) -> None:
        hub = self._get_runtime().hub
        device = self.get_query_argument("device", "")
        if not device:
            self.reply(200, {"devices": {d: hub.sensors(d) for d in hub.devices()}})
            return
        sensor = self.get_query_argument("sensor", "")
        try:
            cursor = int(self.get_query_argument("cursor", "0"))
            last = min(int(self.get_query_argument("last", str(self.LIMIT))), self.LIMIT)
        except ValueError:
            self.reply(400, {"error": "cursor and last must be integers", "field": "cursor"})
            return
        if sensor not in hub.sensors(device):
            self.reply(404, {"error": f"no readings of {sensor!r} from {device!r}"})
            return
        columns, time_ns, values, cursor, missed = hub.read(device, sensor, max(cursor, 0), last)
        body = {
            "device": device,
            "sensor": sensor,
            "columns": columns,
            "time_ns": time_ns.tolist(),
            "values": {c: values[i].tolist() for i, c in enumerate(columns)},
            "cursor": cursor,
            "missed": missed,
        }
        self.reply(200, body)


class RootRedirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect("/sensor/")


def routes(runtime: Callable[[], Any]) -> list[tuple[str, type, dict[str, Any]]]:
    """Routes for ``panel serve --plugins`` (ROUTES) or any tornado application.

    ``runtime()`` returns the object the handlers serve: it has ``hub``, ``settings`` and
    ``status()`` (:class:`hitting_coach.runtime.Runtime`)."""
    kwargs = {"runtime": runtime}
    return [
        (r"/data$|/data", DataHandler, kwargs),
        (r"/status.json", StatusHandler, kwargs),
        (r"/metrics", MetricsHandler, kwargs),
        (r"/readings.json", ReadingsHandler, kwargs),
        (r"$|/", RootRedirect, {}),
    ]
