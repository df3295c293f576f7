"""POST /data: Sensor Logger's HTTP push, one message per request, into the app's hub.

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
import logging
import time
from typing import Any

import orjson
import tornado.escape
import tornado.httputil
from tornado.log import access_log

from hitting_coach.errors import Busy, MessageError, RecordingError, TooLarge
from hitting_coach.web.app import App, origin_allowed

__all__ = ["APP_MESSAGE_STATUS", "DRAIN_FACTOR", "DataEndpoint"]

log = logging.getLogger(__name__)

_ACCEPTED = {
    False: b'{"ok":true,"readings":%d,"duplicate":false}',
    True: b'{"ok":true,"readings":%d,"duplicate":true}',
}

#: The app answers a 499 with a text body by showing that text to the user (SENSOR_LOGGER.md).
APP_MESSAGE_STATUS = 499

#: A refused body up to this many times the message limit is read and dropped before the answer.
DRAIN_FACTOR = 4


class DataEndpoint(tornado.httputil.HTTPServerConnectionDelegate):
    """Sensor Logger's HTTP push: one message per POST, the same JSON as over MQTT.

    A tornado message delegate, not a ``RequestHandler``: a phone posts several times a
    second, and a request handler's machinery (its headers, cookies, transforms and hooks) cost
    about as much CPU per request as our whole ingest; this route needs none of it
    (docs/benchmarks.md). Tornado's connection still parses the request, keeps the
    connection alive, answers ``Expect: 100-continue`` and enforces the body size set here.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    def start_request(
        self,
        server_conn: object,
        request_conn: tornado.httputil.HTTPConnection,
    ) -> tornado.httputil.HTTPMessageDelegate:
        return _DataRequest(self.app, request_conn)


class _DataRequest(tornado.httputil.HTTPMessageDelegate):
    """One request to POST /data: refused from its headers, or its body ingested."""

    def __init__(self, app: App, conn: tornado.httputil.HTTPConnection) -> None:
        self._app = app
        self._conn = conn
        self._chunks: list[bytes] = []
        # (status, content type, body, extra headers): answered once the body is read
        self._refusal: tuple[int, str, bytes, dict[str, str]] | None = None
        self._head = False
        self._start_line: tornado.httputil.RequestStartLine | None = None
        self._start = 0.0

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> None:
        """Refuse what we will not take before a byte of the body is kept."""
        assert isinstance(start_line, tornado.httputil.RequestStartLine)
        self._start, self._start_line = time.perf_counter(), start_line
        conn = self._conn
        app = self._app
        hub, settings = app.hub, app.settings
        limit = hub.max_message_bytes
        length = _declared_length(headers)
        if start_line.method != "POST":
            self._head = start_line.method == "HEAD"
            error = "POST Sensor Logger messages here (Content-Type: application/json)"
            self._refuse(405, {"error": error}, limit, length, {"Allow": "POST"})
            return
        origin = headers.get("Origin")
        if origin is not None and not origin_allowed(
            origin, headers.get("Host", ""), settings.extra_hosts
        ):
            hub.reject("bad_origin", f"a web page at {origin[:80]!r} tried to post", "http")
            error = (
                f"a web page at {origin[:80]} may not post here "
                "(add its host to HITTING_COACH_ALLOWED_HOSTS if it should)"
            )
            body = {"error": error, "reason": "bad_origin", "field": "Origin"}
            self._refuse(403, body, limit, length)
            return
        token = app.ingest_token
        if token and not _token_ok(token, headers, start_line.path):
            hub.reject("bad_token", "missing or wrong ingest token", "http")
            text = "Hitting Coach: wrong or missing token. Add ?token=... to the push URL."
            self._refuse(APP_MESSAGE_STATUS, text, limit, length)
            return
        if length is not None and length > limit:
            too_large = TooLarge(length, limit)
            hub.reject(too_large.reason, str(too_large), "http")
            self._refuse(413, {"error": str(too_large), "reason": too_large.reason}, limit, length)
            return
        # A body without a length (chunked) is cut off by tornado at the limit, unread.
        conn.set_max_body_size(limit)

    def _refuse(
        self,
        status: int,
        body: dict[str, Any] | str,
        limit: int,
        length: int | None,
        extra: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` once the body is read and dropped, or at once if it is too big."""
        if isinstance(body, str):
            refusal = (status, "text/plain; charset=utf-8", body.encode(), extra or {})
        else:
            refusal = (status, "application/json", orjson.dumps(body), extra or {})
        self._refusal = refusal
        if length is not None and length > DRAIN_FACTOR * limit:
            # tornado closes the connection (the rest is never read): the answer says so, or
            # a client sending its next request on it would find it closed, unanswered
            *answer, headers = refusal
            self._answer(*answer, {**headers, "Connection": "close"})
            return
        self._conn.set_max_body_size(DRAIN_FACTOR * limit)

    def data_received(self, chunk: bytes) -> None:
        if self._refusal is None:
            self._chunks.append(chunk)

    def finish(self) -> None:
        if self._refusal is not None:
            self._answer(*self._refusal)
            return
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        try:
            result = self._app.hub.ingest(body, source="http")
        except TooLarge as e:
            self._reply(413, {"error": str(e), "reason": e.reason})
        except MessageError as e:
            self._reply(400, {"error": str(e), "reason": e.reason, "field": e.field})
        except Busy as e:  # well-formed, no room now: send it again later
            self._reply(503, {"error": str(e), "reason": e.reason, "field": e.field}, "60")
        except RecordingError as e:  # not on disk: the app keeps the message and retries
            self._reply(503, {"error": str(e), "reason": "not_recorded"}, "5")
        except Exception as e:  # counted and shown with the refusals (status, metrics)
            log.exception("POST /data failed")
            detail = f"the server failed on a message ({type(e).__name__})"
            self._app.hub.reject("server_error", detail, "http")
            self._reply(500, {"error": "the server failed on this message; see its log"})
        else:
            # the hot path: a preformatted body (a phone posts several times a second)
            body = _ACCEPTED[result.duplicate] % result.readings
            self._answer(200, "application/json", body, None)

    def on_connection_close(self) -> None:
        self._chunks = []

    def _reply(self, status: int, body: dict[str, Any], retry_after: str | None = None) -> None:
        extra = {"Retry-After": retry_after} if retry_after else {}
        self._answer(status, "application/json", orjson.dumps(body), extra)

    def _answer(
        self, status: int, content_type: str, body: bytes, extra: dict[str, str] | None
    ) -> None:
        """Send the whole response; ``extra`` None is the accepted answer (cacheable: no
        ``Cache-Control``)."""
        headers = tornado.httputil.HTTPHeaders()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(body))
        headers["Date"] = _http_date()
        if extra is not None:
            headers["Cache-Control"] = "no-store"
            for name, value in extra.items():
                headers[name] = value
        reason = tornado.httputil.responses.get(status, "Unknown")
        start_line = tornado.httputil.ResponseStartLine("", status, reason)
        self._conn.write_headers(start_line, headers, b"" if self._head else body)
        self._conn.finish()
        self._log(status)

    def _log(self, status: int) -> None:
        """One access line as tornado's request handlers write it (for an accepted post only
        at debug level: ``serve`` quiets tornado's access log below warnings)."""
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        if access_log.isEnabledFor(level):
            ms = 1000 * (time.perf_counter() - self._start)
            ip = getattr(getattr(self._conn, "context", None), "remote_ip", "?")
            line = self._start_line
            summary = f"{line.method} {line.path[:200]}" if line is not None else "?"
            access_log.log(level, "%d %s (%s) %.2fms", status, summary, ip, ms)


def _declared_length(headers: tornado.httputil.HTTPHeaders) -> int | None:
    length = headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _token_ok(token: str, headers: tornado.httputil.HTTPHeaders, path: str) -> bool:
    """The token as a bearer header, or as ``?token=`` in the URL (the last one given)."""
    header = headers.get("Authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not given and "?" in path:
        query = tornado.httputil.parse_qs_bytes(path.split("?", 1)[1], keep_blank_values=True)
        values = query.get("token")
        if values:
            given = tornado.escape.to_unicode(values[-1]).strip()
    return hmac.compare_digest(given.encode(), token.encode())


_date_cache: list[Any] = [0, ""]  # (second, its HTTP date)


def _http_date() -> str:
    """The ``Date`` header, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, tornado.httputil.format_timestamp(now)]
    return _date_cache[1]
