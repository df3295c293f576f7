"""Report generation: seconds to write the HTML report of a long session, and the file's size.

Records a simulated session (default: 10 minutes, bat placement: accelerometer and gyroscope,
both at 500 Hz, a swing every 6 s) through the hub and the recorder into a temporary data
directory, then times ``hitting-coach report`` on it as a user runs it (a fresh process, a
clean kernel, the HTML export). Target: under 20 s.

    uv run python benchmarks/bench_report.py [--minutes 10] [--rate 500] [--runs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.recorder import Recorder


def record(data_dir: Path, minutes: float, rate_hz: float) -> tuple[int, int]:
    """Record the simulated session; returns (readings, true swings)."""
    sim = simulate("bat", duration_s=minutes * 60, rate_hz=rate_hz, seed=42)
    recorder = Recorder(data_dir)
    hub = Hub(capacity=10_000, sink=recorder)
    for key in recorder.open():
        hub.remember(key)
    for message in sim.messages(session_id="bench-session", device_id="bench-phone"):
        hub.ingest(orjson.dumps(message), source="replay")
    recorder.close()
    return sum(len(f) for f in sim.frames.values()), len(sim.truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="Hz, each sensor")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        readings, swings = record(data_dir, args.minutes, args.rate)
        print(
            f"recorded {readings:,} readings (2 sensors at {args.rate:.0f} Hz, "
            f"{args.minutes:g} min, {swings} swings) in {time.perf_counter() - started:.1f} s"
        )
        out = Path(tmp) / "report.html"
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null"]
            cmd += ["report", "latest", "-q", "--data-dir", str(data_dir), "-o", str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"report failed ({done.returncode}):\n{done.stderr}")
            times.append(time.perf_counter() - started)
        size = out.stat().st_size
        print(f"report: {', '.join(f'{t:.1f}' for t in times)} s per run (best {min(times):.1f} s)")
        print(f"report file: {size / 1e6:.2f} MB ({size:,} bytes)")


if __name__ == "__main__":
    main()
