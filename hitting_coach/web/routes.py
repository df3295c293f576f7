"""The server's route table, and its small JSON routes (status, metrics, readings, swings).

Every route of the server beside the Panel pages is listed in :func:`routes`; ``serve`` hands
them to Bokeh's server (``extra_patterns``), which prefixes each with ``--prefix``
(``/sensor``). Phones and nginx post to ``/data``: tornado routes are anchored regular
expressions, so the pattern ``/data$|/data`` becomes ``/sensor/data$|/data$`` once prefixed,
and both URLs reach POST /data.

To add a route, write its handler here (an :class:`~hitting_coach.web.app.AppHandler`:
``self.app`` is the server; a :class:`~hitting_coach.web.app.LoginRequired` when the dashboard
login should guard it) and add its line to :func:`routes`.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from hitting_coach.ingest.prometheus import prometheus_text
from hitting_coach.web import camera
from hitting_coach.web.app import App, AppHandler, LoginRequired
from hitting_coach.web.data import DataEndpoint
from hitting_coach.web.files import ExportHandler, ReportHandler
from hitting_coach.web.live import LiveSocket
from hitting_coach.web.login import FAVICON
from hitting_coach.web.pages import (
    ActionHandler,
    PlayerPageHandler,
    PlayersPageHandler,
    ReportStateHandler,
    SessionsPageHandler,
)

__all__ = [
    "MetricsHandler",
    "ReadingsHandler",
    "RootRedirect",
    "StatusHandler",
    "SwingsHandler",
    "routes",
]


class StatusHandler(AppHandler):
    """The hub's counters and every source's state, as JSON."""

    def get(self) -> None:
        self.reply(200, self.app.status())


class MetricsHandler(AppHandler):
    """The same counters in Prometheus' text format."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(prometheus_text(self.app.status()))


class ReadingsHandler(LoginRequired):
    """Read-only live readings for notebooks (:mod:`hitting_coach.client`).

    ``GET readings.json``: ``{"devices": {device: [sensor, ...]}}``.
    ``GET readings.json?device=D&sensor=S&cursor=N&last=M``: what the ring buffer got after
    ``cursor`` (at most the last ``M``, default and cap 20000), sorted by time, as
    ``{"columns", "time_ns", "values": {column: [...]}, "cursor", "missed"}``; pass the
    returned ``cursor`` back to get only what is new.
    """

    LIMIT = 20_000

    def get(self) -> None:
        hub = self.app.hub
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


class SwingsHandler(LoginRequired):
    """Read-only live swings, the coach's marks applied (login as for readings).

    ``GET swings.json``: ``{"devices": {device: number of swings}}``.
    ``GET swings.json?device=D``: ``{"device": D, "swings": [...]}``, oldest first (at most the
    last 500): one object per swing with the swing table's columns (null where not measured,
    times in epoch ns; ``swing`` its number in its session from 1, as on the dashboard and in
    the session's report, a swing the coach added numbered after the detected ones),
    ``found_ns``, ``session_id``, ``added_by_coach`` and ``mark_id``. 404 for an unknown device.
    """

    def get(self) -> None:
        app = self.app
        device = self.get_query_argument("device", "")
        if not device:
            devices = app.hub.devices()
            self.reply(200, {"devices": {d: len(app.live_swings(d) or ()) for d in devices}})
            return
        rows = app.live_swings(device)
        if rows is None:
            self.reply(
                404, {"error": f"no device {device[:100]!r} is streaming", "field": "device"}
            )
            return
        self.reply(200, {"device": device, "swings": rows})


class RootRedirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect("/sensor/")


def routes(app: App) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every route of ``app``'s server but the Panel pages, as tornado ``(pattern, handler,
    kwargs)`` (Bokeh's ``extra_patterns``: each is prefixed with ``--prefix``)."""
    kwargs = {"app": app}
    return [
        (r"/session_report.html", ReportHandler, kwargs),
        (r"/session_export.zip", ExportHandler, kwargs),
        (r"/data$|/data", DataEndpoint(app), {}),
        (r"/status.json", StatusHandler, kwargs),
        (r"/metrics", MetricsHandler, kwargs),
        (r"/readings.json", ReadingsHandler, kwargs),
        (r"/swings.json", SwingsHandler, kwargs),
        (r"$|/", RootRedirect, {}),
        (r"/live\.ws", LiveSocket, kwargs),
        # the server's own pages (web/pages.py)
        (r"/sessions", SessionsPageHandler, kwargs),
        (r"/sessions/report_state\.json", ReportStateHandler, kwargs),
        (r"/sessions/(rename|delete|report)", ActionHandler, kwargs),
        (r"/players/(name)", ActionHandler, kwargs),
        (r"/players", PlayersPageHandler, kwargs),
        (r"/player", PlayerPageHandler, kwargs),
        # a browser asks every page's folder for favicon.ico: Panel's own, on this server
        (r"/favicon\.ico", tornado.web.RedirectHandler, {"url": FAVICON, "permanent": True}),
        *camera_routes(kwargs),
    ]


def camera_routes(kwargs: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """The camera page and its video (:mod:`hitting_coach.web.camera`)."""
    return [
        (r"/camera", camera.CameraPage, kwargs),
        (r"/camera\.js", camera.CameraScript, kwargs),
        (r"/camera/time", camera.TimeHandler, kwargs),
        (r"/camera/start", camera.StartHandler, kwargs),
        (r"/camera/chunk", camera.ChunkHandler, kwargs),
        (r"/video/([A-Za-z0-9_-]{16,64})", camera.VideoHandler, kwargs),
        (r"/clips\.json", camera.ClipsHandler, kwargs),
    ]
