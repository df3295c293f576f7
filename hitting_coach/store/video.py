"""The camera page's video, kept beside the session it was recorded with.

A browser (``/sensor/camera``) records with MediaRecorder and uploads what it records in short
chunks; each is appended to its video's file, fsynced, and only then acknowledged (as a sensor
message is answered only once it is in the journal). On disk::

    sessions/device=<d>/session=<s>/video=<id>/
      video.webm | video.mp4   the chunks as the browser made them, in order (no re-encoding)
      chunks.jsonl             one line per chunk: seq, offset, bytes, server time it ended
      meta.json                who recorded it, when its time 0 was (server clock), the page's
                               clock offset and round trip, the camera's size and rate

``<id>`` is ``secrets.token_urlsafe(16)``: a link to a video cannot be guessed. A crash between
the video's write and its index line leaves bytes past the index's end: they are never served
and are cut off before the next chunk is appended.

Times: the video's second ``t`` is server time ``started_ns + t * 1e9``. Sensor times are the
phone's epoch clock (Sensor Logger); they are taken as server times, so a swing's clip is
``started_ns`` subtracted from its peak (:func:`clip_window`).

Budget: every video counts against its session's budget and the total budget; a chunk that
would go over first prunes the oldest other video (of the session, then anywhere), never a
sensor reading; if the video being recorded alone is over, the chunk is refused.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from hitting_coach.store.layout import AUDIT, SESSIONS, read_meta, session_dir, write_json

__all__ = [
    "CLIP_AFTER_S",
    "CLIP_BEFORE_S",
    "Video",
    "VideoError",
    "VideoStore",
    "clip_window",
    "cut_clip",
    "has_video",
    "still_jpeg",
    "is_video_id",
    "peak_of",
    "swing_clips",
    "read_videos",
    "seekable_file",
    "video_file_type",
]

log = logging.getLogger(__name__)

#: A swing's clip: this long before its peak ...
CLIP_BEFORE_S = 1.5
#: ... to this long after.
CLIP_AFTER_S = 1.0

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: The containers browsers record (MediaRecorder), by the start of their type.
TYPES = {"video/webm": "webm", "video/mp4": "mp4"}
_INDEX = "chunks.jsonl"
_META = "meta.json"


class VideoError(Exception):
    """A chunk or video refused: ``status`` is the HTTP answer, ``reason`` a short code and
    ``field`` what was wrong."""

    def __init__(self, status: int, reason: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.reason, self.field = status, reason, field


def is_video_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def video_file_type(content_type: str) -> str | None:
    """``webm`` or ``mp4`` for a browser's recording type (``video/webm;codecs=vp8``); None
    for anything else."""
    base = content_type.split(";", 1)[0].strip().lower()
    return TYPES.get(base)


def _looks_like(kind: str, data: bytes) -> bool:
    """The first chunk starts as its container does (EBML header; an ISO ``ftyp`` box)."""
    if kind == "webm":
        return data[:4] == b"\x1a\x45\xdf\xa3"
    return data[4:8] == b"ftyp"


@dataclass(frozen=True, slots=True)
class Video:
    """One stored video: its folder, what ``meta.json`` says, and its indexed length."""

    path: Path
    meta: dict[str, Any]
    size: int  # bytes acknowledged (the index's end)
    chunks: int
    end_ns: int | None  # server time of the last chunk's end

    @property
    def video_id(self) -> str:
        return str(self.meta["video_id"])

    @property
    def device_id(self) -> str:
        return str(self.meta["device_id"])

    @property
    def session_id(self) -> str:
        return str(self.meta["session_id"])

    @property
    def started_ns(self) -> int:
        return int(self.meta["started_ns"])

    @property
    def file(self) -> Path:
        return self.path / f"video.{self.meta['kind']}"

    @property
    def disk_bytes(self) -> int:
        """What its folder holds on disk (the recording, and its seekable copy)."""
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    @property
    def duration_s(self) -> float:
        return 0.0 if self.end_ns is None else max(0.0, (self.end_ns - self.started_ns) / 1e9)


def _read_index(path: Path) -> tuple[int, int, int | None, int]:
    """``(acknowledged bytes, chunks, last end_ns, next seq)`` from a video's index."""
    try:
        lines = (path / _INDEX).read_bytes().splitlines()
    except FileNotFoundError:
        return 0, 0, None, 0
    size, count, end_ns, seq = 0, 0, None, 0
    for line in lines:
        try:
            doc = orjson.loads(line)
            size = int(doc["offset"]) + int(doc["bytes"])
            end_ns, seq = int(doc["end_ns"]), int(doc["seq"]) + 1
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            break  # a line cut short by a crash: its chunk was never acknowledged
        count += 1
    return size, count, end_ns, seq


def _load(path: Path) -> Video | None:
    meta = read_meta(path) if (path / _META).is_file() else {}
    if not meta.get("video_id") or meta.get("kind") not in TYPES.values():
        return None
    size, count, end_ns, _ = _read_index(path)
    return Video(path, meta, size, count, end_ns)


def read_videos(
    data_dir: Path, device_id: str | None = None, session_id: str | None = None
) -> list[Video]:
    """Every stored video (of ``device_id``'s sessions only, or only of its ``session_id``,
    if given), oldest first."""
    root = Path(data_dir) / SESSIONS
    pattern = "device=*/session=*/video=*"
    if device_id is not None:
        pattern = session_dir(Path(data_dir), device_id, "x").parent.name + "/session=*/video=*"
        if session_id is not None:
            sdir = session_dir(Path(data_dir), device_id, session_id)
            pattern = f"{sdir.parent.name}/{sdir.name}/video=*"
    found = [v for p in root.glob(pattern) if (v := _load(p)) is not None]
    return sorted(found, key=lambda v: (int(v.meta.get("created_ns", 0)), v.video_id))


#: Seekable copies kept per video (a page may still be playing an older one).
KEEP_COPIES = 2


def seekable_file(video: Video, upto: int | None = None) -> Path:
    """The video's first ``upto`` bytes (default: all acknowledged) as browsers can seek in
    them: MediaRecorder writes WebM without a duration or an index (cues), and Chromium cannot
    seek to its last seconds; this copy has both, remuxed by PyAV (FFmpeg) with the packets
    unchanged (no re-encoding). Made when first asked for (``seekable-<upto>.<kind>`` beside
    the recording, the newest :data:`KEEP_COPIES` kept): a clip's URL names its ``upto``, so
    the bytes of one URL never change while a browser reads them in ranges. The recording
    itself if it cannot be remuxed."""
    upto = video.size if upto is None else min(upto, video.size)
    kind = video.meta["kind"]
    path = video.path / f"seekable-{upto}.{kind}"
    if path.is_file() or upto == 0:
        return path if path.is_file() else video.file
    import av  # FFmpeg's libraries: imported by the first clip asked for, not at start-up

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with (
            open(video.file, "rb") as raw,
            av.open(_Head(raw, upto), "r") as src,
            av.open(str(tmp), "w", format="webm" if kind == "webm" else "mp4") as dst,
        ):
            stream = src.streams.video[0]
            out = dst.add_stream_from_template(stream)
            try:
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.stream = out
                    dst.mux(packet)
            except av.error.InvalidDataError:
                pass  # a cluster cut short at the end: what came before it is kept
        os.replace(tmp, path)
    except (OSError, av.error.FFmpegError, IndexError) as e:
        tmp.unlink(missing_ok=True)
        log.warning("video %s could not be made seekable (%s): served as recorded", video, e)
        return video.file
    copies = sorted(video.path.glob(f"seekable-*.{kind}"), key=lambda p: p.stat().st_mtime)
    for old in copies[:-KEEP_COPIES]:
        old.unlink(missing_ok=True)
    return path


class _Head(io.RawIOBase):
    """The first ``size`` bytes of a file: what was acknowledged (a crash may have left more)."""

    def __init__(self, raw: Any, size: int) -> None:
        self.raw, self.size = raw, size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            return self.raw.seek(self.size + offset)
        return self.raw.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        left = self.size - self.raw.tell()
        if left <= 0:
            return 0
        view = memoryview(buffer)[:left]
        return self.raw.readinto(view)


def clip_window(video: Video, peak_ns: int) -> tuple[float, float] | None:
    """The seconds of ``video`` showing the swing that peaked at ``peak_ns`` (sensor time):
    :data:`CLIP_BEFORE_S` before to :data:`CLIP_AFTER_S` after, within what was recorded;
    None if the video does not show the peak."""
    t = (peak_ns - video.started_ns) / 1e9
    if t < 0 or t > video.duration_s:
        return None
    return max(0.0, t - CLIP_BEFORE_S), min(video.duration_s, t + CLIP_AFTER_S)


def peak_of(row: dict[str, Any]) -> int | None:
    """The moment a swing's clip is centred on: its hand peak, else pelvis, else bat."""
    for key in ("hand_peak_ns", "pelvis_peak_ns", "bat_peak_ns"):
        value = row.get(key)
        if value is not None and value == value:
            return int(value)
    return None


def has_video(data_dir: Path, device: str, session: str) -> bool:
    """Whether a session has a video folder (one directory listing: cheap enough for every
    card of the sessions page)."""
    try:
        with os.scandir(session_dir(Path(data_dir), device, session)) as entries:
            return any(e.name.startswith("video=") for e in entries)
    except OSError:
        return False


def swing_clips(
    data_dir: Path, device: str, rows: list[dict[str, Any]], session: str | None = None
) -> list[dict[str, Any]]:
    """Each swing (a row of the live swing table, or of a recorded session's with
    ``session``: only that session's videos then) with its clip: ``video`` (URL relative to
    ``/sensor/``, no fragment), ``start_s``/``end_s`` in that video, ``peak_s``, and ``marks``
    (the pelvis and hand peaks in the video's seconds); ``clip`` None when no video shows it."""
    videos = read_videos(data_dir, device, session)
    out = []
    for row in rows:
        peak = peak_of(row)
        clip = None
        for video in reversed(videos) if peak is not None else ():
            window = clip_window(video, peak)
            if window is None:
                continue
            t0 = video.started_ns
            marks = {
                name: round((int(row[key]) - t0) / 1e9, 3)
                for name, key in (("pelvis", "pelvis_peak_ns"), ("hand", "hand_peak_ns"))
                if row.get(key) is not None and row[key] == row[key]
            }
            clip = {
                "video": f"video/{video.video_id}?upto={video.size}",
                "video_id": video.video_id,
                "start_s": round(window[0], 3),
                "end_s": round(window[1], 3),
                "peak_s": round((peak - t0) / 1e9, 3),
                "marks": marks,
            }
            break
        out.append(
            {
                "swing": row.get("swing"),
                "session_id": row.get("session_id"),
                "peak_ns": peak,
                "clip": clip,
            }
        )
    return out


def _open_at(video: Video, start_s: float) -> tuple[Any, Any]:
    """``(container, stream)`` of the video's seekable copy, sought to the key frame at or
    before ``start_s``."""
    import av

    container = av.open(str(seekable_file(video)), "r")
    stream = container.streams.video[0]
    if start_s > 0 and stream.time_base:
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
    return container, stream


def _scaled(width: int, height: int, max_width: int) -> tuple[int, int]:
    """A size at most ``max_width`` wide, the same shape, even sides (as encoders want)."""
    if width <= max_width:
        return width - width % 2, height - height % 2
    h = round(height * max_width / width)
    return max_width - max_width % 2, max(2, h - h % 2)


def still_jpeg(video: Video, t_s: float, max_width: int = 320) -> bytes | None:
    """The frame of ``video`` shown at its second ``t_s`` (the first at or after it, less half
    a frame), at most ``max_width`` pixels wide, as JPEG bytes; None if none can be decoded."""
    import av

    try:
        container, stream = _open_at(video, t_s)
        with container:
            rate = float(stream.average_rate or 30)
            for frame in container.decode(stream):
                if frame.time is None or frame.time < t_s - 0.5 / rate:
                    continue
                w, h = _scaled(frame.width, frame.height, max_width)
                codec = av.CodecContext.create("mjpeg", "w")
                codec.width, codec.height, codec.pix_fmt = w, h, "yuvj420p"
                codec.time_base = Fraction(1, 25)
                image = frame.reformat(width=w, height=h, format="yuvj420p")
                packets = codec.encode(image) + codec.encode(None)
                return b"".join(bytes(p) for p in packets) or None
    except (OSError, av.error.FFmpegError, IndexError) as e:
        log.warning("no still of video %s at %.2f s: %s", video.video_id, t_s, e)
    return None


def cut_clip(
    video: Video, start_s: float, end_s: float, dest: Path, max_width: int = 480
) -> float | None:
    """Write the seconds ``start_s``..``end_s`` of ``video`` to ``dest`` (WebM, VP8, at most
    ``max_width`` wide); returns its duration in seconds, None if nothing could be decoded.

    A browser's recording has few key frames (Chromium's MediaRecorder: seconds apart), so a
    cut that copied packets would start at the key frame before ``start_s``, seconds early:
    the frames of the window are decoded and encoded again, by FFmpeg's libvpx through PyAV,
    scaled down (a 2.5 s clip at 480 px: tenths of a second)."""
    import av

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    wrote = 0
    try:
        container, stream = _open_at(video, start_s)
        rate = float(stream.average_rate or 30)
        with container, av.open(str(tmp), "w", format="webm") as out:
            enc = None
            last = start_s
            for frame in container.decode(stream):
                t = frame.time
                if t is None or t < start_s - 0.5 / rate:
                    continue
                if t >= end_s - 0.5 / rate:
                    break
                if enc is None:
                    w, h = _scaled(frame.width, frame.height, max_width)
                    enc = out.add_stream("libvpx", rate=Fraction(round(rate * 1000), 1000))
                    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
                    enc.time_base = Fraction(1, 1000)
                    enc.codec_context.time_base = Fraction(1, 1000)
                    enc.bit_rate = 1_000_000
                    # one thread, no look-ahead: libvpx's threads spin on a busy machine
                    # (a clip took seconds of CPU with them; 0.1-0.2 s without)
                    enc.options = {
                        "deadline": "realtime",
                        "cpu-used": "16",
                        "lag-in-frames": "0",
                        "threads": "1",
                    }
                image = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
                image.pts = round((max(t, start_s) - start_s) * 1000)
                image.time_base = Fraction(1, 1000)
                last = max(last, t)
                out.mux(enc.encode(image))
                wrote += 1
            if enc is not None:
                out.mux(enc.encode(None))
        if not wrote:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, dest)
    except (OSError, av.error.FFmpegError, IndexError) as e:
        tmp.unlink(missing_ok=True)
        log.warning("no clip of video %s at %.2f-%.2f s: %s", video.video_id, start_s, end_s, e)
        return None
    return min(end_s, last + 1 / rate) - start_s


class VideoStore:
    """Videos in ``data_dir``: created, appended to chunk by chunk (durably), found by id,
    pruned to the budgets. Thread-safe: one lock for appends (they are a few a second)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        session_budget_bytes: int,
        total_budget_bytes: int,
        max_chunk_bytes: int,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.session_budget = session_budget_bytes
        self.total_budget = total_budget_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self._lock = threading.Lock()
        self.pruned: list[str] = []  # ids of the videos pruned by this store (newest last)

    def find(self, video_id: str) -> Video | None:
        if not is_video_id(video_id):
            return None
        root = self.data_dir / SESSIONS
        for path in root.glob(f"device=*/session=*/video={video_id}"):
            return _load(path)
        return None

    def create(
        self,
        device_id: str,
        session_id: str,
        content_type: str,
        started_ns: int,
        clock: dict[str, Any],
        camera: dict[str, Any],
    ) -> Video:
        """A new, empty video of the session, its time 0 at ``started_ns`` (server clock)."""
        kind = video_file_type(content_type)
        if kind is None:
            raise VideoError(
                415,
                "wrong_type",
                f"{content_type[:80]!r} is not a video type this server keeps "
                "(video/webm or video/mp4)",
                "type",
            )
        # the session's folder may not be there yet: its readings reach Parquet a little later
        sdir = session_dir(self.data_dir, device_id, session_id)
        video_id = secrets.token_urlsafe(16)
        path = sdir / f"video={video_id}"
        path.mkdir(parents=True)
        meta = {
            "video_id": video_id,
            "device_id": device_id,
            "session_id": session_id,
            "kind": kind,
            "content_type": content_type[:120],
            "started_ns": int(started_ns),
            "created_ns": int(started_ns),
            "clock": clock,
            "camera": camera,
        }
        write_json(path / _META, meta)
        _fsync_dir(path)
        log.info("video %s started for %s/%s", video_id, device_id, session_id, extra=AUDIT)
        return Video(path, meta, 0, 0, None)

    def append(
        self,
        video_id: str,
        session_id: str,
        seq: int,
        content_type: str,
        data: bytes,
        end_ns: int,
    ) -> dict[str, Any]:
        """Append chunk ``seq`` of ``video_id`` (which ``session_id`` says it belongs to),
        fsynced before this returns. A chunk sent again (``seq`` already stored, same length)
        is acknowledged as a duplicate and not written twice. Raises :class:`VideoError`."""
        if not is_video_id(video_id):
            raise VideoError(400, "bad_id", f"{video_id[:80]!r} is not a video id", "video")
        if len(data) > self.max_chunk_bytes:
            raise VideoError(
                413,
                "too_large",
                f"a chunk of {len(data)} bytes is over the limit of {self.max_chunk_bytes} "
                "(HITTING_COACH_VIDEO_CHUNK_BYTES)",
                "body",
            )
        if not data:
            raise VideoError(400, "empty", "an empty chunk", "body")
        with self._lock:
            video = self.find(video_id)
            if video is None:
                raise VideoError(404, "no_video", f"no video {video_id[:80]!r}", "video")
            if session_id != video.session_id:
                raise VideoError(
                    409,
                    "wrong_session",
                    f"video {video_id} belongs to session {video.session_id!r}, "
                    f"not {session_id[:100]!r}",
                    "session",
                )
            kind = video_file_type(content_type)
            if kind != video.meta["kind"]:
                raise VideoError(
                    415,
                    "wrong_type",
                    f"{content_type[:80]!r} is not this video's type "
                    f"({video.meta['content_type']})",
                    "type",
                )
            size, _, _, expected = _read_index(video.path)
            if seq < expected:
                return {"ok": True, "seq": seq, "duplicate": True, "bytes": size}
            if seq > expected:
                raise VideoError(
                    409, "missing_chunk", f"chunk {expected} is missing; send it first", "seq"
                )
            if seq == 0 and not _looks_like(kind, data):
                raise VideoError(
                    415, "wrong_type", f"the first chunk is not a {kind} recording", "body"
                )
            self._make_room(video, len(data))
            self._write(video, size, seq, data, end_ns)
            return {"ok": True, "seq": seq, "duplicate": False, "bytes": size + len(data)}

    def _write(self, video: Video, size: int, seq: int, data: bytes, end_ns: int) -> None:
        fd = os.open(video.file, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, size)  # bytes a crash left past the last acknowledged chunk
            os.pwrite(fd, data, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        line = orjson.dumps({"seq": seq, "offset": size, "bytes": len(data), "end_ns": int(end_ns)})
        fd = os.open(video.path / _INDEX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if seq == 0:
            _fsync_dir(video.path)

    def _make_room(self, video: Video, adding: int) -> None:
        """Prune the oldest other videos until ``adding`` more bytes fit both budgets; refuse
        (507) when the video being recorded alone would be over one."""
        for scope, budget in (("session", self.session_budget), ("total", self.total_budget)):
            if video.size + adding > budget:
                raise VideoError(
                    507,
                    "video_budget",
                    f"this video reached the {scope} video budget ({budget // 1_000_000} MB, "
                    f"HITTING_COACH_VIDEO_{scope.upper()}_MB); start a new recording",
                    "budget",
                )
            others = read_videos(self.data_dir)
            if scope == "session":
                others = [
                    v
                    for v in others
                    if (v.device_id, v.session_id) == (video.device_id, video.session_id)
                ]
            used = sum(v.disk_bytes for v in others)  # the video itself is among them
            for old in others:
                if used + adding <= budget:
                    break
                if old.video_id == video.video_id:
                    continue
                freed = old.disk_bytes
                self.remove(old, f"the {scope} video budget ({budget // 1_000_000} MB)")
                used -= freed

    def remove(self, video: Video, why: str) -> None:
        """Delete one video's folder (its file, index and meta)."""
        shutil.rmtree(video.path, ignore_errors=True)
        self.pruned.append(video.video_id)
        log.warning(
            "video %s of %s/%s (%d bytes) removed: %s",
            video.video_id,
            video.device_id,
            video.session_id,
            video.size,
            why,
            extra=AUDIT,
        )


def _fsync_dir(path: Path) -> None:
    """A new file's name is durable once its directory (and the directory's) is fsynced."""
    for d in (path, path.parent):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
