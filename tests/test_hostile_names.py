"""Hostile ids and sensor names reach the disk, the CLI and the logs safely (issue 11)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from hitting_coach.cli import main
from hitting_coach.store.sessions import load_session
from support import message

T0 = 1_714_572_202_123_456_789


def named_readings(names: list[str], n: int = 5) -> list[dict]:
    return [
        {"name": name, "time": T0 + i * 10_000_000 + k, "values": {"v": float(i + k)}}
        for k, name in enumerate(names)
        for i in range(n)
    ]


def files_under(path) -> set:
    return {p for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_only_inside_its_folder_whatever_the_sensor_names(
    tmp_path, record, capsys, fmt
):
    data = tmp_path / "data"
    nested = tmp_path / "a" / "b"
    out = nested / "out"
    nested.mkdir(parents=True)
    absolute = Path(tempfile.gettempdir()) / f"hc-abs-{os.getpid()}"  # short: names <= 80 bytes
    hostile = [
        str(absolute),  # an absolute path
        "../../up",  # two folders up from the output folder
        "..",
        "metadata",  # the CSV export's own Metadata.csv
        "a/b",
        "a_b",  # cleans up like a/b: must not overwrite it
        "x\ny\x1b[31m",
    ]
    record(data, [message(1, named_readings(hostile), device="d1", session="s1")])
    before = files_under(tmp_path) - files_under(data)

    args = ["export", "s1", "--format", fmt, "--out", str(out), "--data-dir", str(data)]
    assert main(args) == 0
    capsys.readouterr()

    written = files_under(tmp_path) - files_under(data) - before
    assert written and all(p.parent == out for p in written), sorted(map(str, written))
    suffix = ".csv" if fmt == "csv" else ".parquet"
    sensor_files = [p for p in written if p.suffix == suffix and p.name != "Metadata.csv"]
    assert len(sensor_files) == len(hostile)  # one file each, none overwritten
    assert not absolute.exists()
    for p in sensor_files:
        assert p.stem.replace("-", "").replace("_", "").isalnum(), p.name

    if fmt == "parquet":
        return
    # The CSV export still imports, every reading back under its safe name.
    target = tmp_path / "target"
    assert main(["import", str(out), "--data-dir", str(target)]) == 0
    capsys.readouterr()
    original, imported = load_session("s1", data), load_session("s1", target)
    assert imported.readings == original.readings
    assert sorted(len(f) for f in imported.frames.values()) == [5] * len(hostile)
    values = sorted(v for f in imported.frames.values() for v in f["v"])
    assert values == sorted(v for f in original.frames.values() for v in f["v"])
    assert all(isinstance(f, pd.DataFrame) for f in imported.frames.values())


FORGED = "\n2024-05-01 14:03:22  0:02.0  admin  ok"  # a forged table line
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\r\u202e"  # clear screen, window title, overwrite, RTL


def no_controls(text: str) -> bool:
    return all(c.isprintable() for line in text.split("\n") for c in line)


def test_the_sessions_table_escapes_ids_names_and_sensors(tmp_path, record, capsys):
    data = tmp_path / "data"
    record(
        data,
        [
            message(
                1,
                named_readings([f"gyro{ESCAPES}", "light"]),
                device=f"phone{FORGED}",
                session=f"s1{ESCAPES}",
            )
        ],
    )
    assert main(["sessions", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 3, out  # header, one session, the total
    assert no_controls(out), repr(out)
    assert "phone\\x0a2024" in lines[1] and "s1\\x1b[2J" in lines[1]
    assert "gyro\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\u202e" in lines[1]


def test_import_refuses_control_characters_in_names_in_one_escaped_line(tmp_path, capsys):
    """Imports obey the live limits: a sensor named after a file with control characters, or
    a session name with a forged line, is refused in one escaped line; nothing is stored."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / f"Gyro{ESCAPES}.csv".replace("/", "")).write_text("time,x\n1714572202123456789,1.5\n")
    data = tmp_path / "data"
    assert main(["import", str(folder), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and no_controls(err), repr(err)
    assert "control characters" in err and "nothing imported" in err

    for path in folder.iterdir():
        path.unlink()
    (folder / "Gyroscope.csv").write_text("time,x,y,z\n1714572202123456789,1.5,0,0\n")
    assert main(["import", str(folder), "--name", f"n{FORGED}", "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and no_controls(err), repr(err)
    assert "name may not hold control characters" in err
    assert not data.exists() or not any(p.is_file() for p in data.rglob("*.parquet"))

    (folder / "Gyroscope.csv").write_text("time,x,y,z\nyesterday,1,0,0\n")
    assert main(["import", str(folder), "--data-dir", str(tmp_path / "other")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and no_controls(err) and "Gyroscope" in err, repr(err)


def test_log_lines_escape_ids(tmp_path):
    import io
    import logging

    from hitting_coach.store.takes import TakeLog
    from hitting_coach.text import SafeFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("hitting_coach")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        takes = TakeLog(tmp_path, clock=lambda device: (T0, "s1"))
        takes.start(f"phone{FORGED}{ESCAPES}", name=f"tee{ESCAPES}")
        takes.stop(f"phone{FORGED}{ESCAPES}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = stream.getvalue().rstrip("\n").split("\n")
    assert len(lines) == 2 and no_controls("\n".join(lines)), lines
    assert lines[0].startswith("INFO hitting_coach.store.takes: take ")
    assert "started on phone\\x0a2024-05-01" in lines[0]
