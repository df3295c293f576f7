"""Recorder figures: ingest throughput with and without the recorder, bytes on disk per
reading, and the time to load a 10-minute session into pandas.

    uv run python benchmarks/bench_recorder.py [--minutes 10] [--rounds 3]

The session is what a phone on a bat sends: gyroscope and accelerometer at 500 Hz each,
pushed every 0.2 s (200 readings per message), with full-precision values. Throughput is the
hub's ``ingest`` in one thread (parse, de-duplicate, record, ring buffers), the hub without a
recorder measured in the same run as the baseline; rounds alternate and the median is shown.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from hitting_coach.ingest.hub import Hub
from hitting_coach.store.journal import read_tail
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import list_sessions, load_session

RATE_HZ = 500
BATCH_S = 0.2
T0 = 1_714_572_202_000_000_000


def messages(minutes: float, session: str) -> list[bytes]:
    per = int(RATE_HZ * BATCH_S)
    step = 1_000_000_000 // RATE_HZ
    out = []
    for k in range(int(minutes * 60 / BATCH_S)):
        payload = []
        for sensor, offset in (("gyroscope", 0), ("accelerometer", 777)):
            for i in range(per):
                t = T0 + k * per * step + i * step + offset
                s = t / 1e9
                payload.append(
                    {
                        "name": sensor,
                        "time": t,
                        "values": {
                            "x": 20 * math.sin(2 * s),
                            "y": 20 * math.sin(3 * s + 1),
                            "z": 20 * math.sin(5 * s + 2),
                        },
                    }
                )
        doc = {"messageId": k, "sessionId": session, "deviceId": "bat-phone", "payload": payload}
        out.append(orjson.dumps(doc))
    return out


def ingest(hub: Hub, raws: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in raws:
        hub.ingest(raw)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="session length")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raws = messages(args.minutes, "bench")
    readings = len(raws) * int(2 * RATE_HZ * BATCH_S)
    print(
        f"session: {args.minutes:g} min, 2 sensors at {RATE_HZ} Hz = {readings:,} readings, "
        f"{len(raws):,} messages"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    try:
        bare, recorded, closing = [], [], []
        data = root / "data"
        for r in range(args.rounds):
            bare.append(readings / ingest(Hub(capacity=60_000), raws))
            shutil.rmtree(data, ignore_errors=True)
            recorder = Recorder(data)  # default fsync 1 s, Parquet every 10 s
            recorder.open()
            hub = Hub(capacity=60_000, sink=recorder)
            took = ingest(hub, raws)
            started = time.perf_counter()
            recorder.close()
            closing.append(time.perf_counter() - started)
            recorded.append(readings / took)
            print(
                f"  round {r + 1}: hub alone {bare[-1]:,.0f}/s, with recorder "
                f"{recorded[-1]:,.0f}/s, close {closing[-1]:.2f} s"
            )
        b, w = statistics.median(bare), statistics.median(recorded)
        print(
            f"ingest throughput (median of {args.rounds}): hub alone {b:,.0f} readings/s, "
            f"with recorder {w:,.0f} readings/s ({w / b:.2f}x); "
            f"{w / (2 * RATE_HZ):,.0f}x one phone's 2 x {RATE_HZ} Hz"
        )
        print(f"close (flush and convert the rest): median {statistics.median(closing):.2f} s")

        every = root / "every"
        recorder = Recorder(every, fsync_interval_s=0)
        recorder.open()
        subset = raws[:500]
        took = ingest(Hub(sink=recorder), subset)
        recorder.close()
        print(
            f"with fsync on every message: {len(subset) / took:,.0f} messages/s "
            f"({len(subset) * int(2 * RATE_HZ * BATCH_S) / took:,.0f} readings/s)"
        )

        journal = sum(p.stat().st_size for p in (data / "journal").glob("*.jsonl"))
        with Recorder(data):  # a restart compacts the session's parts into one per sensor
            pass
        parquet = sum(p.stat().st_size for p in (data / "sessions").rglob("*.parquet"))
        print(
            f"bytes on disk per reading: journal {journal / readings:.1f}, "
            f"Parquet {parquet / readings:.1f} "
            f"(journal {journal / 1e6:.0f} MB, Parquet {parquet / 1e6:.1f} MB)"
        )

        times = []
        for _ in range(5):
            started = time.perf_counter()
            session = load_session("bench", data)
            times.append(time.perf_counter() - started)
        assert session.readings == readings, session
        print(
            f"load_session of the {args.minutes:g}-minute session: first {times[0]:.3f} s, "
            f"best {min(times):.3f} s ({session.readings:,} readings, 2 DataFrames)"
        )
        started = time.perf_counter()
        list_sessions(data)
        print(f"list_sessions: {time.perf_counter() - started:.3f} s")

        # What a crash leaves: the journal alone, read without any Parquet.
        crashed = root / "crashed"
        (crashed / "journal").mkdir(parents=True)
        for segment in (data / "journal").glob("*.jsonl"):
            shutil.copy(segment, crashed / "journal" / segment.name)
        started = time.perf_counter()
        tail = read_tail(crashed)
        took = time.perf_counter() - started
        n = sum(len(b) for s in tail.batches.values() for bs in s.values() for b in bs)
        print(
            f"reading the same session from the journal only (after a crash, before the "
            f"restart converts it): {took:.2f} s for {n:,} readings"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
