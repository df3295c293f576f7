"""Memory of the live hub against hostile names: resident memory (RSS) added by messages that
cost the sender almost nothing.

    uv run python benchmarks/bench_memory.py [--devices 10000]

Each scenario runs in a fresh Python process (so one cannot inherit another's freed memory)
with the server's hub (60,000-reading buffers, the default limits) and prints the RSS it
added, read from ``/proc/self/status``. ``raised`` scenarios lift the limit that would refuse
the attack, to show what the data itself costs: memory grows with readings, not names.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SCENARIO = r"""
import gc, json, sys, time
import orjson
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import Limits
from hitting_coach.errors import MessageError

def rss_mb():
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

name, devices, raised = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "raised"
limits = Limits(max_keys=5000, max_sensors=5000) if raised else Limits()
hub = Hub(capacity=60_000, limits=limits, check_time=True,
          max_devices=devices if raised else 100)
now = time.time_ns()

def msg(device, payload, mid=0):
    return orjson.dumps({"messageId": mid, "sessionId": "s", "deviceId": device,
                         "payload": payload})

xyz = lambda t: {"name": "gyroscope", "time": t, "values": {"x": 1.0, "y": 2.0, "z": 3.0}}
if name == "devices":
    bodies = [msg(f"device-{k:05d}", [xyz(now)]) for k in range(devices)]
elif name == "keys":
    bodies = [msg("d", [{"name": "bat", "time": now,
                         "values": {f"k{i}": 1.0 for i in range(2000)}}])]
else:
    bodies = [msg("d", [{"name": f"sensor-{i}", "time": now, "values": {"v": 1.0}}
                        for i in range(1000)])]
before = rss_mb()
refused = 0
for body in bodies:
    try:
        hub.ingest(body)
    except MessageError:
        refused += 1
print(json.dumps({"added_mb": rss_mb() - before, "refused": refused, "sent": len(bodies),
                  "bytes": sum(map(len, bodies)), "live_devices": len(hub.devices())}))
"""


def run(name: str, devices: int, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCENARIO, name, str(devices), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()
    rows = [
        (f"{args.devices:,} new device ids, one reading each", "devices"),
        ("one message of 2,000 value keys", "keys"),
        ("one message of 1,000 new sensor names", "sensors"),
    ]
    print("| attack | limits | messages (bytes) | refused | live devices | RSS added |")
    print("|---|---|---|---|---|---|")
    for label, name in rows:
        for mode in ("default", "raised"):
            r = run(name, args.devices, mode)
            print(
                f"| {label} | {mode} | {r['sent']:,} ({r['bytes'] / 1024:,.0f} KB) | "
                f"{r['refused']:,} | {r['live_devices']:,} | {r['added_mb']:,.1f} MB |"
            )


if __name__ == "__main__":
    main()
