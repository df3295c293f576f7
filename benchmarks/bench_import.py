"""Peak memory of importing a long Sensor Logger export: streamed, against reading it whole.

    uv run python benchmarks/bench_import.py [--hours 1 4]

For each length, a zip export of a phone (accelerometer, gyroscope and gravity at 100 Hz, the
CSV layout of a real export) is generated; then, each in a fresh process, the same export is
(a) imported (``import_export``: read and stored a piece at a time) and (b) read whole
(``read_export``, what the import did before, and what analysing a file still does). The
figure is each process's peak resident memory (``ru_maxrss``) above what the process held
before it started, and the ratio of (a) to (b) in the same run.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

RATE_HZ = 100
T0 = 1_714_572_202_123_456_789

CHILD = """
import resource, sys, time
from pathlib import Path
from hitting_coach.store.exports import import_export, read_export
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if sys.argv[1] == "import":
    import_export(Path(sys.argv[2]), Path(sys.argv[3]))
else:
    read_export(Path(sys.argv[2]))
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, peak, took)
"""


def make_export(path: Path, hours: float) -> int:
    rows = int(hours * 3600 * RATE_HZ)
    step = 1_000_000_000 // RATE_HZ
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Metadata.csv", "device id,session id,name\nbench,long,Long session\n")
        for k, name in enumerate(("Accelerometer", "Gyroscope", "Gravity")):
            with archive.open(f"{name}.csv", "w") as raw:
                out = io.TextIOWrapper(raw, "utf-8", newline="")
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(["time", "seconds_elapsed", "z", "y", "x"])
                for i in range(rows):
                    a = i / 37 + k
                    writer.writerow(
                        [T0 + i * step, i / RATE_HZ, math.sin(a), math.cos(a), math.sin(2 * a)]
                    )
                out.flush()
                out.detach()
    return rows


def run(mode: str, export: Path, data: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(export), str(data)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    before, peak, took = int(out[0]), int(out[1]), float(out[2])
    return (peak - before) / 1024, took  # MB (ru_maxrss is in kB on Linux), s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 4.0])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {resource.getpagesize()} B pages")
    with tempfile.TemporaryDirectory() as tmp:
        for hours in args.hours:
            export = Path(tmp) / f"export-{hours}h.zip"
            t = time.perf_counter()
            rows = make_export(export, hours)
            made = time.perf_counter() - t
            size = export.stat().st_size / 1e6
            streamed, streamed_s = run("import", export, Path(tmp) / f"data-{hours}")
            whole, whole_s = run("read", export, Path(tmp) / "unused")
            print(
                f"{hours:g} h ({rows:,} rows x 3 sensors, zip {size:.0f} MB, made in {made:.0f} s): "
                f"import streamed +{streamed:.0f} MB peak in {streamed_s:.1f} s; "
                f"read whole +{whole:.0f} MB in {whole_s:.1f} s; "
                f"ratio {streamed / whole:.2f}"
            )


if __name__ == "__main__":
    main()
