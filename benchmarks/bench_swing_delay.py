"""Delay from the end of a swing to its numbers on the dashboard.

Streams a simulated pelvis phone + wrist watch session in real time (200 ms batches, the
app's default, timestamps on the wall clock) into ``hitting-coach serve`` over POST /data,
with one headless Chromium tab on /sensor/. For each swing, records when its number appears in
the swing panel and prints the delay after the swing's true end (ground truth) and after the
message carrying that end was posted. Target: under 1 s.

    uv run python benchmarks/bench_swing_delay.py [--swings 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hitting_coach.sim.simulate import iter_messages, simulate  # noqa: E402
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swings", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    every = 5.0
    duration = 3.0 + every * args.swings

    def session(start_ns: int):
        sim = simulate(
            "pelvis+wrist",
            duration_s=duration,
            swing_every_s=every,
            rate_hz=args.rate,
            start_ns=start_ns,
            seed=11,
        )
        return sim, list(
            iter_messages(sim.frames, device_id="bench", session_id="delay", t0_ns=start_ns)
        )

    posted_ns: list[int] = []  # wall time each message was posted

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp)).start()

        def stream() -> None:
            for send_at, message in messages:
                delay = (send_at - time.time_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
                code, body = server.post(message)
                assert code == 200, body
                posted_ns.append(time.time_ns())

        shown: dict[int, int] = {}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(server.base + "/sensor/")
                page.locator(".hc-swing").wait_for()
                # the session's clock starts once the page is up (a loaded machine is slow)
                sim, messages = session(time.time_ns() + 2_000_000_000)
                feeder = threading.Thread(target=stream)
                feeder.start()
                deadline = time.monotonic() + duration + 15
                while len(shown) < len(sim.truth) and time.monotonic() < deadline:
                    text = page.locator(".hc-swing").inner_text()
                    match = re.search(r"#(\d+)", text)
                    if match and int(match.group(1)) not in shown:
                        shown[int(match.group(1))] = time.time_ns()
                    page.wait_for_timeout(20)
                feeder.join()
                browser.close()
        finally:
            code = server.stop()
        assert code == 0, server.output()

    send_times = [send_at for send_at, _ in messages]
    after_end, after_post = [], []
    for number, seen_ns in sorted(shown.items()):
        end_ns = int(sim.truth["end_ns"].iloc[number - 1])
        carrying = next(i for i, s in enumerate(send_times) if s >= end_ns)
        after_end.append((seen_ns - end_ns) / 1e6)
        after_post.append((seen_ns - posted_ns[carrying]) / 1e6)
    print(
        f"{len(shown)} of {len(sim.truth)} swings shown; sensors at {args.rate:.0f} Hz, "
        "200 ms batches, 500 ms dashboard period"
    )
    print("delay after the swing's end (ms):      " + ", ".join(f"{d:.0f}" for d in after_end))
    print("delay after its message was posted (ms): " + ", ".join(f"{d:.0f}" for d in after_post))
    print(
        f"median {statistics.median(after_end):.0f} ms after the end, max {max(after_end):.0f} ms"
        " (target < 1000)"
    )


if __name__ == "__main__":
    main()
