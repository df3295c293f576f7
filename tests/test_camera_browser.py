"""Issue 27: the camera page in Chromium with a fake camera, against a real server a simulated
phone streams to.

The fake camera plays a Y4M file in which frame ``k`` shows ``k`` as a bar code
(:func:`counter_y4m`): while the page records, the test logs every frame the live preview
presents (its number and capture time, from ``requestVideoFrameCallback``), put on the
server's clock by its own quickest round trip to the page; then it reads the recorded video at
the seconds ``clips.json`` gives for each detected swing, and checks that the video there shows
the frames the camera captured at those sensor times. The page's clock is set an hour (and 123.4 ms) off the server's: what it
stamps is only right if its clock offset is measured.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from hitting_coach.sim.devices import SwingSpec
from hitting_coach.sim.simulate import iter_messages, simulate
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess, get_json, wait_for

pytestmark = pytest.mark.integration

DEVICE = "camera-test-phone"
SESSION = "camera-take-1"
FPS = 30
W, H, BITS = 160, 120, 12
#: The clip check's tolerance, what README and docs/benchmarks.md state as the sync error
#: (two frames at 30 frames/s: see the measured figures there).
SYNC_ERROR_S = 0.067
#: Any single checked frame: the recorder drops frames when its encoder falls behind.
DROPPED_S = 0.2
#: The page's clock, off the server's by this much (init script below).
SKEW_MS = -3_600_000 + 123.4


def counter_y4m(path: Path, frames: int) -> Path:
    """A Y4M video for ``--use-file-for-fake-video-capture``: frame ``k`` is ``BITS`` vertical
    bars, white for the set bits of ``k`` (bit 0 leftmost), on black."""
    stripe = W // BITS
    uv = np.full((H // 2) * (W // 2), 128, np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            y = np.full((H, W), 16, np.uint8)
            for b in range(BITS):
                if (k >> b) & 1:
                    y[:, b * stripe : (b + 1) * stripe] = 235
            f.write(b"FRAME\n" + y.tobytes() + uv + uv)
    return path


# In the page: the frame number a video element shows now.
READ_FRAME = f"""(el) => {{
  const c = document.createElement('canvas'); c.width = {W}; c.height = {H};
  const g = c.getContext('2d'); g.drawImage(el, 0, 0, {W}, {H});
  const d = g.getImageData(0, 0, {W}, {H}).data; const sw = Math.floor({W} / {BITS});
  let k = 0;
  for (let b = 0; b < {BITS}; b++) {{
    const x = b * sw + Math.floor(sw / 2); let s = 0;
    for (let y = 20; y < 100; y += 10) s += d[(y * {W} + x) * 4];
    if (s / 8 > 128) k |= 1 << b;
  }}
  return k;
}}"""
# In the page: the frame numbers of a stored video at the given seconds.
READ_VIDEO = """async ([url, times]) => {
  const v = document.createElement('video'); v.muted = true; v.src = url;
  document.body.appendChild(v);
  await new Promise((ok, err) => { v.onloadeddata = ok; v.onerror = () => err(v.error.message); });
  const out = [];
  for (const t of times) {
    v.currentTime = t; await new Promise((ok) => { v.onseeked = ok; });
    // 'seeked' can come before the frame is on screen (a seek far from a key frame decodes
    // many frames): read it once it is presented and two reads 50 ms apart agree
    await Promise.race([
      new Promise((ok) => v.requestVideoFrameCallback(ok)),
      new Promise((ok) => setTimeout(ok, 1000)),
    ]);
    let k = (READ_FRAME)(v);
    for (let i = 0; i < 40; i++) {
      await new Promise((ok) => setTimeout(ok, 50));
      const again = (READ_FRAME)(v);
      if (again === k) break;
      k = again;
    }
    out.push(k);
  }
  v.remove();
  return out;
}""".replace("READ_FRAME", READ_FRAME)
# In the page: log [page time, frame number] of every frame the preview presents.
LOG_FRAMES = """(v) => {
  window.__frames = [];
  const seen = (now, m) => {
    const t = performance.timeOrigin;
    window.__frames.push([t + m.captureTime, (READ_FRAME)(v), t + m.presentationTime]);
    v.requestVideoFrameCallback(seen);
  };
  v.requestVideoFrameCallback(seen);
}""".replace("READ_FRAME", READ_FRAME)
SKEW = f"""(() => {{
  const real = performance.timeOrigin;
  Object.defineProperty(Performance.prototype, 'timeOrigin', {{get: () => real + ({SKEW_MS})}});
}})();"""


@pytest.fixture
def camera(browser, tmp_path):
    """A Chromium whose camera is the frame-counter video, and its page factory."""
    y4m = counter_y4m(tmp_path / "counter.y4m", 40 * FPS)
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    contexts = []

    def open_page(url: str):
        context = chromium.new_context()
        context.add_init_script(SKEW)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    chromium.close()


def page_offset_ns(page, rounds: int = 15) -> tuple[int, int]:
    """``(server time - page time, round trip)`` in ns, from the quickest of ``rounds`` reads
    of the page's clock (this test and the server share a clock)."""
    best = None
    for _ in range(rounds):
        before = time.time_ns()
        page_ms = page.evaluate("performance.timeOrigin + performance.now()")
        after = time.time_ns()
        sample = ((before + after) // 2 - round(page_ms * 1e6), after - before)
        if best is None or sample[1] < best[1]:
            best = sample
    return best


class Phone(threading.Thread):
    """Posts a simulated take in real time (each message when the app would send it), until
    the take ends or :attr:`done` is set (the phone stops sending)."""

    def __init__(self, server: ServerProcess, sim, start_ns: int) -> None:
        super().__init__(daemon=True)
        self.url = server.base + "/data"
        self.messages = list(
            iter_messages(sim.frames, device_id=DEVICE, session_id=SESSION, t0_ns=start_ns)
        )
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for send_at, message in self.messages:
                if self.done.wait(max(0.0, (send_at - time.time_ns()) / 1e9)):
                    return
                for _ in range(60):  # the server may be restarting: send again, as the app does
                    try:
                        r = client.post(self.url, json=message)
                        break
                    except httpx.TransportError:
                        time.sleep(0.25)
                else:
                    self.failures.append(f"message {message['messageId']} never got through")
                    continue
                if r.status_code != 200:
                    self.failures.append(r.text)


def start_recording(page) -> None:
    page.wait_for_function("() => window.__hc_camera && window.__hc_camera.camera", timeout=20000)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#device option')].some(o => o.value === '{DEVICE}')",
        timeout=20000,
    )
    page.select_option("#device", DEVICE)
    page.click("#record")
    try:
        page.wait_for_function("() => window.__hc_camera.video", timeout=20000)
    except Exception:
        raise AssertionError(f"no video: {page.evaluate('window.__hc_camera')}") from None


def stored(server: ServerProcess) -> list[Path]:
    return sorted((server.workdir / "data" / "sessions").glob("device=*/session=*/video=*"))


def test_the_camera_records_a_take_and_each_swing_s_clip_shows_its_sensor_times(camera, tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        _record_a_take_then_restart(camera, tmp_path, server)
    finally:
        server.stop()  # (stopped already unless the take's checks failed)


def _record_a_take_then_restart(camera, tmp_path, server: ServerProcess) -> None:
    # a 16 s take with swings (foot plant) at 6 s and 11 s, streamed live from 1 s from now
    start_ns = time.time_ns() + 1_000_000_000
    sim = simulate(
        "pelvis+wrist",
        duration_s=16.0,
        swings=[SwingSpec(6.0), SwingSpec(11.0)],
        rate_hz=100,
        seed=3,
        start_ns=start_ns,
    )
    phone = Phone(server, sim, start_ns)
    phone.start()
    page = camera(server.base + "/sensor/camera")
    start_recording(page)
    state = page.evaluate("window.__hc_camera")
    # the page's clock is an hour off; the offset it measured says so, to its round trip
    offset_error_ms = state["clock"]["offset_ms"] + SKEW_MS
    print(f"clock offset error {offset_error_ms:.2f} ms, round trip {state['clock']['rtt_ms']:.1f}")
    assert abs(offset_error_ms) < state["clock"]["rtt_ms"] / 2 + 1
    assert page.inner_text("#camera").startswith(f"camera: {W}×{H} at {FPS}")
    # the camera's frame number at known server times, until the take ends
    # the frame the preview shows, each time it shows a new one, on the page's (skewed) clock;
    # put on the server's clock by the test's own round trips to the page (not the page's)
    preview = page.locator("#preview")
    preview.evaluate(LOG_FRAMES)
    page_clock = [page_offset_ns(page)]
    time.sleep(max(0.0, (start_ns + 16.5e9 - time.time_ns()) / 1e9))
    page_clock.append(page_offset_ns(page))
    shown_at = page.evaluate("window.__frames")
    page.click("#record")  # stop
    page.wait_for_function(
        "() => !window.__hc_camera.recording && window.__hc_camera.queued === 0"
        " && window.__hc_camera.acked === window.__hc_camera.made",
        timeout=20000,
    )
    phone.join(30)
    assert not phone.failures, phone.failures[:3]
    made = page.evaluate("window.__hc_camera.made")
    assert made >= 10  # one chunk a second, from the moment Record was pressed

    # the chunks landed: one video of the take's session, as many chunks as the page made
    (folder,) = stored(server)
    assert folder.parent.name == f"session={SESSION}"
    assert len((folder / "chunks.jsonl").read_text().splitlines()) == made
    video_bytes = (folder / "video.webm").read_bytes()
    assert video_bytes[:4] == b"\x1a\x45\xdf\xa3"

    clips = wait_for(
        lambda: [
            s
            for s in get_json(f"{server.base}/sensor/clips.json?device={DEVICE}")["swings"]
            if s["clip"]
        ],
        timeout=20,
        what="the two swings and their clips",
    )
    assert len(clips) == 2, clips

    # the live page shows the last swing's clip beside its numbers: looped, slowed on request,
    # the pelvis and hand peaks marked on its timeline
    live = camera(server.base + "/sensor/")
    last = clips[-1]["clip"]
    player = live.locator(".hc-clip video")
    player.wait_for(timeout=60000)
    src = player.get_attribute("src")
    assert src == f"{last['video']}#t={last['start_s']:.3f},{last['end_s']:.3f}"
    assert live.locator(".hc-clip").inner_text().startswith(f"Swing {clips[-1]['swing']}")
    marks = live.locator(".hc-clip-timeline text").evaluate_all("e => e.map(t => t.textContent)")
    assert sorted(marks) == ["hand", "pelvis"]
    live.locator(".hc-clip-rate").select_option("0.25")
    assert player.evaluate("v => v.playbackRate") == 0.25
    # once loaded (the seekable copy is made on the first request: seconds on a busy machine;
    # until then the element sits at 0 s), it plays the clip and only the clip
    player.evaluate(
        "v => new Promise(ok => { const go = () => v.readyState >= 2 ? ok() : setTimeout(go, 50);"
        " go(); })"
    )
    seen = [player.evaluate("v => v.currentTime") for _ in range(20) if not time.sleep(0.2)]
    assert max(seen) > last["start_s"] + 0.1, seen  # it plays ...
    inside = [last["start_s"] - 0.1 <= t <= last["end_s"] + 0.1 for t in seen]
    assert all(inside), (last, seen)  # ... the clip
    assert not live.errors
    live.context.close()

    # the server restarts: the video is still there, byte for byte, and plays
    assert server.stop() == 0
    server = ServerProcess(tmp_path).start()
    try:
        page.goto(server.base + "/sensor/camera")
        url = clips[0]["clip"]["video"]
        assert (folder / "video.webm").read_bytes() == video_bytes
        # served as a copy browsers can seek in: the same frames, with a duration and cues
        served = httpx.get(f"{server.base}/sensor/{url}")
        assert served.status_code == 200 and served.content[:4] == b"\x1a\x45\xdf\xa3"
        assert abs(len(served.content) - len(video_bytes)) < len(video_bytes) // 10
        ranged = httpx.get(f"{server.base}/sensor/{url}", headers={"Range": "bytes=4-9"})
        assert ranged.status_code == 206 and ranged.content == served.content[4:10]

        offset_ns, rtt_ns = min(page_clock, key=lambda c: c[1])
        times = np.array([round(t * 1e6) + offset_ns for t, _, _ in shown_at])
        ks = np.array([k for _, k, _ in shown_at])
        lag_ms = np.median([shown - captured for captured, _, shown in shown_at])
        order = np.argsort(times)
        times, ks = times[order], ks[order]
        assert len(times) > 100, f"the preview showed {len(times)} frames"
        errors = []
        for swing in clips:
            clip = swing["clip"]
            seconds = [clip["start_s"], clip["peak_s"], clip["end_s"]]
            wanted = [
                swing["peak_ns"] - round(1.5e9),
                swing["peak_ns"],
                swing["peak_ns"] + round(1e9),
            ]
            assert clip["end_s"] - clip["start_s"] == pytest.approx(2.5, abs=0.002)
            shown = page.evaluate(READ_VIDEO, [clip["video"], seconds])
            for t_ns, k in zip(wanted, shown, strict=True):
                i = int(np.searchsorted(times, t_ns))
                assert 0 < i < len(times) and times[i] - times[i - 1] < 0.5e9, "no frame near"
                live = float(np.interp(t_ns, times, ks))  # the frame the camera showed then
                errors.append((k - live) / FPS)
        print(f"clip frame errors (s): {np.round(errors, 4).tolist()}")
        print(
            f"page clock read to ±{rtt_ns / 2e6:.1f} ms; {len(times)} preview frames, "
            f"shown {lag_ms:.1f} ms after their capture (median)"
        )
        # the clocks: the take's typical error; any one frame: a few frames more where the
        # recorder dropped frames (the encoder falls behind on this busy machine)
        assert np.median(np.abs(errors)) <= SYNC_ERROR_S, errors
        assert max(abs(e) for e in errors) <= DROPPED_S, errors
        assert not page.errors
    finally:
        assert server.stop() == 0


def test_a_connection_cut_or_a_server_restart_mid_take_loses_at_most_the_chunk_in_flight(
    camera, tmp_path
):
    server = ServerProcess(tmp_path).start()
    phone = None
    try:  # (the server is stopped whatever fails, from here on)
        start_ns = time.time_ns() + 500_000_000
        sim = simulate("pelvis", duration_s=40.0, swings=[], rate_hz=50, seed=1, start_ns=start_ns)
        phone = Phone(server, sim, start_ns)
        phone.start()
        page = camera(server.base + "/sensor/camera")
        start_recording(page)
        page.wait_for_function("() => window.__hc_camera.acked >= 2", timeout=20000)
        # the network goes for 3 s: the page keeps recording and keeps what it could not send
        page.context.set_offline(True)
        time.sleep(3)
        waiting = page.evaluate("window.__hc_camera")
        assert waiting["queued"] >= 2, waiting
        assert "no connection" in page.inner_text("#error")
        page.context.set_offline(False)
        page.wait_for_function(
            "() => window.__hc_camera.queued === 0 && window.__hc_camera.made >= 7", timeout=20000
        )
        # the server restarts mid-take (same port): the page sends what it made meanwhile
        assert server.stop() == 0
        made_while_down = page.evaluate("window.__hc_camera.made")
        server.start()
        page.wait_for_function(
            f"() => window.__hc_camera.made >= {made_while_down + 2}"
            " && window.__hc_camera.queued === 0",
            timeout=30000,
        )
        assert page.evaluate("window.__hc_camera.acked") == page.evaluate("window.__hc_camera.made")
        # the tab is closed mid-take: what the server holds is all but the chunk in flight
        made = page.evaluate("window.__hc_camera.made")
        page.close()
        (folder,) = stored(server)
        index = [line for line in (folder / "chunks.jsonl").read_text().splitlines() if line]
        assert made - 1 <= len(index) <= made
        # every stored chunk is in order and the file is exactly the acknowledged bytes
        size = (folder / "video.webm").stat().st_size
        docs = [json.loads(line) for line in index]
        assert [d["seq"] for d in docs] == list(range(len(docs)))
        assert docs[-1]["offset"] + docs[-1]["bytes"] == size
        assert [d["end_ns"] for d in docs] == sorted(d["end_ns"] for d in docs)
    finally:
        if phone is not None:
            phone.done.set()  # the rest of the 40 s take would change nothing checked here
            phone.join(30)
        assert server.stop() == 0
