"""HTTP ingest: readings/s through POST /data with 40-reading messages.

Drives, in the same run and with the same load generator, (1) a do-nothing tornado handler
that answers 200 to every POST, and (2) ``hitting-coach serve`` (parse, de-duplicate, hub,
recorder, live swing detection: everything). The load comes from ``wrk`` (Debian's package:
``apt-get install wrk``), one thread and 16 keep-alive connections posting distinct messages
(a new messageId and reading times each), so the client takes little of the 2 cores and the
servers are measured at their capacity. Prints both rates and their ratio (target: >= 0.5).

    uv run python benchmarks/bench_http.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import ServerProcess, free_port  # noqa: E402

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
  local body = '{"messageId":' .. n .. ',"sessionId":"bench","deviceId":"wrk","payload":[' ..
    table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/data", {["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(port: int, seconds: float, connections: int, script: Path) -> tuple[float, int, int]:
    """Returns (requests/s, requests completed, non-2xx responses)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
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
    return rate, done, int(bad.group(1)) if bad else 0


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
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_http: needs wrk (apt-get install wrk)")
    readings = 40

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % time.time_ns())
        port = free_port()
        baseline = subprocess.Popen([sys.executable, "-c", DO_NOTHING, str(port)])
        try:
            wait_port(port)
            base_rate, _, base_bad = run_wrk(port, args.seconds, args.connections, script)
        finally:
            baseline.terminate()
            baseline.wait()

        # wrk sends 200 ms of readings per request, far faster than real time: allow the
        # reading times to run ahead of the clock (live readings are checked, see README).
        env = {"HITTING_COACH_MAX_READING_AHEAD_S": str(10 * 86_400)}
        server = ServerProcess(Path(tmp) / "serve", env=env).start()
        try:
            rate, done, bad = run_wrk(server.port, args.seconds, args.connections, script)
            status = server.status()
        finally:
            code = server.stop()
        assert code == 0, server.output()
    assert base_bad == 0 and bad == 0, f"non-200 answers: {base_bad}, {bad}"
    counted = status["readings"] // readings
    # wrk stops counting at the deadline; requests in flight then are still accepted
    assert done <= counted <= done + args.connections, (done, counted)
    print(
        f"do-nothing tornado handler: {base_rate:8.0f} requests/s {base_rate * readings:9.0f} readings/s"
    )
    print(f"hitting-coach serve:        {rate:8.0f} requests/s {rate * readings:9.0f} readings/s")
    print(
        f"ratio: {rate / base_rate:.2f} (target >= 0.5); the server counted all "
        f"{counted * readings} readings, recording {'ok' if status['recording']['ok'] else 'FAILED'}"
    )


if __name__ == "__main__":
    main()
