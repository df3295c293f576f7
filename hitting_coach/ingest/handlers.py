"""Tornado handlers served inside ``panel serve``: POST /data, status JSON and metrics.

Bokeh prefixes every extra route with ``--prefix`` (``/sensor``), but phones and the seed's
nginx post to ``/data``. Tornado routes are anchored regular expressions, so the pattern
``/data$|/data`` becomes ``/sensor/data$|/data$`` once prefixed: both URLs reach the handler.

POST /data decides from the headers, before it keeps a byte of the body: a browser request
from another site (an ``Origin`` that is not this server or an allowed origin) gets 403, a
missing token 499, a ``Content-Length`` over the limit 413; a body streamed without a length
is cut off at the limit. The Sensor Logger app, a native app, sends no ``Origin``.

A refused body is still read, and dropped, before the answer goes out, as long as it is at
most :data:`DRAIN_FACTOR` times the limit: a server that closes a connection with unread bytes
in it makes the kernel reset the connection, and the client can lose the answer with it (the
phone would show a network error instead of our reason). A bigger body is answered at once and
the connection closed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
import tornado.web

from hitting_coach.errors import Busy, MessageError, RecordingError, TooLarge
from hitting_coach.ingest.prometheus import prometheus_text

__all__ = [
    "DataHandler",
    "MetricsHandler",
    "ReadingsHandler",
    "StatusHandler",
    "SwingsHandler",
    "origin_allowed",
    "routes",
]

_ACCEPTED = {
    False: b'{"ok":true,"readings":%d,"duplicate":false}',
    True: b'{"ok":true,"readings":%d,"duplicate":true}',
}

#: The app answers a 499 with a text body by showing that text to the user (SENSOR_LOGGER.md).
APP_MESSAGE_STATUS = 499

#: A refused body up to this many times the message limit is read and dropped before the answer.
DRAIN_FACTOR = 4


def origin_allowed(origin: str, host: str, allowed: list[str]) -> bool:
    """A browser names the page's site in ``Origin``: this server itself (``host``, the Host
    the request went to) or an allowed origin may post or connect; any other site may not."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(netloc) and (netloc == host.lower() or netloc in {a.lower() for a in allowed})


class _JSONHandler(tornado.web.RequestHandler):
    def initialize(self, runtime: Callable[[], Any]) -> None:
        self._get_runtime = runtime

    def check_xsrf_cookie(self) -> None:
        """Phones post without cookies; the token (when set) is the credential."""

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.answer(status, "application/json", orjson.dumps(body))

    def answer(self, status: int, content_type: str, body: bytes) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


@tornado.web.stream_request_body
class DataHandler(_JSONHandler):
    """Sensor Logger's HTTP push: one message per POST, the same JSON as over MQTT."""

    _chunks: list[bytes]
    _refusal: tuple[int, str, bytes] | None

    def prepare(self) -> None:
        """Refuse what we will not take before a byte of the body is kept."""
        self._chunks, self._refusal = [], None
        if self.request.method != "POST":
            return
        runtime = self._get_runtime()
        hub, settings = runtime.hub, runtime.settings
        limit = hub.max_message_bytes
        origin = self.request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, settings.extra_origins):
            hub.reject("bad_origin", f"a web page at {origin[:80]!r} tried to post", "http")
            error = (
                f"a web page at {origin[:80]} may not post here "
                "(add its host to HITTING_COACH_ALLOWED_ORIGINS if it should)"
            )
            self._refuse(403, {"error": error, "reason": "bad_origin", "field": "Origin"}, limit)
            return
        token = runtime.ingest_token
        if token and not self._token_ok(token):
            hub.reject("bad_token", "missing or wrong ingest token", "http")
            text = "Hitting Coach: wrong or missing token. Add ?token=... to the push URL."
            self._refuse(APP_MESSAGE_STATUS, text, limit)
            return
        length = self._declared_length()
        if length is not None and length > limit:
            error = TooLarge(length, limit)
            hub.reject(error.reason, str(error), "http")
            self._refuse(413, {"error": str(error), "reason": error.reason}, limit)
            return
        # A body without a length (chunked) is cut off by tornado at the limit, unread.
        self.request.connection.set_max_body_size(limit)

    def _declared_length(self) -> int | None:
        length = self.request.headers.get("Content-Length")
        return int(length) if length is not None and length.isdigit() else None

    def _refuse(self, status: int, body: dict[str, Any] | str, limit: int) -> None:
        """Answer ``status`` once the body is read and dropped, or at once if it is too big."""
        if isinstance(body, str):
            refusal = (status, "text/plain; charset=utf-8", body.encode())
        else:
            refusal = (status, "application/json", orjson.dumps(body))
        length = self._declared_length()
        if length is not None and length > DRAIN_FACTOR * limit:
            self.answer(*refusal)  # tornado closes the connection: the rest is never read
            return
        self._refusal = refusal
        self.request.connection.set_max_body_size(DRAIN_FACTOR * limit)

    def data_received(self, chunk: bytes) -> None:
        if self._refusal is None:
            self._chunks.append(chunk)

    def post(self) -> None:
        if self._refusal is not None:
            self.answer(*self._refusal)
            return
        hub = self._get_runtime().hub
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        try:
            result = hub.ingest(body, source="http")
        except TooLarge as e:
            self.reply(413, {"error": str(e), "reason": e.reason})
            return
        except Busy as e:
            self.set_header("Retry-After", "60")
            self.reply(503, {"error": str(e), "reason": e.reason, "field": e.field})
            return
        except MessageError as e:
            self.reply(400, {"error": str(e), "reason": e.reason, "field": e.field})
            return
        except RecordingError as e:  # not on disk: the app keeps the message and retries
            self.set_header("Retry-After", "5")
            self.reply(503, {"error": str(e), "reason": "not_recorded"})
            return
        # the hot path: one header and a preformatted body (a phone posts several times a second)
        self.set_header("Content-Type", "application/json")
        self.finish(_ACCEPTED[result.duplicate] % result.readings)

    def get(self) -> None:
        self.reply(
            405,
            {"error": "POST Sensor Logger messages here (Content-Type: application/json)"},
        )

    def _origin_ok(self, origin: str, allowed: list[str]) -> bool:
        return origin_allowed(origin, self.request.headers.get("Host", ""), allowed)

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


class SwingsHandler(ReadingsHandler):
    """Read-only live swings, the coach's marks applied (login as for readings).

    ``GET swings.json``: ``{"devices": {device: number of swings}}``.
    ``GET swings.json?device=D``: ``{"device": D, "swings": [...]}``, oldest first (at most the
    last 500): one object per swing with the swing table's columns (null where not measured,
    times in epoch ns), ``number`` (as on the dashboard; null for a swing the coach added),
    ``found_ns``, ``session_id``, ``added_by_coach`` and ``mark_id``. 404 for an unknown device.
    """

    def get(self) -> None:
        runtime = self._get_runtime()
        device = self.get_query_argument("device", "")
        if not device:
            devices = runtime.hub.devices()
            self.reply(200, {"devices": {d: len(runtime.live_swings(d) or ()) for d in devices}})
            return
        rows = runtime.live_swings(device)
        if rows is None:
            self.reply(
                404, {"error": f"no device {device[:100]!r} is streaming", "field": "device"}
            )
            return
        self.reply(200, {"device": device, "swings": rows})


class RootRedirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect("/sensor/")


def routes(runtime: Callable[[], Any]) -> list[tuple[str, type, dict[str, Any]]]:
    """Routes for ``panel serve --plugins`` (ROUTES) or any tornado application.

    ``runtime()`` returns the object the handlers serve: it has ``hub``, ``settings``,
    ``status()`` and ``live_swings(device)`` (:class:`hitting_coach.runtime.Runtime`)."""
    kwargs = {"runtime": runtime}
    return [
        (r"/data$|/data", DataHandler, kwargs),
        (r"/status.json", StatusHandler, kwargs),
        (r"/metrics", MetricsHandler, kwargs),
        (r"/readings.json", ReadingsHandler, kwargs),
        (r"/swings.json", SwingsHandler, kwargs),
        (r"$|/", RootRedirect, {}),
    ]
