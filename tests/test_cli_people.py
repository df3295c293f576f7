"""Issue 25 item 8: the command line speaks to a coach. Each test runs ``hitting-coach`` as a
subprocess and reads what a person would read: the text and the exit code."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time

import orjson
import pytest

from hitting_coach.analysis.report_data import ReportData
from hitting_coach.ingest.hub import Hub
from hitting_coach.store.recorder import Recorder
from support import message

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_swings_prints_a_table_a_coach_reads(recorded_swings):
    data_dir, _ = recorded_swings
    table = ReportData.load("sim-swings", data_dir).table
    done = cli("swings", "sim-swings", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = lines[0].split()
    assert head[:3] == ["#", "time", "placement"] and head[-1] == "flags"
    assert "pelvis" in head and "hand" in head
    rows = lines[1:-1]
    assert len(rows) == len(table)
    assert lines[-1] == f"{len(table)} swings"
    clipped = table["hand_clipped"].fillna(False).astype(bool).to_numpy()
    assert clipped.any() and not clipped.all()
    for number, (line, was_clipped, measured) in enumerate(
        zip(rows, clipped, table["hand_peak_measured_dps"], strict=True), start=1
    ):
        assert re.match(rf"\s*{number}\s+\d\d:\d\d:\d\d\s+pelvis\+wrist\s", line), line
        assert not re.search(r"\d{6,}|\.\d{3,}", line), line  # no epoch ns, no long floats
        if was_clipped:  # a lower bound, said so, and the flag in words
            assert f"≥{measured:.0f} °/s" in line and "gyro clipped" in line, line
        else:
            assert f"{measured:.0f} °/s" in line and "≥" not in line, line
    # --format csv and json keep every column (for a spreadsheet or a program)
    full = cli("swings", "sim-swings", "--data-dir", str(data_dir), "--format", "csv")
    columns = next(csv.reader(io.StringIO(full.stdout)))
    assert set(columns) >= set(table.columns) and len(columns) > 40  # marks' columns too
    as_json = json.loads(
        cli("swings", "sim-swings", "--data-dir", str(data_dir), "--format", "json").stdout
    )
    assert len(as_json) == len(table) and set(as_json[0]) == set(columns)


def test_missing_paths_and_empty_data_dirs_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (("evaluate", "/nonexistent"), "no such file or folder: /nonexistent"),
        (("sessions", "--data-dir", "/nonexistent"), "no data directory /nonexistent"),
        (("swings", "latest", "--data-dir", "/nonexistent"), "no data directory /nonexistent"),
        (("sessions", "--data-dir", str(tmp_path / "empty")), "no sessions in"),
        (("report", "latest", "--data-dir", str(tmp_path / "empty"), "-q"), "no sessions"),
    ]
    for args, said in cases:
        done = cli(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("hitting-coach: error: ") and said in done.stderr, (
            args,
            done.stderr,
        )
        assert "Traceback" not in done.stderr


def _watch_messages(start_ns: int, seconds: int) -> list[dict]:
    """A watch at 50 Hz that sends one second, then pauses one second, ``seconds`` times."""
    out = []
    for k in range(seconds):
        t0 = start_ns + 2 * k * 10**9
        payload = [
            {
                "name": "wrist motion",
                "time": t0 + i * 20_000_000,
                "values": {
                    "rotationRateX": 0.1,
                    "rotationRateY": 0.2,
                    "rotationRateZ": 0.3,
                    **{f"acceleration{a}": 0.0 for a in "XYZ"},
                    **{f"gravity{a}": -1.0 if a == "Z" else 0.0 for a in "XYZ"},
                    **{f"quaternion{a}": 1.0 if a == "W" else 0.0 for a in "WXYZ"},
                },
            }
            for i in range(50)
        ]
        out.append(message(k, payload, device="watch-1", session="watch-session"))
    return out


def test_sessions_says_a_paused_50_hz_watch_is_50_hz_like_the_live_page(tmp_path):
    data = tmp_path / "data"
    hub = Hub(sink=(recorder := Recorder(data)))
    recorder.open()
    try:
        for m in _watch_messages(time.time_ns() - 60 * 10**9, 10):
            hub.ingest(orjson.dumps(m))
        live = hub.status()["devices"]["watch-1"]["wrist motion"]["rate_hz"]
    finally:
        recorder.close()
    assert live == 50.0  # the live page's status line says this
    done = cli("sessions", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "wrist motion 50 Hz" in done.stdout, done.stdout  # count/span would say 26 Hz
    assert done.stdout.splitlines()[-1].startswith("1 session, 500 readings in ")


def test_help_is_plain_text_and_every_format_option_says_what_it_does():
    for command in ("serve", "broker", "sessions", "import", "export", "swings", "replay"):
        done = cli(command, "--help")
        assert done.returncode == 0, done.stderr
        assert "``" not in done.stdout and "`" not in done.stdout.replace("'", ""), command
    for command in ("swings", "export"):
        text = " ".join(cli(command, "--help").stdout.split())
        described = re.search(r"--format \{[a-z,]+\} (\S+)", text)
        assert described and not described.group(1).startswith("--"), (command, text)
