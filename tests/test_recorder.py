"""The recorder in this process: journal first, Parquet derived, crashes recovered."""

from __future__ import annotations

import os

import numpy as np
import orjson
import pytest

from hitting_coach.config import Settings
from hitting_coach.errors import RecordingError, StartupError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.prometheus import prometheus_text
from hitting_coach.runtime import Runtime
from hitting_coach.store.journal import read_checkpoint, read_tail, segments
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import list_sessions, load_session
from support import motion_messages

T0 = 1_700_000_000_000_000_000


def raw(doc) -> bytes:
    return orjson.dumps(doc)


def parts(data_dir):
    return sorted((data_dir / "sessions").rglob("*.parquet"))


def test_an_accepted_message_is_on_disk_before_ingest_returns(tmp_path):
    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        doc = motion_messages(1, start_ns=T0)[0]
        hub.ingest(raw(doc), source="http")
        # Nothing flushed, nothing converted: another process reading now finds it.
        (segment,) = segments(tmp_path)
        line = orjson.loads(segment.read_bytes().splitlines()[0])
        assert line["source"] == "http" and line["message"] == doc
        assert parts(tmp_path) == []
        session = load_session("session-1", tmp_path)
        assert len(session["gyroscope"]) == 20 and len(session["accelerometer"]) == 20
    finally:
        recorder.close()
        recorder.close()  # safe twice
    with pytest.raises(RecordingError, match="closed"):
        recorder.append(hub.ingest(raw(doc)).message, raw(doc), "http", 0)


def test_duplicates_and_out_of_order_are_stored_once_and_read_in_time_order(tmp_path, record):
    docs = motion_messages(30, start_ns=T0)
    shuffled = docs[::3] + docs[1::3] + docs[2::3]
    again = [dict(d, messageId=d["messageId"] + 1000) for d in docs[:5]]  # same readings
    record(tmp_path, [*reversed(shuffled), *docs[:10], *again])
    # After a restart the hub remembers what the journal holds, so redelivery is dropped.
    recorder = Recorder(tmp_path)
    hub = Hub(sink=recorder)
    for key in recorder.open():
        hub.remember(key)
    for doc in docs[10:20]:
        assert hub.ingest(raw(doc)).duplicate
    recorder.close()

    session = load_session("session-1", tmp_path)
    for sensor in ("accelerometer", "gyroscope"):
        frame = session[sensor]
        assert len(frame) == 600
        assert np.all(np.diff(frame["time_ns"].to_numpy()) > 0)
        expected = sorted(
            (r["time"], r["values"]["x"]) for d in docs for r in d["payload"] if r["name"] == sensor
        )
        assert list(zip(frame["time_ns"], frame["x"], strict=True)) == expected
    summary = list_sessions(tmp_path).iloc[0]
    assert summary["counts"] == {"accelerometer": 600, "gyroscope": 600}
    assert summary["rates_hz"] == {"accelerometer": 100.0, "gyroscope": 100.0}


def test_a_live_session_loads_from_parquet_plus_the_journal_tail(tmp_path, varied_messages):
    docs = varied_messages(20, T0)
    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for doc in docs[:12]:
            hub.ingest(raw(doc))
        recorder.flush()
        for doc in docs[12:]:
            hub.ingest(raw(doc))
        assert parts(tmp_path) and read_tail(tmp_path).batches  # both halves are in play
        live = load_session("varied", tmp_path)
    finally:
        recorder.close()
    assert read_tail(tmp_path).batches == {}  # close converted the rest
    done = load_session("varied", tmp_path)
    assert (
        live.sensors == done.sensors == ["accelerometer", "annotation", "gyroscope", "orientation"]
    )
    for sensor in done.sensors:
        assert live[sensor].equals(done[sensor]), sensor
    assert len(done["accelerometer"]) == 800 and len(done["orientation"]) == 200
    assert list(done["annotation"]["text"])[:2] == ["swing 2, good", "swing 7, good"]
    assert set(done["gyroscope"]["accuracy"]) == {3.0}


def test_a_journal_left_by_a_crash_is_converted_at_start(tmp_path, record):
    docs = motion_messages(40, start_ns=T0)
    source = tmp_path / "before"
    record(source, docs[:30], parquet_interval_s=3600)
    (segment,) = segments(source)
    crashed = tmp_path / "crashed"
    (crashed / "journal").mkdir(parents=True)
    journal = crashed / "journal" / segment.name
    # What a crash leaves: the journal (no checkpoint, no Parquet), a damaged line, and a
    # last line cut in the middle.
    lines = segment.read_bytes().splitlines(keepends=True)
    torn = raw({"received_ns": 1, "source": "http", "message": docs[35]})[:100]
    journal.write_bytes(b"".join([*lines[:20], b"{garbage\n", *lines[20:], torn]))
    assert load_session("session-1", crashed)["gyroscope"].shape[0] == 600  # readable as is

    with Recorder(crashed):
        pass
    assert read_checkpoint(journal) == journal.stat().st_size - len(torn)
    session = load_session("session-1", crashed)
    assert len(session["gyroscope"]) == 600 and len(session["accelerometer"]) == 600
    assert list_sessions(crashed).iloc[0]["readings"] == 1200
    reference = load_session("session-1", source)
    for sensor in reference.sensors:
        assert session[sensor].equals(reference[sensor])


def test_parts_past_the_checkpoint_are_converted_again_not_doubled(tmp_path, record):
    record(tmp_path, motion_messages(10, start_ns=T0), parquet_interval_s=3600)
    (segment,) = segments(tmp_path)
    # A crash after the parts were written but before the checkpoint moved.
    segment.with_suffix(".done").write_text("0\n")
    with Recorder(tmp_path):
        pass
    assert list_sessions(tmp_path).iloc[0]["readings"] == 400
    assert len(parts(tmp_path)) == 2


def test_a_writer_killed_between_two_sensors_parts_loses_neither_sensor(tmp_path, record):
    record(tmp_path, motion_messages(10, start_ns=T0), parquet_interval_s=3600)
    (segment,) = segments(tmp_path)
    # Killed after the gyroscope's part was written, before the accelerometer's: the
    # checkpoint has not moved and only one sensor of the range is in Parquet.
    segment.with_suffix(".done").write_text("0\n")
    (accelerometer,) = (tmp_path / "sessions").rglob("sensor=accelerometer/part-*.parquet")
    accelerometer.unlink()
    before = load_session("session-1", tmp_path)  # read as it lies, before any restart
    assert len(before["gyroscope"]) == 200 and len(before["accelerometer"]) == 200
    assert list_sessions(tmp_path).iloc[0]["readings"] == 400
    with Recorder(tmp_path):
        pass
    after = load_session("session-1", tmp_path)
    for sensor in ("gyroscope", "accelerometer"):
        assert after[sensor].equals(before[sensor]), sensor


def test_quiet_sessions_are_compacted_into_one_file_per_sensor(tmp_path):
    docs = motion_messages(30, start_ns=T0)
    recorder = Recorder(tmp_path, parquet_interval_s=3600, compact_after_s=0)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for i in range(0, 30, 10):
            for doc in docs[i : i + 10]:
                hub.ingest(raw(doc))
            recorder.flush()
        assert len(parts(tmp_path)) == 6
        recorder.compact("phone-1", "session-1")
        assert [p.name.startswith("part-compact-") for p in parts(tmp_path)] == [True, True]
    finally:
        recorder.close()
    session = load_session("session-1", tmp_path)
    assert len(session["accelerometer"]) == 600
    assert list_sessions(tmp_path).iloc[0]["readings"] == 1200


def test_a_full_or_unwritable_data_dir_is_a_clear_startup_error(tmp_path):
    # Tests run as root, where permissions do not stop writes; a path under a file does.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    runtime = Runtime(Settings.load(environ={}, env_file=None).replace(data_dir=str(blocker / "d")))
    with pytest.raises(StartupError, match="Not a directory.*HITTING_COACH_DATA_DIR"):
        runtime.start()
    with pytest.raises(StartupError, match="is full"):
        Recorder(tmp_path / "ok", min_free_bytes=1 << 62).open()


def test_a_recording_failure_is_reported_and_what_was_not_recorded_is_refused(
    tmp_path, monkeypatch
):
    from hitting_coach.store import journal
    from hitting_coach.ui.dashboard import status_text

    settings = Settings.load(environ={}, env_file=None).replace(data_dir=str(tmp_path))
    runtime = Runtime(settings).start()
    hub = runtime.hub
    try:
        docs = motion_messages(6)
        hub.ingest(raw(docs[0]))
        # The disk fills up under us: every write now fails with ENOSPC.
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, runtime.recorder.journal.fileno())
        os.close(full)
        for doc in docs[1:3]:
            with pytest.raises(RecordingError, match="No space left on device"):
                hub.ingest(raw(doc))
        status = runtime.status()
        assert status["recording"]["ok"] is False
        assert "No space left on device" in status["recording"]["error"]
        assert status["recording"]["failures"] == 2
        assert "recording FAILED: cannot write the journal" in status_text(status, "phone-1")
        assert "hitting_coach_recording_ok 0" in prometheus_text(status)
        assert len(hub.frame("phone-1", "gyroscope")) == 20  # shown only once recorded

        monkeypatch.setattr(journal, "_REOPEN_EVERY_S", 0.0)  # space again: a fresh segment
        for doc in docs[1:]:  # the senders try again: taken as new, not as duplicates
            assert not hub.ingest(raw(doc)).duplicate
        assert runtime.status()["recording"]["ok"] is True
        assert len(hub.frame("phone-1", "gyroscope")) == 120
    finally:
        runtime.stop()
    kept = load_session("session-1", tmp_path)["gyroscope"]
    assert len(kept) == 120  # everything acknowledged is on disk, once


def test_many_batches_with_columns_some_lack_keep_every_reading_in_its_place():
    """More batches than the writer merges in one piece: a column that starts late and a
    text column are null exactly where a batch lacked them, and every reading is kept."""
    from hitting_coach.ingest.parse import Batch
    from hitting_coach.store.parts import batches_to_table

    batches = []
    for k in range(2_500):
        times = T0 + (k * 4 + np.arange(4)) * 1_000_000
        values = {"x": np.full(4, float(k))}
        if k >= 1_700:
            values["late"] = np.full(4, -float(k))
        if k % 900 == 0:
            values["note"] = np.array([f"n{k}"] * 4, dtype=object)
        batches.append(Batch("accelerometer", times.astype(np.int64), values))
    frame = batches_to_table(batches).to_pandas()
    assert len(frame) == 10_000 and frame["time_ns"].is_monotonic_increasing
    k = np.arange(10_000) // 4
    assert (frame["x"].to_numpy() == k).all()
    late = frame["late"].to_numpy()
    assert np.isnan(late[k < 1_700]).all() and (late[k >= 1_700] == -k[k >= 1_700]).all()
    notes = frame["note"]
    assert notes[k % 900 == 0].tolist() == [f"n{i}" for i in k[k % 900 == 0]]
    assert notes[k % 900 != 0].isna().all()
