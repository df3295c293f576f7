"""Report generation: seconds to write the HTML report of a long session, and the file's size.

Records a simulated session (default: 10 minutes, bat placement: accelerometer and gyroscope,
both at 500 Hz, a swing every 6 s) through the hub and the recorder into a temporary data
directory, then times ``hitting-coach report`` on it as a user runs it (a fresh process, a
clean kernel, the HTML export). Target: 5 s (issue 13).

With ``--jobs``, also times reports as the sessions page makes them (``ReportJobs`` in this
process, as the server runs it): the first asked for as the page opens, each later one a few
seconds after the one before, so the kernel kept ready has finished its imports.

    uv run python benchmarks/bench_report.py [--minutes 10] [--rate 500] [--runs 2] [--jobs]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from hitting_coach.ingest.hub import Hub
from hitting_coach.report_jobs import ReportJobs
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import session_summaries


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


def children_cpu_s() -> float:
    """CPU seconds used by this process's finished children (and theirs: the kernel)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled(jobs: ReportJobs, timeout_s: float = 60) -> None:
    """Wait until the kernel kept ready has stopped working (its imports are done)."""
    deadline = time.monotonic() + timeout_s
    while not (jobs.spare and jobs.spare.pid):
        time.sleep(0.1)
    before = -1.0
    while time.monotonic() < deadline:
        now = cpu_s(jobs.spare.pid)
        if now == before:
            return
        before = now
        time.sleep(0.5)


def time_jobs(data_dir: Path, runs: int) -> list[float]:
    """Seconds per report made by the sessions page's report jobs, the cached file removed
    before each."""
    summary = session_summaries(data_dir)[-1]
    jobs = ReportJobs()
    times = []
    try:
        jobs.prepare()
        for _ in range(runs):
            settled(jobs)
            started = time.perf_counter()
            job = jobs.start(data_dir, summary.device_id, summary.session_id, summary.end_ns)
            while job.state not in ("done", "failed"):
                time.sleep(0.02)
            if job.state == "failed":
                sys.exit(f"report job failed: {job.error}")
            times.append(time.perf_counter() - started)
            job.path.unlink()
    finally:
        jobs.close(timeout_s=60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="Hz, each sensor")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--jobs", action="store_true", help="time the sessions page's reports")
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
        times, cpu = [], []
        for _ in range(args.runs):
            started, used = time.perf_counter(), children_cpu_s()
            cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null"]
            cmd += ["report", "latest", "-q", "--data-dir", str(data_dir), "-o", str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"report failed ({done.returncode}):\n{done.stderr}")
            times.append(time.perf_counter() - started)
            cpu.append(children_cpu_s() - used)
        size = out.stat().st_size
        print(f"report: {', '.join(f'{t:.1f}' for t in times)} s per run (best {min(times):.1f} s)")
        print(f"report CPU (its process and kernel): {', '.join(f'{t:.1f}' for t in cpu)} s")
        print(f"report file: {size / 1e6:.2f} MB ({size:,} bytes)")
        if args.jobs:
            times = time_jobs(data_dir, args.runs)
            print(
                f"sessions page, kernel kept ready: {', '.join(f'{t:.1f}' for t in times)} s "
                f"per report (best {min(times):.1f} s)"
            )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
