"""HTTP ingest: readings/s through POST /data with 40-reading messages.

Runs, in the same run and with the same client, (1) a do-nothing tornado handler that answers
200 to every POST, and (2) ``hitting-coach serve`` (parse, hub, recorder, everything). Prints
both rates and their ratio (target: at least 0.5).

    uv run python benchmarks/bench_http.py [--seconds 10] [--clients 2]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import ServerProcess, free_port, motion_messages  # noqa: E402

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


def _client(port: int, bodies: list[bytes], seconds: float, out: mp.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    ok = sent = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and sent < len(bodies):
        conn.request("POST", "/data", bodies[sent], {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        ok += response.status == 200
        sent += 1
    out.put((ok, sent))


def load(port: int, clients: int, seconds: float, first_id: int) -> tuple[float, int]:
    """Post distinct 40-reading messages from ``clients`` processes; returns (msg/s, ok)."""
    per_client = int(20_000 * seconds / 10)
    queue: mp.Queue = mp.Queue()
    procs = []
    for c in range(clients):
        docs = motion_messages(per_client, first_id=first_id + c * per_client, device=f"bench-{c}")
        bodies = [orjson.dumps(d) for d in docs]
        procs.append(mp.Process(target=_client, args=(port, bodies, seconds, queue)))
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    ok = sum(r[0] for r in results)
    sent = sum(r[1] for r in results)
    assert ok == sent, f"{sent - ok} of {sent} requests failed"
    return ok / elapsed, ok


def wait_port(port: int) -> None:
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    readings = 40

    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-c", DO_NOTHING, str(port)])
    try:
        wait_port(port)
        base_rate, _ = load(port, args.clients, args.seconds, 0)
    finally:
        baseline.terminate()
        baseline.wait()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp)).start()
        try:
            rate, ok = load(server.port, args.clients, args.seconds, 0)
            status = server.status()
        finally:
            code = server.stop()
        assert code == 0, server.output()
    assert status["readings"] == ok * readings, "the server lost readings"
    print(
        f"do-nothing tornado handler: {base_rate:8.0f} requests/s {base_rate * readings:9.0f} readings/s"
    )
    print(f"hitting-coach serve:        {rate:8.0f} requests/s {rate * readings:9.0f} readings/s")
    print(f"ratio: {rate / base_rate:.2f} (target >= 0.5); all {ok * readings} readings counted")


if __name__ == "__main__":
    main()
