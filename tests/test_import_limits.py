"""Imports stream, within a decompressed-size limit: a zip bomb is refused naming its entry,
with memory bounded (issue 11, item 11)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest

from hitting_coach.cli import main
from hitting_coach.errors import SessionError
from hitting_coach.store.exports import import_export
from hitting_coach.store.sessions import list_sessions

HEADER = b"time,seconds_elapsed,x,y,z\n"
ROW = b"1714572202123456789,0.01,0.125,-9.8125,0.5\n"
GIB = 1 << 30


def zip_bomb(path, name: str, total_bytes: int, declared_bytes: int | None = None) -> int:
    """Write a zip whose one entry, ``name``, is a Sensor Logger CSV of ``total_bytes``: a
    header, then one row over and over (a few MB on disk). ``declared_bytes`` makes the zip's
    headers claim another size. Built in seconds from 8 compressed MiB repeated: each copy
    is compressed on its own (full flush), so the copies chain into one valid deflate stream.
    Returns the entry's real size."""
    piece = ROW * ((8 << 20) // len(ROW))
    copies = (total_bytes - len(HEADER)) // len(piece)
    size = len(HEADER) + copies * len(piece)

    def alone(data: bytes, final: bool = False) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    head, body, end = alone(HEADER), alone(piece), alone(b"", final=True)
    crc = zlib.crc32(HEADER)
    for _ in range(copies):
        crc = zlib.crc32(piece, crc)
    compressed = len(head) + copies * len(body) + len(end)
    declared = size if declared_bytes is None else declared_bytes
    raw_name = name.encode()
    fields = (8, 0, 0x21, crc, compressed, declared, len(raw_name))  # deflate, 1980-01-01
    with open(path, "wb") as f:
        f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + raw_name)
        f.write(head)
        for _ in range(copies):
            f.write(body)
        f.write(end)
        directory = f.tell()
        f.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0, 0))
        f.write(raw_name)
        length = f.tell() - directory
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, length, directory, 0))
    return size


def csv_bytes(rows: int) -> bytes:
    step = 10_000_000
    return HEADER + b"".join(
        b"%d,%.2f,0.125,-9.8125,0.5\n" % (1_714_572_202_123_456_789 + i * step, i / 100)
        for i in range(rows)
    )


def test_the_bomb_builder_makes_a_valid_zip(tmp_path):
    path = tmp_path / "small.zip"
    size = zip_bomb(path, "Accelerometer.csv", 20 << 20)
    with zipfile.ZipFile(path) as z:
        data = z.read("Accelerometer.csv")
    assert len(data) == size and data.startswith(HEADER + ROW) and data.endswith(ROW)
    assert path.stat().st_size < size / 100


@pytest.mark.integration
def test_a_zip_bomb_is_refused_naming_its_entry_with_memory_bounded(tmp_path):
    bomb = tmp_path / "bomb.zip"
    zip_bomb(bomb, "2024-05-01/Accelerometer.csv", 2 * GIB - 1)
    assert bomb.stat().st_size < 10_000_000  # 2 GiB of CSV in a few MB
    normal = tmp_path / "normal"
    normal.mkdir()
    (normal / "Accelerometer.csv").write_bytes(csv_bytes(1000))

    def run(source, data) -> tuple[int, str, int]:
        """Exit code, stderr and peak RSS (bytes) of `hitting-coach import`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))}
        err = tmp_path / "stderr"
        with open(err, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hitting_coach.cli", "import", str(source)]
                + ["--data-dir", str(data)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode, err.read_text(), usage.ru_maxrss * 1024

    code, _, baseline_rss = run(normal, tmp_path / "data-normal")
    assert code == 0
    code, err, rss = run(bomb, tmp_path / "data")
    assert code == 1
    assert err == (
        "hitting-coach: error: Accelerometer.csv: the export holds more than the import limit "
        "of 1,000,000,000 bytes (decompressed; HITTING_COACH_IMPORT_MAX_BYTES); nothing "
        "imported\n"
    )
    # Memory as for a thousand-row import, nowhere near the 2 GiB the entry holds.
    assert rss < baseline_rss + 100_000_000, (rss, baseline_rss)
    assert list_sessions(tmp_path / "data").empty


def test_an_entry_holding_more_than_it_says_is_cut_off_there(tmp_path):
    bomb = tmp_path / "liar.zip"
    zip_bomb(bomb, "Accelerometer.csv", GIB, declared_bytes=1 << 20)
    with pytest.raises(SessionError, match=r"^Accelerometer.csv: damaged in the zip \(Bad CRC"):
        import_export(bomb, tmp_path / "data")
    assert list_sessions(tmp_path / "data").empty


def test_the_limit_counts_every_file_together_zip_folder_or_json(tmp_path, monkeypatch, capsys):
    one = csv_bytes(20_000)  # about 1 MB each
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("Accelerometer.csv", "Gravity.csv", "Gyroscope.csv"):
        (folder / name).write_bytes(one)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("Accelerometer.csv", "Gravity.csv", "Gyroscope.csv"):
            z.writestr(f"2024-05-01/{name}", one)
    limit = 2 * len(one) + 1000
    monkeypatch.setenv("HITTING_COACH_IMPORT_MAX_BYTES", str(limit))
    data = tmp_path / "data"
    for source in (archive, folder):
        assert main(["import", str(source), "--data-dir", str(data)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("hitting-coach: error: Gyroscope.csv: the export holds more than ")
        assert f"limit of {limit:,} bytes" in err
    assert list_sessions(data).empty

    json_export = tmp_path / "export.json"
    json_export.write_bytes(b"[" + b'{"sensor": "Metadata"},' * (limit // 20) + b"{}]")
    with pytest.raises(SessionError, match="^export.json: the export holds more"):
        import_export(json_export, data, max_bytes=limit)

    # Replaying an export reads it under the same limit (it is read before anything is sent).
    assert main(["replay", str(archive), "--to", "http://127.0.0.1:9/data"]) == 1
    assert f"limit of {limit:,} bytes" in capsys.readouterr().err

    # Within the limit, the same export imports whole.
    monkeypatch.setenv("HITTING_COACH_IMPORT_MAX_BYTES", str(3 * len(one)))
    assert main(["import", str(archive), "--data-dir", str(data)]) == 0
    assert "gyroscope 20,000" in capsys.readouterr().out
    assert list_sessions(data).iloc[0]["readings"] == 60_000
