"""HTTP ingest: readings/s through POST /data with 40-reading messages.

Drives, in the same run and with the same load generator, (1) a do-nothing tornado handler
that answers 200 to every POST, and (2) ``hitting-coach serve`` (parse, de-duplicate, hub,
recorder, live swing detection: everything). The load comes from ``wrk`` (Debian's package:
``apt-get install wrk``), one thread and 16 keep-alive connections posting distinct messages
(a new messageId and reading times each), so the client takes little of the 2 cores and the
servers are measured at their capacity. Both servers stay up and take turns, ``--rounds``
times (a shared machine's load comes and goes: each round is a baseline and ours a few
seconds apart, each round of ours posts a new session). Prints each round's rates, their
ratio (target: >= 0.7) and each server's 99th-percentile latency under that load (target:
ours at most 3x the do-nothing handler's), each server's CPU time per request (from
/proc: steadier than the rate on a loaded machine), then the medians over the rounds.

Flat out, 16 connections always waiting, a request's latency is mostly the queue ahead of
it: a server half as fast answers twice as late (Little's law) however smooth it is. So each
round also paces wrk (``--paced-rate`` requests/s over the same connections, wrk's
``delay()``) and reports both servers' p50 and p99 at that same offered load, where the
latency is the server's own: its work per request and its stalls.

A third server is the control: the do-nothing handler made to spin, per request, the CPU time
our event loop spends beyond it (main thread, from /proc, measured after the warmup). It has
our loop's cost per request and none of our work, threads or stalls, so its p99 is what that
cost alone implies: where ours is about as far from the do-nothing handler as the control is,
the tail is the cost per request, not a stall.

    uv run python benchmarks/bench_http.py [--seconds 10] [--connections 16] [--rounds 3]
        [--warmup 3] [--paced-rate 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import ServerProcess, free_port  # noqa: E402

READINGS = 40  # per message
# The do-nothing handler; with a second argument, it first spins that many µs of its own
# CPU time per request (the control: our CPU cost per request, none of our work or threads).
DO_NOTHING = """
import asyncio, sys, time, tornado.web
SPIN = float(sys.argv[2]) / 1e6 if len(sys.argv) > 2 else 0.0
class H(tornado.web.RequestHandler):
    def check_xsrf_cookie(self): pass
    def post(self):
        if SPIN:
            end = time.thread_time() + SPIN
            while time.thread_time() < end:
                pass
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"ok":true}')
async def main():
    tornado.web.Application([(r"/data", H)]).listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""

# One Sensor Logger message per request: 20 accelerometer + 20 gyroscope readings, 100 Hz,
# the next 200 ms of time and the next messageId each time.
WRK_SCRIPT = """
local n = 0
local base = %d
local session = "%s"
local parts = {}
request = function()
  n = n + 1
  local t0 = base + n * 200000000
  for i = 0, 19 do
    local t = t0 + i * 10000000
    local ts = string.format("%%.0f", t)
    parts[2 * i + 1] = '{"name":"accelerometer","time":' .. ts ..
      ',"values":{"x":0.12,"y":-9.7,"z":1.5' .. i .. '}}'
    parts[2 * i + 2] = '{"name":"gyroscope","time":' .. ts ..
      ',"values":{"x":1.25,"y":-0.5,"z":0.0' .. i .. '}}'
  end
  local body = '{"messageId":' .. n .. ',"sessionId":"' .. session ..
    '","deviceId":"wrk","payload":[' ..
    table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/data", {["Content-Type"] = "application/json"}, body)
end
"""

# Paced: each connection waits this many ms before each request (wrk's delay()).
WRK_DELAY = """
delay = function()
  return %d
end
"""


class Run(NamedTuple):
    rate: float  # requests/s
    done: int  # requests completed
    bad: int  # non-2xx answers
    p50: float  # ms
    p99: float  # ms
    cpu_us: float = 0.0  # server CPU per request
    loop_us: float = 0.0  # of which its main thread's (the event loop's)


def latency_ms(out: str, pct: str) -> float:
    value, unit = re.search(rf"{pct}%\s+([\d.]+)(us|ms|s)\b", out).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(port: int, seconds: float, connections: int, script: Path) -> Run:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "--latency",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/data",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad_n = int(bad.group(1)) if bad else 0
    return Run(rate, done, bad_n, latency_ms(out, "50"), latency_ms(out, "99"))


def cpu_s(pid: int, main_thread: bool = False) -> float:
    """CPU time (user + system) process ``pid`` (or its main thread) has used, in seconds."""
    path = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, seconds: float, connections: int, script: Path) -> Run:
    """:func:`run_wrk` plus the server's CPU µs per request, all threads and the loop's
    (less at the mercy of a shared machine's load than the rate: what the server spent, not
    how long it waited)."""
    before, loop_before = cpu_s(pid), cpu_s(pid, main_thread=True)
    run = run_wrk(port, seconds, connections, script)
    n = max(run.done, 1)
    return run._replace(
        cpu_us=(cpu_s(pid) - before) / n * 1e6,
        loop_us=(cpu_s(pid, main_thread=True) - loop_before) / n * 1e6,
    )


def wait_port(port: int) -> None:
    """Until something answers HTTP on ``port``, HTTPX retries the connection (0.5 s
    doubling: about 30 s in all); any answer will do."""
    try:
        with httpx.Client(transport=httpx.HTTPTransport(retries=7)) as client:
            client.get(f"http://127.0.0.1:{port}/")
    except httpx.TransportError as e:
        raise RuntimeError(f"nothing answers on {port}: {e}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=float,
        default=3,
        help="seconds of load on each server before the rounds, not counted (a server just "
        "started still creates its session, ring buffers and first Parquet part); at least 1, "
        "run twice: the second run calibrates the control",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=1000,
        help="requests/s of the paced runs (both servers, the same offered load); 0 skips them",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_http: needs wrk (apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        port, control_port = free_port(), free_port()
        baseline = subprocess.Popen([sys.executable, "-c", DO_NOTHING, str(port)])
        control = None
        # wrk sends 200 ms of readings per request, far faster than real time: allow the
        # reading times to run ahead of the clock (live readings are checked, see README).
        env = {"HITTING_COACH_MAX_READING_AHEAD_S": str(10 * 86_400)}
        server = ServerProcess(Path(tmp) / "serve", env=env)
        rounds, paced = [], []
        try:
            wait_port(port)
            server.start()
            base_ns = time.time_ns()
            warm = [Path(tmp) / f"warmup-{i}.lua" for i in range(2)]
            for i, path in enumerate(warm):  # a session each: messageIds restart at 1
                path.write_text(WRK_SCRIPT % (base_ns, f"warmup-{i}"))
            seconds = max(args.warmup, 1)
            # Twice each: the first run warms up, the second measures the CPU per request
            # that sets the control's spin.
            warmed = [
                measured(pid, at, seconds, args.connections, warm[i])
                for i in range(2)
                for pid, at in ((baseline.pid, port), (server.proc.pid, server.port))
            ]
            # the event loop's own CPU: our threads' work elsewhere is not on the request path
            spin_us = max(warmed[3].loop_us - warmed[2].loop_us, 0.0)
            control = subprocess.Popen(
                [sys.executable, "-c", DO_NOTHING, str(control_port), f"{spin_us:.0f}"]
            )
            wait_port(control_port)
            warmed.append(measured(control.pid, control_port, seconds, args.connections, warm[0]))
            print(
                f"control: the do-nothing handler spinning {spin_us:.0f} µs of CPU per request: "
                f"our event loop's {warmed[3].loop_us:.0f} µs a request (of {warmed[3].cpu_us:.0f} "
                f"in all threads) less the do-nothing's {warmed[2].loop_us:.0f}, measured now; "
                f"the control then took {warmed[4].loop_us:.0f}",
                flush=True,
            )
            servers = (
                (baseline.pid, port),
                (server.proc.pid, server.port),
                (control.pid, control_port),
            )
            for r in range(args.rounds):
                script = Path(tmp) / f"post-{r}.lua"
                script.write_text(WRK_SCRIPT % (base_ns, f"bench-{r}"))
                trio = [measured(pid, at, args.seconds, args.connections, script)
                        for pid, at in servers]  # fmt: skip
                rounds.append(trio)
                report(r + 1, *trio)
                if args.paced_rate > 0:
                    delay_ms = round(1000 * args.connections / args.paced_rate)
                    script = Path(tmp) / f"paced-{r}.lua"
                    body = WRK_SCRIPT % (base_ns, f"paced-{r}")
                    script.write_text(body + WRK_DELAY % delay_ms)
                    trio = [measured(pid, at, args.seconds, args.connections, script)
                            for pid, at in servers]  # fmt: skip
                    paced.append(trio)
                    report_paced(*trio)
            status = server.status()
        finally:
            for proc in (baseline, control):
                if proc is not None:
                    proc.terminate()
                    proc.wait()
            code = server.stop() if server.proc is not None else 0
        assert code == 0, server.output()
    runs_all = [*warmed, *(run for trio in rounds + paced for run in trio)]
    assert all(run.bad == 0 for run in runs_all), f"non-200 answers: {runs_all}"
    ours_runs = [warmed[1], warmed[3]] + [o for _, o, _ in rounds + paced]
    counted = status["readings"] // READINGS
    done = sum(o.done for o in ours_runs)
    # wrk stops counting at the deadline; requests in flight then are still accepted
    assert done <= counted <= done + args.connections * len(ours_runs), (done, counted)

    def median(values) -> float:
        return statistics.median(list(values))

    print(
        f"median over {args.rounds} rounds: ratio {median(o.rate / b.rate for b, o, _ in rounds):.2f} "
        f"(target >= 0.7), p99 {median(o.p99 / b.p99 for b, o, _ in rounds):.1f}x the "
        f"do-nothing handler's (target <= 3), CPU per request ratio "
        f"{median(b.cpu_us / o.cpu_us for b, o, _ in rounds):.2f}; the control: ratio "
        f"{median(c.rate / b.rate for b, _, c in rounds):.2f}, p99 "
        f"{median(c.p99 / b.p99 for b, _, c in rounds):.1f}x; the server counted all "
        f"{counted * READINGS} readings, recording {'ok' if status['recording']['ok'] else 'FAILED'}"
    )
    if paced:
        print(
            f"paced at {args.paced_rate:.0f} requests/s (median over {len(paced)} rounds): p99 "
            f"{median(o.p99 / b.p99 for b, o, _ in paced):.1f}x the do-nothing handler's, the "
            f"control's {median(c.p99 / b.p99 for b, _, c in paced):.1f}x (ours "
            f"{median(o.p99 for _, o, _ in paced):.1f} ms, control "
            f"{median(c.p99 for _, _, c in paced):.1f} ms, do-nothing "
            f"{median(b.p99 for b, _, _ in paced):.1f} ms)"
        )


NAMES = ("do-nothing tornado handler", "hitting-coach serve", "control (spinning)")


def report(n: int, base: Run, ours: Run, control: Run) -> None:
    print(f"round {n}:")
    for name, run in zip(NAMES, (base, ours, control), strict=True):
        print(
            f"  {name + ':':28s}{run.rate:8.0f} requests/s {run.rate * READINGS:9.0f} "
            f"readings/s, p50 {run.p50:6.1f} ms, p99 {run.p99:6.1f} ms, "
            f"CPU {run.cpu_us:5.0f} µs/request ({run.loop_us:.0f} loop)"
        )
    print(
        f"  ratio {ours.rate / base.rate:.2f}, p99 {ours.p99 / base.p99:.1f}x, "
        f"CPU per request ratio (do-nothing / ours) {base.cpu_us / ours.cpu_us:.2f}; "
        f"control: ratio {control.rate / base.rate:.2f}, p99 {control.p99 / base.p99:.1f}x",
        flush=True,
    )


def report_paced(base: Run, ours: Run, control: Run) -> None:
    paced_names = ("paced, do-nothing:", "paced, hitting-coach:", "paced, control:")
    for name, run in zip(paced_names, (base, ours, control), strict=True):
        print(
            f"  {name:28s}{run.rate:8.0f} requests/s, p50 {run.p50:6.1f} ms, "
            f"p99 {run.p99:6.1f} ms, CPU {run.cpu_us:5.0f} µs/request ({run.loop_us:.0f} loop)"
        )
    print(
        f"  paced p99 {ours.p99 / base.p99:.1f}x, control {control.p99 / base.p99:.1f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
