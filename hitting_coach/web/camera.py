"""The camera page and its video: recorded in the browser, kept beside the sensors' session.

Every route here is behind the dashboard login (:class:`~hitting_coach.web.app.LoginRequired`:
from this server's own pages, by a logged-in user) but ``camera.js``, which holds no data:

- ``GET /sensor/camera``: the page (``camera.html`` and ``camera.js`` beside this module);
- ``GET /sensor/camera/time``: the server's clock, for the page's NTP-style offset;
- ``POST /sensor/camera/start`` (JSON): a new video of the device's current session; its id;
- ``POST /sensor/camera/chunk?video=&session=&seq=&end_ns=`` (the chunk's bytes as the browser
  recorded them, ``Content-Type: video/webm`` or ``video/mp4``): appended and fsynced before
  the 200 (:class:`~hitting_coach.store.video.VideoStore`);
- ``GET /sensor/video/<id>?upto=N``: a video (its first ``N`` bytes; default all that was
  acknowledged), with byte ranges (a clip is a media fragment of it, ``#t=start,end``), as a copy browsers can seek in (:func:`~hitting_coach.store.video.seekable_file`);
- ``GET /sensor/clips.json?device=D``: each live swing of ``D`` with its clip.
"""

from __future__ import annotations

import re
import time
from importlib.resources import files
from typing import Protocol

import orjson
import tornado.ioloop
import tornado.iostream
import tornado.web

from hitting_coach.store.video import (
    CLIP_AFTER_S,
    CLIP_BEFORE_S,
    VideoError,
    VideoStore,
    seekable_file,
    swing_clips,
)
from hitting_coach.web.app import App, AppHandler, LoginRequired

__all__ = [
    "CameraApp",
    "CameraPage",
    "CameraScript",
    "ChunkHandler",
    "ClipsHandler",
    "StartHandler",
    "TimeHandler",
    "VideoHandler",
    "video_store",
]

_PAGE = files("hitting_coach.web").joinpath("camera.html")
_SCRIPT = files("hitting_coach.web").joinpath("camera.js")


class _Clock(Protocol):
    def device_clock(self, device_id: str) -> tuple[int, str | None]: ...


class CameraApp(App, Protocol):
    """What the camera routes need beside :class:`App`: the recorder, which knows each
    device's current session."""

    recorder: _Clock


def video_store(app: App) -> VideoStore:
    """The app's video store, made once from its settings."""
    store = getattr(app, "_video_store", None)
    if store is None:
        s = app.settings
        store = VideoStore(
            s.data_path,
            session_budget_bytes=s.video_session_mb * 1_000_000,
            total_budget_bytes=s.video_total_mb * 1_000_000,
            max_chunk_bytes=s.video_chunk_bytes,
        )
        app._video_store = store  # type: ignore[attr-defined]
    return store


class CameraPage(LoginRequired):
    """The page; with a login, a browser not logged in is sent to the login page (as the
    Panel pages do) rather than given the JSON 401 of the data routes."""

    async def prepare(self) -> None:
        provider = getattr(self.application, "auth_provider", None)
        login_url = getattr(provider, "login_url", None)
        if login_url and self.same_origin():
            if getattr(provider, "get_user_async", None) is not None:
                user = await provider.get_user_async(self)
            else:
                user = provider.get_user(self) if provider.get_user is not None else True
            if not user:
                self.redirect(login_url)
                return
        await super().prepare()

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.read_bytes())


class CameraScript(AppHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(_SCRIPT.read_bytes())


class TimeHandler(LoginRequired):
    """``{"server_ns": N}``, read as late as possible before the answer goes out."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(b'{"server_ns":%d}' % time.time_ns())


class StartHandler(LoginRequired):
    """A new video: ``{"device", "type", "started_ns", "clock": {...}, "camera": {...}}``
    (``started_ns`` the server time of the recording's start, as the page measures it);
    answers ``{"video", "device", "session"}``. 409 when the device streams no session."""

    app: CameraApp

    def post(self) -> None:
        try:
            doc = orjson.loads(self.request.body)
            device = str(doc["device"])
            content_type = str(doc["type"])
            started_ns = int(doc["started_ns"])
            clock = dict(doc.get("clock") or {})
            camera = dict(doc.get("camera") or {})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.reply(
                400,
                {"error": "send JSON with device, type and started_ns", "reason": "bad_request"},
            )
            return
        session = self.app.recorder.device_clock(device)[1]
        if session is None:
            self.reply(
                409,
                {
                    "error": f"no sensors are streaming from {device[:100]!r}: start Sensor "
                    "Logger on the hitter's phone first",
                    "reason": "not_streaming",
                    "field": "device",
                },
            )
            return
        clock = {k: clock[k] for k in ("offset_ms", "rtt_ms", "samples") if k in clock}
        camera = {k: camera[k] for k in ("width", "height", "fps", "facing") if k in camera}
        try:
            video = video_store(self.app).create(
                device, session, content_type, started_ns, clock, camera
            )
        except VideoError as e:
            self.reply(e.status, {"error": str(e), "reason": e.reason, "field": e.field})
            return
        self.reply(200, {"video": video.video_id, "device": device, "session": session})


@tornado.web.stream_request_body
class ChunkHandler(LoginRequired):
    """One chunk of a video; refused from its headers when it is too big or not video."""

    body_unread = True  # until post(): see AppHandler.body_unread

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished:
            return
        store = video_store(self.app)
        self._parts: list[bytes] = []
        self._size = 0
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > store.max_chunk_bytes:
            self.reply(
                413,
                {
                    "error": f"a chunk of {length} bytes is over the limit of "
                    f"{store.max_chunk_bytes} (HITTING_COACH_VIDEO_CHUNK_BYTES)",
                    "reason": "too_large",
                    "field": "body",
                },
            )
            return
        self.request.connection.set_max_body_size(store.max_chunk_bytes)

    def data_received(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    async def post(self) -> None:
        self.body_unread = False
        try:
            seq = int(self.get_query_argument("seq"))
            end_ns = int(self.get_query_argument("end_ns"))
            video = self.get_query_argument("video")
            session = self.get_query_argument("session")
        except (tornado.web.MissingArgumentError, ValueError):
            self.reply(
                400,
                {
                    "error": "give video, session, seq and end_ns (integers) in the URL",
                    "reason": "bad_request",
                },
            )
            return
        data = b"".join(self._parts)
        self._parts = []
        content_type = self.request.headers.get("Content-Type", "")
        store = video_store(self.app)
        loop = tornado.ioloop.IOLoop.current()
        try:
            result = await loop.run_in_executor(
                None, store.append, video, session, seq, content_type, data, end_ns
            )
        except VideoError as e:
            self.reply(e.status, {"error": str(e), "reason": e.reason, "field": e.field})
            return
        except OSError as e:  # not on disk: the page keeps the chunk and sends it again
            self.set_header("Retry-After", "5")
            self.reply(503, {"error": f"video not written: {e.strerror}", "reason": "not_recorded"})
            return
        self.reply(200, result)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_PIECE = 1 << 18


class VideoHandler(LoginRequired):
    """A stored video, as much of it as was acknowledged, with byte ranges."""

    async def get(self, video_id: str) -> None:
        video = video_store(self.app).find(video_id)
        if video is None:
            self.reply(404, {"error": "no such video", "field": "video"})
            return
        try:
            upto = int(self.get_query_argument("upto", str(video.size)))
        except ValueError:
            upto = -1
        if not 0 < upto <= video.size:
            self.reply(404, {"error": f"video {video_id} has no {upto} bytes", "field": "upto"})
            return
        loop = tornado.ioloop.IOLoop.current()
        file = await loop.run_in_executor(None, seekable_file, video, upto)
        size = upto if file == video.file else file.stat().st_size
        start, end = 0, size - 1
        header = self.request.headers.get("Range")
        if header:
            m = _RANGE.match(header.strip())
            if m is None or (not m.group(1) and not m.group(2)):
                self.set_header("Content-Range", f"bytes */{size}")
                self.reply(416, {"error": "one byte range, please"})
                return
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start = max(0, size - int(m.group(2)))
            if start >= size or start > end:
                self.set_header("Content-Range", f"bytes */{size}")
                self.reply(416, {"error": "range outside the video"})
                return
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.set_header("Content-Type", str(video.meta["content_type"]).split(";")[0])
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Cache-Control", "private, no-store")
        self.set_header("Content-Length", str(end - start + 1))
        # in pieces, each flushed before the next is read: a whole take is never in memory
        with open(file, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                piece = f.read(min(_PIECE, left))
                if not piece:
                    break
                left -= len(piece)
                self.write(piece)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return  # the browser went away (a seek): it asks again with a new range
        self.finish()


class ClipsHandler(LoginRequired):
    """``{"device", "before_s", "after_s", "swings": [{swing, session_id, peak_ns, clip}]}``."""

    def get(self) -> None:
        device = self.get_query_argument("device", "")
        rows = self.app.live_swings(device)
        if rows is None:
            self.reply(
                404, {"error": f"no device {device[:100]!r} is streaming", "field": "device"}
            )
            return
        clips = swing_clips(self.app.settings.data_path, device, rows)
        body = {"device": device, "before_s": CLIP_BEFORE_S, "after_s": CLIP_AFTER_S}
        self.reply(200, {**body, "swings": clips})
