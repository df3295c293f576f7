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

    uv run python benchmarks/bench_http.py [--seconds 10] [--connections 16] [--rounds 3]
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import ServerProcess, free_port  # noqa: E402

READINGS = 40  # per message
DO_NOTHING = """
import asyncio, sys, tornado.web
class H(tornado.web.RequestHandler):
    def check_xsrf_cookie(self): pass
    def post(self):
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


def run_wrk(
    port: int, seconds: float, connections: int, script: Path
) -> tuple[float, int, int, float]:
    """Returns (requests/s, requests completed, non-2xx responses, p99 latency in ms)."""
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
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out).groups()
    p99_ms = float(p99) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return rate, done, int(bad.group(1)) if bad else 0, p99_ms


def cpu_s(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, seconds: float, connections: int, script: Path) -> tuple:
    """:func:`run_wrk` plus the server's CPU µs per request (less at the mercy of a shared
    machine's load than the rate: what the server spent, not how long it waited)."""
    before = cpu_s(pid)
    rate, done, bad, p99 = run_wrk(port, seconds, connections, script)
    return rate, done, bad, p99, (cpu_s(pid) - before) / max(done, 1) * 1e6


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
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_http: needs wrk (apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        baseline = subprocess.Popen([sys.executable, "-c", DO_NOTHING, str(port)])
        # wrk sends 200 ms of readings per request, far faster than real time: allow the
        # reading times to run ahead of the clock (live readings are checked, see README).
        env = {"HITTING_COACH_MAX_READING_AHEAD_S": str(10 * 86_400)}
        server = ServerProcess(Path(tmp) / "serve", env=env)
        rounds = []
        try:
            wait_port(port)
            server.start()
            base_ns = time.time_ns()
            for r in range(args.rounds):
                script = Path(tmp) / f"post-{r}.lua"
                script.write_text(WRK_SCRIPT % (base_ns, f"bench-{r}"))
                base = measured(baseline.pid, port, args.seconds, args.connections, script)
                ours = measured(server.proc.pid, server.port, args.seconds, args.connections,
                                script)  # fmt: skip
                rounds.append((base, ours))
                report(r + 1, base, ours)
            status = server.status()
        finally:
            baseline.terminate()
            baseline.wait()
            code = server.stop() if server.proc is not None else 0
        assert code == 0, server.output()
    assert all(b[2] == 0 and o[2] == 0 for b, o in rounds), f"non-200 answers: {rounds}"
    counted = status["readings"] // READINGS
    done = sum(o[1] for _, o in rounds)
    # wrk stops counting at the deadline; requests in flight then are still accepted
    assert done <= counted <= done + args.connections * args.rounds, (done, counted)
    ratios = [o[0] / b[0] for b, o in rounds]
    p99s = [o[3] / b[3] for b, o in rounds]
    cpus = [b[4] / o[4] for b, o in rounds]
    print(
        f"median over {args.rounds} rounds: ratio {statistics.median(ratios):.2f} (target >= 0.7), "
        f"p99 {statistics.median(p99s):.1f}x the do-nothing handler's (target <= 3), CPU per "
        f"request ratio {statistics.median(cpus):.2f}; the server counted all "
        f"{counted * READINGS} readings, recording {'ok' if status['recording']['ok'] else 'FAILED'}"
    )


def report(n: int, base: tuple, ours: tuple) -> None:
    print(f"round {n}:")
    for name, (rate, _, _, p99, cpu_us) in (("do-nothing tornado handler", base),
                                            ("hitting-coach serve", ours)):  # fmt: skip
        print(
            f"  {name + ':':28s}{rate:8.0f} requests/s {rate * READINGS:9.0f} readings/s, "
            f"p99 {p99:6.1f} ms, CPU {cpu_us:5.0f} µs/request"
        )
    print(
        f"  ratio {ours[0] / base[0]:.2f}, p99 {ours[3] / base[3]:.1f}x, "
        f"CPU per request ratio (do-nothing / ours) {base[4] / ours[4]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
