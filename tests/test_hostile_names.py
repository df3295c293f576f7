"""Hostile ids and sensor names reach the disk, the CLI and the logs safely (issue 11)."""

from __future__ import annotations

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
    hostile = [
        str(tmp_path / "absolute"),  # an absolute path
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
