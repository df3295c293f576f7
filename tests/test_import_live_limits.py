"""Issue 29, findings 10 and 12: an import obeys the live limits (sensors, value keys, name
rules), refusing in one line before the big part is read, and what an export writes imports
back (a NUL in a text value; a long Metadata field is a clear refusal, not a traceback)."""

from __future__ import annotations

import io
import time
import zipfile

import pandas as pd
import pytest

from hitting_coach.errors import SessionError
from hitting_coach.store.exports import import_export, stream_export_zip
from hitting_coach.store.sessions import list_sessions, load_session

T = time.time_ns() - 60 * 10**9
XYZ = f"time,seconds_elapsed,x,y,z\n{T},0,1,2,3\n{T + 10**7},0.01,1,2,3\n"


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def _refused(tmp_path, files, match):
    data = tmp_path / "data"
    with pytest.raises(SessionError, match=match) as e:
        import_export(_zip(tmp_path / "in.zip", files), data)
    assert "\n" not in str(e.value)
    assert list_sessions(data).empty
    return str(e.value)


def test_a_row_of_100000_columns_is_refused_from_its_header(tmp_path):
    def csv_of(columns: int) -> str:
        header = "time,seconds_elapsed," + ",".join(f"c{i}" for i in range(columns))
        return f"{header}\n{T},0," + ",".join("1" for _ in range(columns)) + "\n"

    _refused(
        tmp_path,
        {"Accelerometer.csv": csv_of(100_000)},
        r"Accelerometer.csv: its header line is over 65,536 bytes",
    )
    _refused(
        tmp_path,
        {"Accelerometer.csv": csv_of(1_000)},
        r"Accelerometer.csv: 1,000 value columns; a reading has at most 64",
    )


def test_more_sensor_files_than_a_live_recording_may_have_are_refused(tmp_path):
    files = {f"Thing{i}.csv": f"time,v\n{T},1\n" for i in range(40)}
    _refused(tmp_path, files, r"40 sensor files; a recording has at most 32 sensors")


def test_imported_names_obey_the_rename_rules(tmp_path):
    _refused(
        tmp_path,
        {"Gyroscope.csv": XYZ, "Metadata.csv": "device id,name\nd,evil\u202ename\n"},
        "its session name may not hold control characters",
    )
    _refused(
        tmp_path,
        {"Gyroscope.csv": XYZ, "Metadata.csv": "device id,name\nd," + "n" * 300 + "\n"},
        "its session name is 300 characters long; at most 80",
    )
    _refused(
        tmp_path,
        {"Gyroscope.csv": XYZ, "Metadata.csv": "device id\n" + "d" * 200 + "\n"},
        r"its device id is 200 bytes long; names are at most 80",
    )


def test_a_metadata_field_over_the_csv_limit_is_a_clear_refusal(tmp_path):
    _refused(
        tmp_path,
        {"Gyroscope.csv": XYZ, "Metadata.csv": 'name\n"' + "n" * 131_073 + '"\n'},
        r"Metadata.csv: not a readable Metadata.csv .*field larger than field limit",
    )


def test_an_export_with_a_nul_in_a_text_value_imports_back(tmp_path, record):
    from support import message

    data = tmp_path / "data"
    reading = {"name": "annotation", "time": T, "values": {"text": 'a\u0000b, "quoted"'}}
    record(data, [message(1, [reading], device="d", session="s")])
    blob = b"".join(stream_export_zip(data, "d", "s"))
    (tmp_path / "export.zip").write_bytes(blob)
    again = tmp_path / "again"
    import_export(tmp_path / "export.zip", again)
    before = load_session(("d", "s"), data)["annotation"]
    after = load_session(("d", "s"), again)["annotation"]
    pd.testing.assert_frame_equal(before, after)
    assert after["text"].iloc[0] == 'a\u0000b, "quoted"'
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert "Annotation.csv" in z.namelist()
