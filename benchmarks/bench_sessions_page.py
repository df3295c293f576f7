"""The sessions page with 2,000 sessions on disk and a phone recording a one-hour session.

Starts ``hitting-coach serve`` on a fresh data directory, posts one hour of accelerometer +
gyroscope at 50 Hz as one live session (its readings end now), then 2,000 one-reading
sessions spread over 20 devices, and waits for them to reach Parquet. Then, while the phone
keeps posting the live session (``--rate`` messages/s, each timed), opens
``/sensor/sessions`` ``--opens`` times in a row and prints each open's time (the server builds
the page's document in the GET: the first is the page's first render), and the phone's POST
latency (p50, p99, max) while the page was being opened.

    uv run python benchmarks/bench_sessions_page.py [--sessions 2000] [--opens 3] [--rate 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import ServerProcess, wait_for  # noqa: E402

RATE_HZ = 50
BATCH_S = 1.0  # one message per second of readings


def _live_message(message_id: int, t0: int) -> bytes:
    per = int(RATE_HZ * BATCH_S)
    step = int(1e9 / RATE_HZ)
    payload = []
    for sensor, scale in (("accelerometer", 3.0), ("gyroscope", 1.0)):
        for i in range(per):
            t = t0 + i * step
            k = (message_id * per + i) % 97
            payload.append(
                {
                    "name": sensor,
                    "time": t,
                    "values": {"x": scale * (k - 48) / 48, "y": 0.1 * k, "z": -0.05 * k},
                }
            )
    return orjson.dumps(
        {
            "messageId": message_id,
            "sessionId": "live-hour",
            "deviceId": "phone-live",
            "payload": payload,
        }
    )


def _one_reading(n: int, t: int) -> bytes:
    return orjson.dumps(
        {
            "messageId": 1,
            "sessionId": f"s{n:05d}",
            "deviceId": f"phone-{n % 20:02d}",
            "payload": [{"name": "accelerometer", "time": t, "values": {"x": 0, "y": 0, "z": 9.8}}],
        }
    )


def _browser_renders(url: str, times: int, timeout_s: float) -> list[float | None]:
    """Seconds from navigation until the page shows 20 session cards, ``times`` times."""
    from playwright.sync_api import sync_playwright

    from support import CHROMIUM, CHROMIUM_ARGS

    out: list[float | None] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for _ in range(times):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(url, timeout=timeout_s * 1000)
            cards = page.locator(".hc-session-card")
            took: float | None = None
            while time.perf_counter() - start < timeout_s:
                if cards.count() >= 20:
                    took = time.perf_counter() - start
                    break
                time.sleep(0.05)
            answered = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].responseStart / 1000"
            )
            print(f"  (Chromium: the server's answer began {answered:.2f} s after navigation)")
            out.append(took)
            page.close()
        browser.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--hours", type=float, default=1.0, help="length of the live session")
    p.add_argument("--opens", type=int, default=3)
    p.add_argument("--rate", type=float, default=20.0, help="live POSTs/s while measuring")
    p.add_argument("--timeout", type=float, default=300.0, help="per page open, s")
    p.add_argument(
        "--browser",
        type=int,
        default=2,
        help="also open the page this many times in Chromium and time until 20 sessions show",
    )
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        server = ServerProcess(
            Path(tmp),
            env={"HITTING_COACH_PARQUET_INTERVAL_S": "2"},
        ).start()
        url = server.base + "/data"
        headers = {"Content-Type": "application/json"}
        now = time.time_ns()
        live_messages = int(args.hours * 3600 / BATCH_S)
        live_start = now - live_messages * int(BATCH_S * 1e9)
        t0 = time.monotonic()
        with httpx.Client(timeout=60) as c, ThreadPoolExecutor(4) as pool:

            def send(body: bytes) -> None:
                r = c.post(url, content=body, headers=headers)
                assert r.status_code == 200, r.text

            list(
                pool.map(
                    send,
                    (
                        _live_message(k, live_start + k * int(BATCH_S * 1e9))
                        for k in range(live_messages)
                    ),
                )
            )
            print(f"live session: {live_messages} messages posted in {time.monotonic() - t0:.1f} s")
            t1 = time.monotonic()
            old = now - 3 * 86_400 * 10**9
            list(pool.map(send, (_one_reading(n, old + n * 10**9) for n in range(args.sessions))))
            print(f"{args.sessions} sessions posted in {time.monotonic() - t1:.1f} s")

        def flushed() -> bool:
            return server.status()["recording"]["pending_readings"] == 0

        try:
            wait_for(flushed, timeout=120, interval=1, what="the readings to reach Parquet")
        except AssertionError:
            print("(the recorder still had readings pending after 120 s; measuring anyway)")

        latencies: list[float] = []
        stop = threading.Event()
        next_id = [live_messages]
        timeouts = [0]

        def phone() -> None:
            with httpx.Client(timeout=120) as c:
                while not stop.is_set():
                    k = next_id[0]
                    next_id[0] += 1
                    body = _live_message(k, live_start + k * int(BATCH_S * 1e9))
                    start = time.perf_counter()
                    try:
                        r = c.post(url, content=body, headers=headers)
                    except httpx.TimeoutException:
                        timeouts[0] += 1
                    else:
                        if r.status_code != 200:
                            print("POST refused:", r.status_code, r.text[:200])
                    latencies.append((time.perf_counter() - start) * 1000)
                    stop.wait(max(0.0, 1 / args.rate - (time.perf_counter() - start)))

        thread = threading.Thread(target=phone, daemon=True)
        thread.start()
        time.sleep(2)
        latencies.clear()  # only those while the page is opened
        opens = []
        with httpx.Client(timeout=args.timeout) as c:
            for _ in range(args.opens):
                start = time.perf_counter()
                try:
                    r = c.get(server.base + "/sensor/sessions")
                    took = time.perf_counter() - start
                    status = r.status_code
                except httpx.TimeoutException:
                    took, status = time.perf_counter() - start, "timeout"
                opens.append(took)
                print(f"open /sensor/sessions: {took:.2f} s ({status})")
        renders = []
        if args.browser:
            renders = _browser_renders(server.base + "/sensor/sessions", args.browser, args.timeout)
        time.sleep(1)
        stop.set()
        thread.join()
        try:
            code: object = server.stop(timeout=120)
        except AssertionError:
            code = "killed (it ignored SIGTERM for 120 s)"
            server.kill()
        lat = sorted(latencies)
        for took in renders:
            print(
                "Chromium: 20 sessions shown "
                + (f"{took:.2f} s after navigation" if took is not None else "never (timeout)")
            )
        print(
            f"first render {opens[0]:.2f} s; later opens "
            + ", ".join(f"{t:.2f}" for t in opens[1:])
            + " s"
        )
        if lat:
            p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(
                f"phone POSTs while opening: {len(lat)}, p50 {statistics.median(lat):.1f} ms, "
                f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms"
                + (f" ({timeouts[0]} timed out after 120 s)" if timeouts[0] else "")
            )
        print(f"server exit code {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
