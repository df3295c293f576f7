"""Sensor Logger exports: round trip, and real-shaped exports with their quirks."""

from __future__ import annotations

import csv
import io
import math
import shutil
import zipfile

import orjson
import pytest

from hitting_coach.cli import main
from hitting_coach.errors import SessionError
from hitting_coach.ingest.hub import Hub
from hitting_coach.store.exports import import_export, read_export
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import list_sessions, load_session

T0 = 1_714_572_202_123_456_789  # 2024-05-01 14:03:22 UTC


def csv_text(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def wave(i: int, k: int) -> float:
    return math.sin(i / 7 + k) * 9.80665 + 1e-7 * i


def xyz_rows(start_ns: int, n: int, rate_hz: float, order: str = "zyx") -> list[list]:
    step = int(1e9 / rate_hz)
    columns = {"x": 0, "y": 1, "z": 2}
    return [
        [start_ns + i * step, i / rate_hz, *(wave(i, columns[c]) for c in order)] for i in range(n)
    ]


def quirky_export(path, metadata: str) -> dict[str, str]:
    """The files of a real-looking Android export, by name."""
    orientation_order = ["yaw", "qx", "qz", "roll", "qw", "qy", "pitch"]
    files = {
        "Accelerometer.csv": csv_text(
            ["time", "seconds_elapsed", "z", "y", "x"], xyz_rows(T0, 100, 100)
        ),
        "Gravity.csv": csv_text(
            ["time", "seconds_elapsed", "x", "y", "z"],
            xyz_rows(T0 + 130_000_000, 50, 50, order="xyz"),
        ),
        # Starts 0.4 s after the accelerometer, its columns in the order a real file had.
        "Orientation.csv": csv_text(
            ["time", "seconds_elapsed", *orientation_order],
            [
                [T0 + 400_000_000 + i * 20_000_000, 0.4 + i / 50, *(i + k / 10 for k in range(7))]
                for i in range(25)
            ],
        ),
        "Annotation.csv": csv_text(
            ["time", "seconds_elapsed", "text", "millisecond_press_duration"],
            [[T0 + 500_000_000, 0.5, "first swing, late", 180]],
        ),
        "Microphone.csv": "time,seconds_elapsed,dBFS\n",  # enabled, but nothing recorded
        "Metadata.csv": metadata,
    }
    return files


OLD_METADATA = "version,device name,recording time,platform,appVersion\n" + (
    "1,Pixel 7,2024-05-01_14-03-22,android,1.20.0"  # no trailing newline
)
NEW_METADATA = csv_text(
    [
        "version",
        "device name",
        "recording epoch time",
        "recording time",
        "recording timezone",
        "platform",
        "appVersion",
        "device id",
        "sensors",
        "sampleRateMs",
        "standardisation",
        "platform version",
    ],
    [
        [
            "3",
            "iPhone 15",
            str(T0 // 1_000_000),
            "2024-05-01_16-03-22",
            "Europe/Zurich",
            "ios",
            "1.41.0",
            "5A1F0C2E-AAAA-4BBB-8CCC-123456789ABC",
            "Accelerometer|Gravity|Orientation|Annotation",
            "10",
            "false",
            "17.4",
        ]
    ],
)


def test_a_real_shaped_zip_with_its_quirks_imports(tmp_path, capsys):
    zip_path = tmp_path / "2024-05-01_14-03-22.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        for name, text in quirky_export(tmp_path, OLD_METADATA).items():
            z.writestr(f"2024-05-01_14-03-22/{name}", text)
        z.writestr("__MACOSX/2024-05-01_14-03-22/._Accelerometer.csv", b"\x00\x05\x16\x07")
    data = tmp_path / "data"
    assert main(["import", str(zip_path), "--data-dir", str(data)]) == 0
    assert "imported 2024-05-01_14-03-22.zip as Pixel 7/2024-05-01_14-03-22" in (
        capsys.readouterr().out
    )

    session = load_session("latest", data)
    assert (session.device_id, session.name) == ("Pixel 7", "2024-05-01_14-03-22")
    assert session.sensors == ["accelerometer", "annotation", "gravity", "orientation"]
    acc = session["accelerometer"]
    assert list(acc.columns) == ["time_ns", "x", "y", "z"]  # by name, whatever the file order
    assert acc["x"].tolist() == [wave(i, 0) for i in range(100)]
    assert acc["z"].tolist() == [wave(i, 2) for i in range(100)]
    orientation = session["orientation"]
    assert orientation["yaw"].tolist() == [float(i) for i in range(25)]
    assert orientation["pitch"].tolist() == [i + 0.6 for i in range(25)]
    # Each file keeps its own time axis: nothing is aligned or filled.
    assert acc["time_ns"].iloc[0] == T0
    assert session["gravity"]["time_ns"].iloc[0] == T0 + 130_000_000
    assert orientation["time_ns"].iloc[0] == T0 + 400_000_000
    assert session["annotation"]["text"].tolist() == ["first swing, late"]
    assert "seconds_elapsed" not in acc.columns

    assert main(["sessions", "--data-dir", str(data)]) == 0
    listed = capsys.readouterr().out
    assert "2024-05-01_14-03-22" in listed and "accelerometer 100 Hz" in listed

    # Importing the same export again changes nothing.
    import_export(zip_path, data)
    assert list_sessions(data).iloc[0]["readings"] == 176


def test_the_newer_metadata_layout_and_a_folder_import(tmp_path):
    folder = tmp_path / "Recording 7"
    folder.mkdir()
    for name, text in quirky_export(tmp_path, NEW_METADATA).items():
        if name != "Gravity.csv":
            (folder / name).write_text(text)
    result = import_export(folder, tmp_path / "data")
    assert result.device_id == "5A1F0C2E-AAAA-4BBB-8CCC-123456789ABC"
    assert result.session_id == "2024-05-01_16-03-22" and result.name == "Recording 7"
    assert result.counts == {"accelerometer": 100, "annotation": 1, "orientation": 25}


def test_the_older_json_export_with_numbers_as_strings(tmp_path):
    records = [
        {"sensor": "Metadata", "device name": "Pixel 6", "recording time": "2023-10-28_13-52-24"}
    ]
    for i in range(50):
        records.append(
            {
                "sensor": "Gyroscope",
                "time": str(T0 + i * 5_000_000),
                "seconds_elapsed": str(i / 200),
                "z": repr(wave(i, 2)),
                "y": repr(wave(i, 1)),
                "x": repr(wave(i, 0)),
            }
        )
    records.append(
        {"sensor": "Annotation", "time": str(T0), "text": "tee", "millisecond_press_duration": "90"}
    )
    path = tmp_path / "2023-10-28_13-52-24.json"
    path.write_bytes(orjson.dumps(records))
    session = read_export(path)
    assert (session.device_id, session.session_id) == ("Pixel 6", "2023-10-28_13-52-24")
    gyro = session["gyroscope"]
    assert gyro["time_ns"].tolist() == [T0 + i * 5_000_000 for i in range(50)]
    assert gyro["x"].tolist() == [wave(i, 0) for i in range(50)]  # exact, not approximately
    assert session["annotation"]["millisecond_press_duration"].tolist() == [90.0]


def test_export_then_import_gives_the_same_readings(tmp_path, record, varied_messages, capsys):
    source = tmp_path / "source"
    record(source, varied_messages(25, T0))
    out = tmp_path / "export"
    assert (
        main(["export", "varied", "--format", "csv", "--out", str(out), "--data-dir", str(source)])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "Accelerometer.csv",
        "Annotation.csv",
        "Gyroscope.csv",
        "Metadata.csv",
        "Orientation.csv",
    ]
    zip_path = shutil.make_archive(str(tmp_path / "varied-export"), "zip", out)
    target = tmp_path / "target"
    assert main(["import", zip_path, "--data-dir", str(target)]) == 0

    original, imported = load_session("varied", source), load_session("varied", target)
    assert imported.device_id == "pixel-8" and imported.name == "varied-export"
    assert imported.sensors == original.sensors
    for sensor in original.sensors:
        assert imported[sensor].equals(original[sensor]), sensor
    capsys.readouterr()


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"Gyroscope.csv": "seconds_elapsed,x,y,z\n0,1,2,3\n"}, "Gyroscope.csv: no 'time' column"),
        (
            {"Gyroscope.csv": "time,x,y,z\n1714572202123456789,1,2,3\nyesterday,1,2,3\n"},
            "Gyroscope.csv: row 2: time 'yesterday' is not epoch nanoseconds",
        ),
        ({"Metadata.csv": OLD_METADATA}, "no sensor readings found"),
    ],
)
def test_a_broken_export_is_refused_naming_the_file_and_nothing_is_stored(
    tmp_path, files, error, capsys
):
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    data = tmp_path / "data"
    with pytest.raises(SessionError, match=error):
        import_export(folder, data)
    assert main(["import", str(folder), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hitting-coach: error: ") and len(err.strip().splitlines()) == 1
    assert list_sessions(data).empty


def test_not_an_export_is_refused(tmp_path):
    bogus = tmp_path / "photo.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(SessionError, match="not a zip file, folder or JSON export"):
        import_export(bogus, tmp_path / "data")
    with pytest.raises(SessionError, match="does not exist"):
        import_export(tmp_path / "missing.zip", tmp_path / "data")


def test_an_import_while_the_server_records_into_the_same_data_dir(tmp_path, record):
    data = tmp_path / "data"
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in quirky_export(tmp_path, OLD_METADATA).items():
        (folder / name).write_text(text)
    recorder = Recorder(data, parquet_interval_s=0.1)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        from support import motion_messages

        for doc in motion_messages(10, start_ns=T0):
            hub.ingest(orjson.dumps(doc))
        import_export(folder, data)
        for doc in motion_messages(10, start_ns=T0 + 2 * 10**9, first_id=10):
            hub.ingest(orjson.dumps(doc))
    finally:
        recorder.close()
    table = list_sessions(data).set_index("session_id")
    assert table.loc["session-1", "readings"] == 800
    assert table.loc["2024-05-01_14-03-22", "readings"] == 176
