"""Issue 29, finding 6 (store side): a session's export zip is streamed as it is built, one
sensor in memory at a time and nothing in /tmp, and at most ``HITTING_COACH_MAX_EXPORTS`` are
made at once (``ExportsBusy`` beyond, which the web handler answers with 503)."""

from __future__ import annotations

import io
import tempfile
import threading
import time
import zipfile

import numpy as np
import pyarrow as pa
import pytest

from hitting_coach.errors import ExportsBusy, SessionError
from hitting_coach.store.exports import ExportStream, import_export, stream_export_zip, write_export
from hitting_coach.store.layout import sensor_dir
from hitting_coach.store.marks import mark_not_swing
from hitting_coach.store.parts import write_table
from hitting_coach.store.sessions import load_session, refresh_index
from support import motion_messages


class RssPeak:
    """How much this process's resident memory grew at its peak within the block (sampled
    every 5 ms from /proc)."""

    def __enter__(self) -> RssPeak:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = self.peak - self.base

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096


SENSORS = (
    "accelerometer",
    "gyroscope",
    "gravity",
    "magnetometer",
    "totalacceleration",
    "accelerometeruncalibrated",
)


def _big_session(data, rows: int, device: str = "phone-1"):
    rng = np.random.default_rng(1)
    t0 = time.time_ns() - 3_600_000_000_000
    for sensor in SENSORS:
        table = pa.table(
            {
                "time_ns": pa.array(t0 + np.arange(rows, dtype=np.int64) * 10_000_000),
                **{c: pa.array(rng.normal(size=rows)) for c in "xyz"},
            }
        )
        write_table(sensor_dir(data, device, "long", sensor) / "part-1.parquet", table)
    refresh_index(data)


def test_a_big_export_streams_in_small_chunks_with_bounded_memory_and_no_temp_files(
    tmp_path, monkeypatch
):
    data = tmp_path / "data"
    rows = 120_000
    _big_session(data, rows)
    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    monkeypatch.setenv("TMPDIR", str(spill))
    _big_session(data, 2_000, device="warm-up")
    b"".join(stream_export_zip(data, "warm-up", "long"))  # libraries loaded, buffers made
    sizes = []
    total = tmp_path / "out.zip"  # what the client receives, on disk: not counted
    stream = stream_export_zip(data, "phone-1", "long", chunk_bytes=1 << 16)
    with RssPeak() as rss, total.open("wb") as out, stream:
        for chunk in stream:
            sizes.append(len(chunk))
            out.write(chunk)
            del chunk
    peak = rss.growth
    with zipfile.ZipFile(total) as z:
        csv_bytes = sum(i.file_size for i in z.infolist())
        assert {"Accelerometer.csv", "Gyroscope.csv", "Metadata.csv"} <= set(z.namelist())
        assert z.testzip() is None
    assert csv_bytes > 50_000_000  # six sensors of a long session
    assert len(sizes) > 20
    assert max(sizes) < 4_000_000  # a chunk is about one CSV piece, never a sensor
    # The process grew by about one sensor's readings (4 x 8 B x 120,000 = 3.8 MB) and a
    # piece of CSV, never by the session's CSV or zip (the old export held both).
    assert peak < csv_bytes / 3, f"peak {peak:,} B for {csv_bytes:,} B of CSV"
    assert list(spill.iterdir()) == []


def test_the_streamed_zip_holds_what_write_export_writes_and_imports_back(tmp_path, record):
    data = tmp_path / "data"
    start = time.time_ns() - 60_000_000_000
    record(data, motion_messages(20, start, device="uuid-1", session="first"))
    mark_not_swing(("uuid-1", "first"), start + 1_000_000_000, data_dir=data)
    blob = b"".join(stream_export_zip(data, "uuid-1", "first"))
    folder = tmp_path / "written"
    write_export(load_session(("uuid-1", "first"), data), folder)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        for path in folder.iterdir():
            assert z.read(path.name) == path.read_bytes(), path.name
        assert b"not_swing" in z.read("marks.jsonl")
        z.extractall(tmp_path / "unzipped")
    result = import_export(tmp_path / "unzipped", tmp_path / "again")
    assert result.marks == 1
    before = load_session(("uuid-1", "first"), data)
    after = load_session(("uuid-1", "first"), tmp_path / "again")
    for sensor in before.sensors:
        assert before[sensor].equals(after[sensor])


def test_exports_beyond_the_limit_are_refused_until_one_ends(tmp_path, record, monkeypatch):
    data = tmp_path / "data"
    record(data, motion_messages(5, time.time_ns() - 10**10, device="d", session="s"))
    first = stream_export_zip(data, "d", "s", limit=2)  # (HITTING_COACH_MAX_EXPORTS=2)
    second = stream_export_zip(data, "d", "s", limit=2)
    with pytest.raises(ExportsBusy, match=r"2 export\(s\) are being made right now"):
        stream_export_zip(data, "d", "s", limit=2)
    b"".join(first)  # read to the end: its slot is free again
    third = stream_export_zip(data, "d", "s", limit=2)
    with pytest.raises(ExportsBusy):
        stream_export_zip(data, "d", "s", limit=2)
    second.close()  # a download the client gave up on
    third.close()
    with ExportStream(data, "d", "s") as again:
        assert next(iter(again)).startswith(b"PK")
    with pytest.raises(SessionError, match="no session d/nope"):
        stream_export_zip(data, "d", "nope")
    assert b"".join(stream_export_zip(data, "d", "s")).startswith(b"PK")  # none leaked
