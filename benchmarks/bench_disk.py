"""Disk use per hour of a typical phone: accelerometer and gyroscope at 100 Hz.

    uv run python benchmarks/bench_disk.py [--minutes 10]

The simulator's pelvis phone (realistic full-precision values, 0.2 s per message) goes through
the hub into a recorder; the journal and the Parquet files (after the restart that compacts
them) are measured and scaled to one hour. With journal retention, the journal on disk at any
time is what the phone sent in the current segment (at most 10 minutes) plus the retention
(``HITTING_COACH_JOURNAL_RETENTION_S``, 1 hour by default) after its conversion.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import iter_demo_messages
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import list_sessions

SENSORS = {"accelerometer", "gyroscope"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    count = int(args.minutes * 60 / 0.2)
    start_ns = time.time_ns() - int(args.minutes * 60e9)
    raws = []
    for _, message in itertools.islice(iter_demo_messages(start_ns, placement="pelvis"), count):
        message["payload"] = [r for r in message["payload"] if r["name"] in SENSORS]
        raws.append(orjson.dumps(message))
    root = Path(tempfile.mkdtemp(prefix="bench-disk-"))
    try:
        with Recorder(root) as recorder:
            hub = Hub(sink=recorder)
            for raw in raws:
                hub.ingest(raw, source="http")
        journal = sum(p.stat().st_size for p in (root / "journal").glob("*.jsonl"))
        with Recorder(root):  # a restart compacts the session into one file per sensor
            pass
        parquet = sum(p.stat().st_size for p in (root / "sessions").rglob("*.parquet"))
        readings = int(list_sessions(root)["readings"].sum())
        per_hour = 60 / args.minutes
        print(
            f"{args.minutes:g} min of a phone at 100 Hz (accelerometer + gyroscope): "
            f"{readings:,} readings, {len(raws):,} messages"
        )
        print(
            f"per hour: journal {journal * per_hour / 1e6:.1f} MB, "
            f"Parquet {parquet * per_hour / 1e6:.1f} MB "
            f"({journal / readings:.0f} and {parquet / readings:.1f} bytes per reading)"
        )
        steady = journal * per_hour * (10 / 60 + 1)
        print(
            f"journal on disk with the default retention (10-minute segments + 1 h): "
            f"at most about {steady / 1e6:.0f} MB"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
