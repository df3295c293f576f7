"""Delay from the end of a swing to its numbers on the dashboard.

Streams a simulated pelvis phone + wrist watch session in real time (200 ms batches, the
app's default, timestamps on the wall clock) into ``hitting-coach serve`` over POST /data,
with one headless Chromium tab on /sensor/. For each swing, records when its number is on the
page's screen (the first frame painted after the browser got it, read in the page) and prints
the delay after the swing's true end (ground truth) and after the message carrying that end was
posted, then where it went: the detector's wait (the server's ``found_ns``), the server's push
to the browser, the browser's drawing. Target (issue 13): median at most 300 ms.

    uv run python benchmarks/bench_swing_delay.py [--swings 5]
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hitting_coach.sim.simulate import iter_messages, simulate  # noqa: E402
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess, get_json  # noqa: E402

# In the page: for each new headline, when the browser's document got it (the Bokeh model's
# change) and when it was on screen (the frame painted after it, the page's text checked then).
# Read back once a few times a second: polling the page's text every few ms from Playwright
# takes the browser's CPU (a query through every shadow root) from the page it measures.
HOOK_JS = """() => {
  const find = (root) => {
    const hit = root.querySelector('.hc-swing');
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
    }
    return null;
  };
  window.hcHeadlines = [];
  for (const m of Bokeh.documents[0].all_models) {
    if (!(m.css_classes || []).includes('hc-headline')) continue;
    m.properties.text.change.connect(() => {
      const entry = {text: m.text, received: Date.now(), painted: null, onPage: ''};
      window.hcHeadlines.push(entry);
      requestAnimationFrame(() => setTimeout(() => {
        entry.painted = Date.now();
        const el = find(document);
        entry.onPage = el ? el.innerText : '';
      }));
    });
  }
}"""


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
                page.evaluate(HOOK_JS)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 500})
                cdp.send("Profiler.start")
                # the session's clock starts once the page is up (a loaded machine is slow)
                sim, messages = session(time.time_ns() + 2_000_000_000)
                feeder = threading.Thread(target=stream)
                feeder.start()
                deadline = time.monotonic() + duration + 15
                received: dict[int, int] = {}
                while len(shown) < len(sim.truth) and time.monotonic() < deadline:
                    page.wait_for_timeout(250)
                    for entry in page.evaluate("() => window.hcHeadlines"):
                        # Panel sends the pane's HTML escaped
                        match = re.search(r">#(\d+)<", html.unescape(entry["text"]))
                        if match is None or entry["painted"] is None:
                            continue
                        number = int(match.group(1))
                        if number not in shown:
                            assert f"#{number}" in entry["onPage"], entry  # it was on screen
                            shown[number] = round(entry["painted"] * 1e6)
                            received[number] = round(entry["received"] * 1e6)
                feeder.join()
                prof = cdp.send("Profiler.stop")["profile"]
                import json as _json

                Path("/tmp/cpuprofile.json").write_text(_json.dumps(prof))
                browser.close()
            found = {
                row["number"]: row["found_ns"]
                for row in get_json(server.base + "/sensor/swings.json?device=bench")["swings"]
            }
        finally:
            code = server.stop()
        assert code == 0, server.output()

    send_times = [send_at for send_at, _ in messages]
    after_end, after_post, to_found, to_page, to_browser = [], [], [], [], []
    for number, seen_ns in sorted(shown.items()):
        end_ns = int(sim.truth["end_ns"].iloc[number - 1])
        carrying = next(i for i, s in enumerate(send_times) if s >= end_ns)
        after_end.append((seen_ns - end_ns) / 1e6)
        after_post.append((seen_ns - posted_ns[carrying]) / 1e6)
        to_found.append((found[number] - end_ns) / 1e6)
        to_page.append((seen_ns - found[number]) / 1e6)
        to_browser.append((received[number] - found[number]) / 1e6)
    print(
        f"{len(shown)} of {len(sim.truth)} swings shown; sensors at {args.rate:.0f} Hz, "
        "200 ms batches, 500 ms dashboard period"
    )
    print("delay after the swing's end (ms):      " + ", ".join(f"{d:.0f}" for d in after_end))
    print("delay after its message was posted (ms): " + ", ".join(f"{d:.0f}" for d in after_post))
    print("end -> the detector found it (ms):       " + ", ".join(f"{d:.0f}" for d in to_found))
    print("found -> in the browser's document (ms): " + ", ".join(f"{d:.0f}" for d in to_browser))
    print("found -> on screen (ms):                 " + ", ".join(f"{d:.0f}" for d in to_page))
    print(
        f"median {statistics.median(after_end):.0f} ms after the end, max {max(after_end):.0f} ms"
        " (target <= 300)"
    )


if __name__ == "__main__":
    main()
