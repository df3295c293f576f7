"""Issue 27: each swing's clip beside its numbers on the sessions page and in the report, a
swing marked "not a swing" left out; a session without video shows no clips."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil

import av
import numpy as np
import pytest

from hitting_coach.analysis.corrections import session_swings
from hitting_coach.store.marks import mark_not_swing
from hitting_coach.store.video import CLIP_AFTER_S, CLIP_BEFORE_S, VideoStore, read_videos
from hitting_coach.ui.sessions_page import SessionsPage

SESSION = ("phone-1", "sim-swings")
FPS = 20


def webm(seconds: float, fps: int = FPS, width: int = 160, height: int = 120) -> bytes:
    """A real VP8 WebM, each frame a different grey (libvpx's default key frame spacing: few
    key frames, as a browser records)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            image = np.full((height, width, 3), (i * 7) % 256, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture
def with_video(recorded_swings, tmp_path):
    """The recorded session with a 20 s video from 4 s before its third swing's peak, stored
    as the camera page stores one (two chunks), and its fourth swing marked "not a swing":
    ``(data dir, video, peaks of the swings the video shows, the marked swing's peak)``."""
    source, _ = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    table = session_swings(SESSION, data)
    peaks = [int(p) for p in table["hand_peak_ns"]]
    started = peaks[2] - 4 * 10**9
    end = started + 20 * 10**9
    store = VideoStore(
        data, session_budget_bytes=10**9, total_budget_bytes=10**9, max_chunk_bytes=10**8
    )
    video = store.create(*SESSION, "video/webm", started, {}, {})
    body = webm(20)
    half = len(body) // 2
    store.append(video.video_id, SESSION[1], 0, "video/webm", body[:half], started + 10**10)
    store.append(video.video_id, SESSION[1], 1, "video/webm", body[half:], end)
    shown = [p for p in peaks if started <= p <= end]
    assert len(shown) >= 3
    marked = shown[1]
    mark_not_swing(SESSION, marked, data_dir=data)
    return data, read_videos(data)[0], shown, marked


def window(video, peak_ns: int) -> tuple[float, float]:
    t = (peak_ns - video.started_ns) / 1e9
    return max(0.0, t - CLIP_BEFORE_S), min(video.duration_s, t + CLIP_AFTER_S)


def test_the_sessions_page_shows_each_swing_clip_but_not_a_marked_one(with_video):
    data, video, shown, marked = with_video
    text = SessionsPage(data).sessions()
    found = re.findall(
        r'<figure class="hc-clip" data-swing="(\d+)"><video preload="none" controls loop muted '
        r'playsinline src="([^"]+)"></video><figcaption>(.*?)</figcaption>',
        text,
    )
    kept = [p for p in shown if p != marked]
    assert f"Swing clips ({len(kept)})" in text
    assert len(found) == len(kept)
    for (_, src, caption), peak in zip(found, kept, strict=True):
        src = html.unescape(src)
        assert src.startswith(f"/sensor/video/{video.video_id}?upto={video.size}#t=")
        start, end = (float(x) for x in src.rsplit("#t=", 1)[1].split(","))
        want = window(video, peak)
        assert start == pytest.approx(want[0], abs=0.002)
        assert end == pytest.approx(want[1], abs=0.002)
        assert "peak hand speed" in caption and "°/s" in caption  # its numbers beside it
    numbers = [int(n) for n, _, _ in found]
    assert len(set(numbers)) == len(numbers)
    # no clip is centred on the swing marked "not a swing"
    marked_t = (marked - video.started_ns) / 1e9
    for _, src, _ in found:
        start = float(html.unescape(src).rsplit("#t=", 1)[1].split(",")[0])
        assert abs(start + CLIP_BEFORE_S - marked_t) > 0.5


def test_a_session_without_video_shows_no_clips(recorded_swings, tmp_path):
    source, _ = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    text = SessionsPage(data).sessions()
    assert "swings" in text and "hc-clip" not in text.split("<style>")[-1].split("</style>")[-1]
    assert not list((data / "derived").rglob("*clips*"))


@pytest.mark.integration
def test_the_report_shows_a_still_per_swing_and_links_its_clip_beside_it(with_video, tmp_path):
    from hitting_coach.report import write_report

    data, video, shown, marked = with_video
    out = write_report(SESSION, tmp_path / "out" / "report.html", data_dir=data)
    # the report's HTML holds Panel's pane escaped, in its document's JSON
    text = html.unescape(out.read_text(encoding="utf-8"))
    figures = re.findall(
        r'<figure class="hc-rclip" data-swing="(\d+)"><img alt="[^"]*" '
        r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)">.*?<a class="hc-clip-file" '
        r'href="([^"]+)">',
        text,
    )
    kept = [p for p in shown if p != marked]
    assert len(figures) == len(kept)
    for (_, still, href), peak in zip(figures, kept, strict=True):
        with av.open(io.BytesIO(base64.b64decode(still))) as image:
            frame = next(image.decode(video=0))
            assert (frame.width, frame.height) == (160, 120)
            # frame i of the video is grey (7 i) % 256: this is the frame at the swing's peak
            grey = float(frame.to_ndarray(format="rgb24").mean())
            want = (round((peak - video.started_ns) / 1e9 * FPS) * 7) % 256
            assert min(abs(grey - want), 256 - abs(grey - want)) < 3.5, (grey, want)
        clip = out.parent / html.unescape(href)
        assert clip.parent == out.parent / "report-clips" and clip.is_file()
        start, end = window(video, peak)
        with av.open(str(clip)) as played:
            frames = [f.time for f in played.decode(video=0)]
            assert played.duration / 1e6 == pytest.approx(end - start, abs=0.1)
        assert len(frames) == pytest.approx((end - start) * FPS, abs=2)


@pytest.mark.integration
def test_the_clips_fit_a_phone_with_no_sideways_scroll(with_video, browser, tmp_path):
    data, _, shown, marked = with_video
    path = tmp_path / "sessions.html"
    path.write_text(SessionsPage(data).sessions(), encoding="utf-8")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        page.locator(".hc-clips summary").click()
        videos = page.locator(".hc-clip video")
        assert videos.count() == len(shown) - 1
        assert all(videos.nth(i).is_visible() for i in range(videos.count()))
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " Math.max(...[...document.querySelectorAll('.hc-clip')].map("
            "e => e.getBoundingClientRect().right))]"
        )
        assert widths[0] <= widths[1] == 390 and widths[2] <= 390, widths
    finally:
        context.close()
