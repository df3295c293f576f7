"""Issue 29, finding 4: a bad session is one bad row. A session whose readings cannot be
analysed shows "cannot analyse: reason" on its own row while every other session is counted,
and can still be deleted and exported; an import whose columns do not match the sensor it
claims is refused with one line; ``hitting-coach swings`` prints one line, no traceback."""

from __future__ import annotations

import io
import time
import zipfile

import pyarrow as pa
import pytest

from hitting_coach.analysis.session_overview import session_rows
from hitting_coach.errors import SessionError
from hitting_coach.store.exports import import_export, stream_export_zip
from hitting_coach.store.layout import sensor_dir
from hitting_coach.store.parts import write_table
from hitting_coach.store.session_admin import delete_session
from hitting_coach.store.sessions import list_sessions, refresh_index
from support import motion_messages


def _bad_session(data, device="phone-bad", session="broken"):
    """A session whose gyroscope has a column ``a`` instead of x, y, z (what an old import
    stored), written as Parquet straight into the data directory."""
    t0 = time.time_ns() - 30_000_000_000
    table = pa.table(
        {
            "time_ns": pa.array([t0 + i * 20_000_000 for i in range(50)], pa.int64()),
            "a": pa.array([float(i) for i in range(50)], pa.float64()),
        }
    )
    write_table(sensor_dir(data, device, session, "gyroscope") / "part-x.parquet", table)
    refresh_index(data)


def test_a_session_that_cannot_be_analysed_is_one_row_and_still_deletes_and_exports(
    tmp_path, record
):
    data = tmp_path / "data"
    record(data, motion_messages(30, time.time_ns() - 90_000_000_000, session="good"))
    _bad_session(data)
    rows = {r.session_id: r for r in session_rows(data)}
    assert rows["good"].swings is not None and rows["good"].problem == ""
    bad = rows["broken"]
    assert bad.swings is None
    assert bad.problem.startswith("cannot analyse: ")
    assert "gyroscope" in bad.problem and "Traceback" not in bad.problem
    blob = b"".join(stream_export_zip(data, "phone-bad", "broken"))
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert "Gyroscope.csv" in z.namelist()
    delete_session(data, "phone-bad", "broken")
    assert list(list_sessions(data)["session_id"]) == ["good"]


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_an_import_whose_columns_do_not_match_its_sensor_is_refused_in_one_line(tmp_path):
    t = time.time_ns()
    export = _zip(
        tmp_path / "bad.zip",
        {
            "Accelerometer.csv": f"time,seconds_elapsed,z,y,x\n{t},0,1,2,3\n",
            "Gyroscope.csv": f"time,seconds_elapsed,a\n{t},0,1\n{t + 10**7},0.01,2\n",
        },
    )
    data = tmp_path / "data"
    with pytest.raises(SessionError) as e:
        import_export(export, data)
    text = str(e.value)
    assert "\n" not in text
    assert "Gyroscope.csv" in text and "x, y, z" in text and "nothing imported" in text
    assert list_sessions(data).empty  # nothing stored


def test_a_text_column_where_a_sensor_needs_numbers_is_refused(tmp_path):
    t = time.time_ns()
    export = _zip(
        tmp_path / "bad.zip",
        {"Gyroscope.csv": f"time,seconds_elapsed,x,y,z\n{t},0,1,2,zz\n"},
    )
    with pytest.raises(SessionError, match=r"Gyroscope.csv: column z .*numbers"):
        import_export(export, tmp_path / "data")


def test_the_swings_command_prints_one_line_for_a_session_it_cannot_analyse(tmp_path, capsys):
    from hitting_coach.cli import main

    data = tmp_path / "data"
    _bad_session(data)
    code = main(["swings", "phone-bad/broken", "--data-dir", str(data)])
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hitting-coach: error: ")
    assert "cannot analyse" in lines[0] and "gyroscope" in lines[0]
