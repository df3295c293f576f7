"""Dashboard tabs: server CPU per update per tab, updates per second, POST latency, bytes.

Starts ``hitting-coach serve`` (own port, own data dir) and a feeder posting accelerometer and
gyroscope at 200 Hz each in real time (5 messages/s of 80 readings), then opens 1, 5, 10 and 20
pages of /sensor/ in one headless Chromium (pages are added, never closed, so no closed
session lingers into the next round). For each round of ``--seconds``:

- server CPU per update per tab: utime+stime of the server process (/proc/PID/stat) over the
  round, divided by the updates all tabs received; also with the no-tab round's CPU (the
  ingest alone) taken off first;
- updates per second per tab and the largest gap between two updates, counted in each page
  by a hook on the accelerometer source's ``streaming`` signal;
- the feeder's POST /data latency p50/p95/max during the round (the feeder runs in a process
  of its own, as a phone would be);
- websocket bytes received per tab per second.

A second server with ``HITTING_COACH_UPDATE_MS=100`` then runs 1 and 10 tabs, fed in 50 ms
batches (``--fast-batch-s``): a tick that finds no new point sends nothing, so 200 ms batches
would cap the updates at 5 a second whatever the period.

    uv run python benchmarks/bench_tabs.py [--seconds 10] [--tabs 1,5,10,20] [--fast-tabs 1,10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS, JS_LENGTHS, ServerProcess, motion_messages  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

#: Installed once a page shows data: counts the accelerometer source's streamed updates.
JS_HOOK = """() => {
  const src = Bokeh.documents[0].get_model_by_name('accelerometer-source');
  window.__hc = {n: 0, times: []};
  src.streaming.connect(() => { window.__hc.n += 1; window.__hc.times.push(performance.now()); });
}"""
JS_READ = "() => [window.__hc.n, window.__hc.times.slice(-2000)]"


def cpu_s(pid: int) -> float:
    """utime + stime of process ``pid``, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Feeder(threading.Thread):
    """Posts 200 ms batches at real-time pace; records (wall time, latency s) per POST.

    Run it in a process of its own (``--feed``, see :class:`FeederProcess`) when measuring
    latency: a phone is not in the browser's process, and in this one Playwright's event
    dispatch for many tabs competes with the feeder for the GIL."""

    def __init__(self, base: str, rate_hz: float = 200, batch_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.base, self.rate_hz, self.batch_s = base, rate_hz, batch_s
        self.stop_event = threading.Event()
        self.latencies: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.on_post = None  # called with (wall time, latency s, error or "") after each POST

    def run(self) -> None:
        start = time.time_ns()
        k = 0
        with httpx.Client(timeout=30) as client:
            while not self.stop_event.is_set():
                doc = motion_messages(
                    1,
                    start_ns=start + int(k * self.batch_s * 1e9),
                    rate_hz=self.rate_hz,
                    batch_s=self.batch_s,
                    first_id=k,
                )[0]
                t0 = time.perf_counter()
                response = client.post(self.base + "/data", json=doc)
                self.latencies.append((time.time(), time.perf_counter() - t0))
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text[:200]}")
                if self.on_post is not None:
                    self.on_post(*self.latencies[-1], self.errors[-1] if self.errors else "")
                k += 1
                delay = start / 1e9 + k * self.batch_s - time.time()
                if delay > 0:
                    self.stop_event.wait(delay)

    def between(self, t0: float, t1: float) -> list[float]:
        return sorted(lat for t, lat in self.latencies if t0 <= t < t1)


class FeederProcess:
    """The feeder in a process of its own; its POST latencies read back from its output."""

    def __init__(self, base: str, batch_s: float = 0.2) -> None:
        cmd = [sys.executable, __file__, "--feed", base, "--feed-batch-s", str(batch_s)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.latencies: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            wall, latency, error = line.rstrip("\n").split("\t", 2)
            self.latencies.append((float(wall), float(latency)))
            if error:
                self.errors.append(error)

    def between(self, t0: float, t1: float) -> list[float]:
        return sorted(lat for t, lat in list(self.latencies) if t0 <= t < t1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


def feed_forever(base: str, batch_s: float) -> None:
    """``--feed``: post until terminated, a line per POST: wall time, latency (s), error."""
    feeder = Feeder(base, batch_s=batch_s)
    feeder.on_post = lambda wall, latency, error: print(f"{wall}\t{latency}\t{error}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: feeder.stop_event.set())
    feeder.run()


def ws_url_is_feed(url: str) -> bool:
    """The live feed's socket (``/sensor/live.ws``), not the page's Bokeh session."""
    return url.split("?")[0].endswith("/live.ws")


def has_readings(frame: bytes | str) -> bool:
    """A feed frame with readings (not the status line alone)."""
    if isinstance(frame, str):
        return False
    size = int.from_bytes(frame[:4], "little")
    return any(s["n"] for s in json.loads(frame[4 : 4 + size])["s"])


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def browser_command(folder: Path, nice: int, cpus: str) -> str:
    """Chromium at a lower CPU priority (``nice``) and/or kept to some CPUs (``cpus``, as
    ``taskset -c`` takes them), as tabs on other machines would be: on this 2-core machine
    the benchmark's own 20 tabs would otherwise compete with the server for its cores."""
    if nice <= 0 and not cpus:
        return CHROMIUM
    # nice is the level Chromium runs at, whatever this process's own (run the benchmark
    # under ``nice -n -10`` and the server and feeder come first, the tabs last)
    step = int(nice) - os.nice(0)
    prefix = (f"taskset -c {cpus} " if cpus else "") + (f"nice -n {step} " if nice > 0 else "")
    wrapper = folder / "chromium-wrapped"
    # Playwright starts the browser in a session of its own: with the kernel's autogroups
    # (Debian's default) a nice level then only counts among the browser's own processes,
    # and its session as a whole still gets as much CPU as the server's. The session's
    # own nice level (/proc/self/autogroup) is what yields to the server.
    group = f"echo {int(nice)} > /proc/self/autogroup 2>/dev/null\n" if nice > 0 else ""
    wrapper.write_text(f'#!/bin/sh\n{group}exec {prefix}{CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def run_server(
    period_ms: int | None,
    tab_counts: list[int],
    seconds: float,
    batch_s: float = 0.2,
    browser_nice: int = 0,
    browser_cpus: str = "",
    server_nice: int = 0,
) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"HITTING_COACH_UPDATE_MS": str(period_ms)} if period_ms else {}
        server = ServerProcess(Path(tmp), env=env).start()
        pid = server.proc.pid
        feeder = FeederProcess(server.base, batch_s=batch_s)
        if server_nice:
            # the main thread, set as the process starts: the threads it starts inherit it
            for proc_pid in (pid, feeder.proc.pid):
                os.setpriority(os.PRIO_PROCESS, proc_pid, server_nice)
        counting = threading.Event()
        received = {"bytes": 0, "frames": 0}

        def on_ws(ws):
            feed = ws_url_is_feed(ws.url)

            def frame(payload):
                if counting.is_set():
                    received["bytes"] += len(payload)
                    if feed and has_readings(payload):
                        received["frames"] += 1

            ws.on("framereceived", frame)

        try:
            with sync_playwright() as p:
                chromium = browser_command(Path(tmp), browser_nice, browser_cpus)
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                pages = []
                for n in [0, *tab_counts]:
                    while len(pages) < n:
                        page = browser.new_page()
                        page.on("websocket", on_ws)
                        page.goto(server.base + "/sensor/")
                        page.wait_for_function(
                            f"() => {{ const l = ({JS_LENGTHS})(); return l && l[0] > 0; }}",
                            timeout=120_000,
                        )
                        page.evaluate(JS_HOOK)
                        pages.append(page)
                    settle = pages[0] if pages else None
                    if settle:
                        settle.wait_for_timeout(1500)
                    else:
                        time.sleep(1.5)
                    before = [page.evaluate(JS_READ)[0] for page in pages]
                    received["bytes"] = received["frames"] = 0
                    counting.set()
                    w0, c0, t0 = time.time(), cpu_s(pid), time.perf_counter()
                    if pages:
                        pages[0].wait_for_timeout(1000 * seconds)  # events dispatch here
                    else:
                        time.sleep(seconds)
                    elapsed, cpu = time.perf_counter() - t0, cpu_s(pid) - c0
                    counting.clear()
                    w1 = time.time()
                    after = [page.evaluate(JS_READ) for page in pages]
                    updates = [a[0] - b for a, b in zip(after, before, strict=True)]
                    gaps = []
                    for _, times in after:
                        recent = [t for t in times if t >= times[-1] - 1000 * elapsed]
                        gaps += [b - a for a, b in zip(recent, recent[1:], strict=False)]
                    lat = feeder.between(w0, w1)
                    rows.append(
                        {
                            "period_ms": period_ms or 500,
                            "wall": (w0, w1),
                            "tabs": n,
                            "elapsed": elapsed,
                            "cpu": cpu,
                            "updates": sum(updates),
                            "per_tab_per_s": statistics.mean(updates) / elapsed if n else 0,
                            "gap_p50": statistics.median(gaps) if gaps else float("nan"),
                            "gap_max": max(gaps) if gaps else float("nan"),
                            "post_p50": pct(lat, 0.5) * 1000,
                            "post_p95": pct(lat, 0.95) * 1000,
                            "post_max": (lat[-1] if lat else float("nan")) * 1000,
                            "bytes_per_tab_s": received["bytes"] / n / elapsed if n else 0,
                            "frames_per_tab_s": received["frames"] / n / elapsed if n else 0,
                        }
                    )
                    print(fmt(rows[-1], rows[0]), flush=True)
                browser.close()
        finally:
            feeder.stop()
            code = server.stop()
        assert code == 0, server.output()
        assert not feeder.errors, feeder.errors[:3]
    return rows


def fmt(row: dict, baseline: dict) -> str:
    at = "[" + "-".join(time.strftime("%H:%M:%S", time.gmtime(t)) for t in row["wall"]) + " UTC] "
    return at + _fmt(row, baseline)


def _fmt(row: dict, baseline: dict) -> str:
    if row["tabs"] == 0:
        return (
            f"period {row['period_ms']} ms, no tab: server CPU {row['cpu'] / row['elapsed']:.3f}"
            f" s/s (ingest alone); POST p50 {row['post_p50']:.1f} ms p95 {row['post_p95']:.1f}"
            f" ms max {row['post_max']:.0f} ms"
        )
    n, updates = row["tabs"], max(1, row["updates"])
    ingest = baseline["cpu"] / baseline["elapsed"] * row["elapsed"] if baseline["tabs"] == 0 else 0
    return (
        f"period {row['period_ms']} ms, {n:2d} tabs: CPU/update/tab {1000 * row['cpu'] / updates:.1f} ms"
        f" ({1000 * (row['cpu'] - ingest) / updates:.1f} ms without ingest);"
        f" {row['per_tab_per_s']:.2f} updates/s/tab, gap p50 {row['gap_p50']:.0f} ms"
        f" max {row['gap_max']:.0f} ms; POST p50 {row['post_p50']:.1f} ms"
        f" p95 {row['post_p95']:.1f} ms max {row['post_max']:.0f} ms;"
        f" {row['bytes_per_tab_s'] / 1000:.1f} KB/s/tab;"
        f" feed frames delivered {row['frames_per_tab_s']:.2f}/s/tab"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tabs", default="1,5,10,20")
    parser.add_argument("--fast-tabs", default="1,10", help="tabs at a 100 ms period ('' skips)")
    parser.add_argument(
        "--fast-batch-s",
        type=float,
        default=0.05,
        help="the feeder's batch interval in the 100 ms rounds (a tick with no new data sends nothing)",
    )
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run Chromium at this nice level (10: the tabs yield the CPU to the server, as "
        "tabs on other machines do); 0, the default: same priority",
    )
    parser.add_argument(
        "--browser-cpus",
        default="",
        help="keep Chromium to these CPUs (taskset -c, e.g. 1): the server and the feeder then "
        "have a core the tabs never take, as when the tabs are on other machines",
    )
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="run the server and the feeder at this nice level (-10, as root: they come before "
        "the benchmark's own browser and Playwright driver, as on a server whose tabs are "
        "elsewhere); 0, the default: unchanged",
    )
    parser.add_argument("--feed", help=argparse.SUPPRESS)  # the feeder process (FeederProcess)
    parser.add_argument("--feed-batch-s", type=float, default=0.2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feed:
        feed_forever(args.feed, args.feed_batch_s)
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    print(
        f"Chromium nice level: {args.browser_nice}, CPUs: {args.browser_cpus or 'all'}; "
        f"server and feeder nice level: {args.server_nice or os.nice(0)}",
        flush=True,
    )
    run_server(
        None,
        [int(t) for t in args.tabs.split(",") if t],
        args.seconds,
        0.2,
        args.browser_nice,
        args.browser_cpus,
        args.server_nice,
    )
    if args.fast_tabs:
        run_server(
            100,
            [int(t) for t in args.fast_tabs.split(",")],
            args.seconds,
            args.fast_batch_s,
            args.browser_nice,
            args.browser_cpus,
            args.server_nice,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
