"""Past one process: MQTT drain with 1, 2 and 3 ``serve --worker`` processes against a
do-nothing subscriber in the same run, and a season query over 1,000 sessions with DuckDB and
with a local Dask cluster.

**Drain.** Mosquitto from deploy/mosquitto (TLS), a publisher process sending 40-reading
messages at QoS 0. The do-nothing subscriber is bench_mqtt's: a bare paho client with a
persistent session that only counts; it goes away, ``--drain`` messages are queued for it, it
comes back, and its rate is N-1 over the time from its first message to its last. The workers
are real ``hitting-coach serve --worker`` processes (shared subscription, recorder on, one
store): once all have subscribed they are paused (SIGSTOP: connected, the broker queues for
them), the messages are published, and all are resumed at once (SIGCONT); the rate is N-1
over the span of the journal lines' receive times. Every message must be in the journal once.

**Season.** A season table of ``--sessions`` sessions (20 players, 26 weeks, 60 swings each,
numbers drawn at random) is written as :mod:`hitting_coach.analysis.season` writes it; then
"every player's median hand speed by week" is asked of DuckDB (in this process) and of a
local Dask cluster (``--dask-workers`` processes, one thread each): wall time of the query,
and memory (this process's peak RSS growth for DuckDB; the workers' RSS for Dask). The
answers must be equal. Building the table from recordings is timed per session on a few
simulated sessions (the detector's cost, the same whatever the engine).

    uv run python benchmarks/bench_scale.py [--drain 20000] [--sessions 1000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from bench_mqtt import READINGS, DoNothing, Run  # noqa: E402

from hitting_coach.analysis import season  # noqa: E402
from hitting_coach.store.journal import iter_lines, segments  # noqa: E402
from services import Mosquitto  # noqa: E402
from support import wait_for  # noqa: E402


# ----------------------------------------------------------------------------------- drain
def start_workers(broker: Mosquitto, data: Path, count: int, tag: str) -> list[tuple]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))},
        **broker.server_env(HITTING_COACH_DATA_DIR=str(data)),
        "HITTING_COACH_LOG_LEVEL": "warning",
    }
    procs = []
    for i in range(count):
        log = broker.workdir / f"worker-{tag}-{i}.log"
        out = open(log, "wb")  # noqa: SIM115 (closed when the worker is stopped)
        cmd = [sys.executable, "-m", "hitting_coach.cli", "serve", "--worker",
               "--name", f"{tag}-{i}", "--group", tag]  # fmt: skip
        procs.append((subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT),
                      out, log))  # fmt: skip
    for proc, _, log in procs:
        wait_for(lambda p=proc, lg=log: p.poll() is None and "recording $share/" in lg.read_text(),
                 120, what="a worker to subscribe")  # fmt: skip
    return procs


def journal_times(data: Path) -> tuple[list[int], Counter[int]]:
    times, ids = [], Counter()
    for segment in segments(data):
        for _, line in iter_lines(segment):
            doc = orjson.loads(line)
            times.append(doc["received_ns"])
            ids[doc["message"]["messageId"]] += 1
    return times, ids


def drain_workers(run: Run, count: int, workers: int) -> tuple[float, float]:
    """Messages/s at which ``workers`` processes take ``count`` queued messages; and the
    CPU µs per message they spent (user + system, from the start of the drain)."""
    run.runs += 1
    data = run.broker.workdir / f"store-{run.runs}"
    procs = start_workers(run.broker, data, workers, f"w{run.runs}")
    for proc, _, _ in procs:
        proc.send_signal(signal.SIGSTOP)
    first_id = (run.runs) * 10_000_000
    run.publish(0, count)
    time.sleep(1)  # the broker queues the last of them
    cpu0 = [_cpu(p.pid) for p, _, _ in procs]
    for proc, _, _ in procs:
        proc.send_signal(signal.SIGCONT)
    wait_for(lambda: len(journal_times(data)[0]) >= count, 600, interval=0.5,
             what="every message journaled")  # fmt: skip
    cpu = sum(_cpu(p.pid) - c for (p, _, _), c in zip(procs, cpu0, strict=True))
    for proc, out, _ in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        out.close()
    times, ids = journal_times(data)
    assert len(ids) == count and max(ids.values()) == 1, "lost or twice"
    assert min(ids) == first_id
    return (count - 1) / ((max(times) - min(times)) / 1e9), cpu / count * 1e6


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp)).start()
        try:
            run = Run(broker)
            print(f"\n### MQTT drain of {count:,} queued messages ({os.cpu_count()} cores)\n")
            print("| round | do-nothing paho (msg/s) | 1 worker | 2 workers | 3 workers |")
            print("|---|---|---|---|---|")
            ratios: dict[int, list[float]] = {1: [], 2: [], 3: []}
            for r in range(rounds):
                base, _ = run.drain(DoNothing, count)
                cells = []
                for n in (1, 2, 3):
                    rate, cpu_us = drain_workers(run, count, n)
                    ratios[n].append(rate / base)
                    cells.append(f"{rate:,.0f} ({rate / base:.2f}; {rate / base / n:.2f} per "
                                 f"worker; {cpu_us:.0f} µs CPU/msg)")  # fmt: skip
                print(f"| {r + 1} | {base:,.0f} | " + " | ".join(cells) + " |", flush=True)
        finally:
            broker.stop()
    print("\nmedian ratio to do-nothing: " + ", ".join(
        f"{n} worker{'s' if n > 1 else ''} {np.median(v):.2f}" for n, v in ratios.items()
    ) + f" ({READINGS} readings a message)")  # fmt: skip


# ---------------------------------------------------------------------------------- season
def generate(data: Path, sessions: int, swings: int = 60, players: int = 20) -> int:
    """A season table of ``sessions`` sessions, written as build_season writes it."""
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-03-02", tz="UTC")
    rows = 0
    for k in range(sessions):
        device = f"phone-{k % players:02d}"
        t0 = start + pd.Timedelta(days=int(rng.integers(0, 26 * 7)), hours=17)
        starts = pd.DatetimeIndex([t0 + pd.Timedelta(seconds=20 * i) for i in range(swings)])
        week = (starts.tz_convert(None).normalize()
                - pd.to_timedelta(starts.day_of_week, "D")).date  # fmt: skip
        columns = {
            "device_id": [device] * swings,
            "session_id": [f"s{k:05d}"] * swings,
            "swing": np.arange(swings),
            "placement": ["pelvis+wrist"] * swings,
            "start": starts,
            "week": week,
            "counted": rng.random(swings) > 0.1,
        }
        for m in season.METRICS:
            values = rng.normal(1500, 200, swings)
            values[rng.random(swings) < 0.1] = np.nan
            columns[m] = pa.array(values, pa.float64(), from_pandas=True)
        season.write_session_swings(data, device, f"s{k:05d}", pa.Table.from_pydict(
            columns, schema=season.SCHEMA))  # fmt: skip
        rows += swings
    return rows


_DUCK = """
import resource, sys, time, pickle
from hitting_coach.analysis import season
import duckdb
if sys.argv[2] == "query":
    t = time.perf_counter()
    out = season.weekly_medians("hand_peak_dps", data_dir=sys.argv[1], engine="duckdb")
    first = time.perf_counter() - t
    t = time.perf_counter()
    season.weekly_medians("hand_peak_dps", data_dir=sys.argv[1], engine="duckdb")
    again = time.perf_counter() - t
else:
    out, first, again = None, 0.0, 0.0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
sys.stdout.buffer.write(pickle.dumps((out, first, again, rss)))
"""


def duckdb_alone(data: Path) -> tuple[pd.DataFrame, float, float, float, float]:
    """DuckDB's answer, times and peak RSS (MB) in a fresh process; and that process's peak
    RSS with the same imports and no query."""
    import pickle

    def run(what: str):
        done = subprocess.run([sys.executable, "-c", _DUCK, str(data), what],
                              capture_output=True, check=True)  # fmt: skip
        return pickle.loads(done.stdout)

    out, first, again, peak = run("query")
    return out, first, again, peak, run("none")[3]


def season_query(sessions: int, dask_workers: int) -> None:
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t = time.perf_counter()
        rows = generate(data, sessions)
        size = sum(f.stat().st_size for f in (data / season.SEASON_DIR).rglob("*.parquet"))
        print(f"\n### Season query: {sessions:,} sessions, {rows:,} swings, "
              f"{size / 1e6:.1f} MB of Parquet (written in {time.perf_counter() - t:.1f} s)\n")  # fmt: skip
        print("| engine | first query (s) | again (s) | memory |")
        print("|---|---|---|---|")
        duck, first, again, peak, base = duckdb_alone(data)
        print(f"| DuckDB (a process of its own) | {first:.2f} | {again:.2f} | peak RSS "
              f"{peak:.0f} MB ({peak - base:.0f} MB over the same process without the "
              "query) |")  # fmt: skip
        t = time.perf_counter()
        with (
            LocalCluster(
                n_workers=dask_workers, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            up = time.perf_counter() - t
            t = time.perf_counter()
            dask = season.weekly_medians(
                "hand_peak_dps", data_dir=data, engine="dask", scheduler=client
            )
            first = time.perf_counter() - t
            t = time.perf_counter()
            season.weekly_medians("hand_peak_dps", data_dir=data, engine="dask", scheduler=client)
            again = time.perf_counter() - t
            rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
        print(f"| Dask, local cluster of {dask_workers} processes (started in {up:.1f} s) | "
              f"{first:.2f} | {again:.2f} | workers' RSS "
              f"{', '.join(f'{v / 1e6:.0f}' for v in rss.values())} MB |")  # fmt: skip
        pd.testing.assert_frame_equal(duck, dask)
        print(f"\nsame answer: {len(duck)} (player, week) rows, equal")


def build_cost(count: int) -> None:
    from hitting_coach.ingest.hub import Hub
    from hitting_coach.sim.simulate import simulate
    from hitting_coach.store.recorder import Recorder

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        recorder = Recorder(data)
        hub = Hub(sink=recorder)
        recorder.open()
        for k in range(count):
            sim = simulate("pelvis+wrist", duration_s=60, rate_hz=100, seed=k)
            for m in sim.messages(session_id=f"s{k}", device_id=f"phone-{k % 3}"):
                hub.ingest(orjson.dumps(m), source="replay")
        recorder.close()
        t = time.perf_counter()
        done = season.build_season(data)
        built = time.perf_counter() - t
        t = time.perf_counter()
        season.build_season(data)
        unchanged = time.perf_counter() - t
        print(f"\nbuilding the table from recordings: {done.built} sessions of 60 s at 100 Hz "
              f"({done.swings} swings) in {built:.2f} s ({built / done.built * 1000:.0f} ms a "
              f"session); again with nothing changed {unchanged:.2f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drain", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--build-sessions", type=int, default=10)
    args = parser.parse_args()
    if args.drain:
        drain(args.drain, args.rounds)
    if args.sessions:
        season_query(args.sessions, args.dask_workers)
    if args.build_sessions:
        build_cost(args.build_sessions)


if __name__ == "__main__":
    main()
