"""Swing detector cost per second of 500 Hz data, batch and incremental, as a fraction of real
time (0.01 = 1% of one core). Prints figures only.

    uv run python benchmarks/bench_swings.py [--seconds 120] [--rate 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hitting_coach.analysis.swings import SwingDetector, SwingTracker, angular_speed_dps, swings
from hitting_coach.sim.simulate import iter_messages, simulate


def chunks_of(frames, batch_s: float, t0_ns: int):
    """Per-message, per-sensor arrays: what the hub hands the tracker."""
    out = []
    for _, message in iter_messages(frames, batch_s=batch_s, t0_ns=t0_ns):
        by_sensor: dict[str, list] = {}
        for r in message["payload"]:
            by_sensor.setdefault(r["name"], []).append(r)
        batch = []
        for name, readings in by_sensor.items():
            keys = list(readings[0]["values"])
            values = {k: np.array([r["values"][k] for r in readings]) for k in keys}
            batch.append((name, np.array([r["time"] for r in readings]), values))
        out.append(batch)
    return out


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    print(
        f"{args.seconds:.0f} s of simulated data at {args.rate:.0f} Hz per sensor, a swing every 6 s"
    )
    print(
        f"{'placement':<14}{'sensors':>8}{'readings':>10}{'mode':>14}{'cost s':>9}{'x real time':>13}"
    )
    for placement in ("pelvis", "pelvis+wrist", "bat"):
        s = simulate(
            placement, duration_s=args.seconds, rate_hz=args.rate, activity="waggle", seed=1
        )
        n = sum(len(f) for f in s.frames.values())
        gyro = s.frames["wrist motion" if "wrist" in placement else "gyroscope"]
        t_ns = gyro["time_ns"].to_numpy()
        omega = angular_speed_dps(gyro.iloc[:, 1:4].to_numpy())

        def detector_only(t_ns=t_ns, omega=omega):
            det = SwingDetector(300, 120)
            for i in range(0, len(t_ns), 100):
                det.feed(t_ns[i : i + 100], omega[i : i + 100])
            det.flush()

        batches = chunks_of(s.frames, 0.2, s.start_ns)

        def incremental(batches=batches, placement=placement):
            tracker = SwingTracker(placement)
            found = []
            for batch in batches:
                for name, t, values in batch:
                    found += tracker.feed(name, t, values)
            return found + tracker.flush()

        found = len(incremental())
        assert found == len(swings(s.frames, placement)), "live and batch disagree"
        runs = {
            "batch": lambda s=s, placement=placement: swings(s.frames, placement),
            "incremental": incremental,
            "|w| detector": detector_only,
        }
        for mode, fn in runs.items():
            cost = best_of(3, fn)
            print(
                f"{placement:<14}{len(s.frames):>8}{n:>10}{mode:>14}{cost:>9.3f}"
                f"{cost / args.seconds:>13.5f}"
            )
    print("incremental = per 200 ms message, each sensor's chunk fed as the hub does")
    print()
    print("report delay in stream time: message that reports a swing, after its last peak")
    for placement in ("pelvis", "pelvis+wrist", "bat"):
        s = simulate(placement, duration_s=args.seconds, rate_hz=args.rate, seed=2)
        tracker = SwingTracker(placement)
        delays = []
        for (send_at_ns, _), batch in zip(
            iter_messages(s.frames, t0_ns=s.start_ns),
            chunks_of(s.frames, 0.2, s.start_ns),
            strict=True,
        ):
            for name, t, values in batch:
                for row in tracker.feed(name, t, values):
                    peaks = [row[c] for c in ("pelvis_peak_ns", "hand_peak_ns", "bat_peak_ns")]
                    delays.append((send_at_ns - max(p for p in peaks if p is not None)) / 1e6)
        print(
            f"{placement:<14}{len(delays):>3} swings: median {np.median(delays):.0f} ms, "
            f"max {np.max(delays):.0f} ms"
        )


if __name__ == "__main__":
    main()
