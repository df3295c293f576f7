"""Dashboard traffic: bytes per second per open tab, from the browser's websocket frames.

Two sensors (accelerometer, gyroscope) stream at 200 Hz each into ``hitting-coach serve``
over POST /data (5 messages/s of 80 readings) while one headless Chromium tab shows
/sensor/ with a 2,000-point window. Counts the bytes of every websocket frame the tab
receives after it has loaded. For comparison, the same run computes what resending the whole
window on every tick would cost (what the Dash version did).

    uv run python benchmarks/bench_dashboard.py [--seconds 20] [--window 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess, motion_messages  # noqa: E402

DASH_BYTES_PER_S = 310_000  # measured on the Flask/Dash version: ~155 KB per update, 2/s


def feed(server: ServerProcess, stop: threading.Event, rate_hz: float) -> int:
    """Post 200 ms batches in real time until stopped; returns messages sent."""
    start = time.time_ns()
    k = 0
    while not stop.is_set():
        doc = motion_messages(1, start_ns=start + k * 200_000_000, rate_hz=rate_hz, first_id=k)[0]
        code, body = server.post(doc)
        assert code == 200, body
        k += 1
        delay = start / 1e9 + k * 0.2 - time.time()
        if delay > 0:
            stop.wait(delay)
    return k


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {"HITTING_COACH_WINDOW_POINTS": str(args.window)}
        server = ServerProcess(Path(tmp), env=env).start()
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(server, stop, args.rate))
        feeder.start()
        received = {"bytes": 0, "frames": 0}
        counting = threading.Event()

        def on_ws(ws):
            def frame(payload):
                if counting.is_set():
                    received["bytes"] += len(payload)
                    received["frames"] += 1

            ws.on("framereceived", frame)

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.on("websocket", on_ws)
                page.goto(server.base + "/sensor/")
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.documents[0] && "
                    "Bokeh.documents[0].get_model_by_name('gyroscope-source').data.t.length > 0",
                    timeout=30_000,
                )
                page.wait_for_timeout(1000 * max(2.0, args.window / args.rate / 2))  # fill
                counting.set()
                t0 = time.perf_counter()
                page.wait_for_timeout(1000 * args.seconds)  # Playwright dispatches events here
                counting.clear()
                elapsed = time.perf_counter() - t0
                lengths = page.evaluate(
                    "() => ['accelerometer', 'gyroscope'].map(n => "
                    "Bokeh.documents[0].get_model_by_name(n + '-source').data.t.length)"
                )
                browser.close()
        finally:
            stop.set()
            feeder.join()
            code = server.stop()
        assert code == 0, server.output()

    per_s = received["bytes"] / elapsed
    ticks_per_s = 2  # default 500 ms update period
    full_resend = 2 * args.window * 4 * 8 * ticks_per_s  # 2 sensors, t+x+y+z float64
    print(f"window {args.window} points, 2 sensors at {args.rate:.0f} Hz, {elapsed:.1f} s")
    print(f"points on the plots at the end: {lengths}")
    print(f"websocket: {received['frames']} frames, {per_s / 1000:.1f} KB/s per tab")
    print(f"resending the whole window each tick would be {full_resend / 1000:.0f} KB/s")
    print(
        f"Dash version: {DASH_BYTES_PER_S / 1000:.0f} KB/s; ratio {per_s / DASH_BYTES_PER_S:.3f}"
        " (target <= 0.1)"
    )


if __name__ == "__main__":
    main()
