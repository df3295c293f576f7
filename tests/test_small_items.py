"""Issue 29, finding 12 (the smaller items): each as a coach or an operator would meet it."""

from __future__ import annotations

import os
import time
from collections import Counter

import orjson
import pytest

from hitting_coach.errors import MessageError, SessionError
from hitting_coach.ingest.parse import Limits, parse_message
from hitting_coach.store.layout import list_parts, session_dir
from hitting_coach.store.marks import list_marks, mark_not_swing, marks_path
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.session_admin import delete_session, rename_session
from hitting_coach.store.sessions import list_sessions
from support import motion_messages


def _session(data, record, session="s"):
    start = time.time_ns() - 60 * 10**9
    record(data, motion_messages(10, start, device="d", session=session))
    return start


def test_a_marks_file_cut_short_keeps_its_marks_and_takes_new_ones(tmp_path, record):
    data = tmp_path / "data"
    start = _session(data, record)
    mark_not_swing(("d", "s"), start + 10**9, data_dir=data)
    path = marks_path(data, "d", "s")
    path.write_bytes(path.read_bytes() + b'{"mark_id":"abc","kind":"not_sw')  # cut mid-write
    assert len(list_marks(("d", "s"), data_dir=data)) == 1
    mark_not_swing(("d", "s"), start + 2 * 10**9, data_dir=data)  # new marks still work
    assert len(list_marks(("d", "s"), data_dir=data)) == 2
    assert path.read_bytes().endswith(b"\n")  # written whole again
    path.write_bytes(b"garbage\n" + path.read_bytes())  # damage inside the file: still said
    with pytest.raises(SessionError, match="line 1: not JSON"):
        list_marks(("d", "s"), data_dir=data)


def test_a_mark_on_a_deleted_session_does_not_recreate_it(tmp_path, record):
    from hitting_coach.store.marks import new_mark, save_mark

    data = tmp_path / "data"
    start = _session(data, record)
    delete_session(data, "d", "s")
    with pytest.raises(SessionError, match="no session d/s: it was deleted"):
        save_mark(data, "d", "s", new_mark("not_swing", start + 10**9))
    assert not session_dir(data, "d", "s").exists()
    assert list_sessions(data).empty


def test_refusal_texts_do_not_round_a_time_into_the_limit():
    now = time.time_ns()
    raw = orjson.dumps(
        {
            "messageId": 1,
            "sessionId": "s",
            "deviceId": "d",
            "payload": [
                {
                    "name": "accelerometer",
                    "time": now + 3610 * 10**9,
                    "values": {"x": 1, "y": 2, "z": 3},
                }
            ],
        }
    )
    with pytest.raises(MessageError) as e:
        parse_message(raw, Limits(), now_ns=now)
    text = str(e.value)
    assert "3,610 s ahead" in text and "at most 3,600 s (1 h) ahead" in text
    assert "1.0 h" not in text


def test_delete_and_rename_errors_do_not_show_the_data_path(tmp_path, record):
    data = tmp_path / "secret-place" / "data"
    _session(data, record)
    for action in (
        lambda: delete_session(data, "d", "nope"),
        lambda: rename_session(data, "d", "nope", "x"),
    ):
        with pytest.raises(SessionError) as e:
            action()
        assert "secret-place" not in str(e.value) and "no session d/nope" in str(e.value)


def test_temporaries_of_a_killed_compaction_are_removed_at_start(tmp_path, record):
    data = tmp_path / "data"
    _session(data, record)
    [sensor] = [p for p in list_parts(session_dir(data, "d", "s"))["gyroscope"]]
    dead = sensor.parent / f".part-compact-0123.parquet.{2**22 + 12345}.140.tmp"
    mine = sensor.parent / f".part-compact-4567.parquet.{os.getpid()}.141.tmp"
    dead.write_bytes(b"half a file")
    mine.write_bytes(b"being written")
    with Recorder(data):
        pass
    assert not dead.exists()
    assert mine.exists()  # a live writer's own file is left alone


def test_a_compaction_the_disk_refused_is_tried_again(tmp_path, monkeypatch):
    import hitting_coach.store.recorder as recorder_module
    from hitting_coach.ingest.hub import Hub

    real = recorder_module.compact_session
    attempts = Counter()

    def full_disk_once(*args, **kw):
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)

    monkeypatch.setattr(recorder_module, "compact_session", full_disk_once)
    data = tmp_path / "data"
    start = time.time_ns() - 60 * 10**9
    with Recorder(data, compact_after_s=0.0) as recorder:
        hub = Hub(sink=recorder)
        for part in range(2):
            for m in motion_messages(
                3, start + part * 10**10, device="d", session="s", first_id=part * 10
            ):
                hub.ingest(orjson.dumps(m))
            recorder.flush()
        recorder._compact_quiet()  # the disk is full: kept for later
        assert recorder.counters["compaction_errors"] == 1
        assert recorder.open_sessions("d") == ["s"]
        recorder._compact_quiet()  # space again
        assert recorder.open_sessions("d") == []
    assert {len(p) for p in list_parts(session_dir(data, "d", "s")).values()} == {1}


def test_every_rename_and_delete_is_logged_even_a_minute_of_them(tmp_path, record, caplog):
    """The server folds a flood of one log line into "N more like it"; a coach's renames and
    deletes are each a line of their own (who changed what stays in the log)."""
    from hitting_coach.serve import RepeatFilter

    data = tmp_path / "data"
    for k in range(3):
        _session(data, record, session=f"s{k}")
    caplog.handler.addFilter(RepeatFilter(every_s=3600))
    with caplog.at_level("INFO", logger="hitting_coach.store.session_admin"):
        for k in range(3):
            rename_session(data, "d", f"s{k}", f"take {k}")
        for k in range(3):
            delete_session(data, "d", f"s{k}")
    lines = [r.getMessage() for r in caplog.records if "session d/s" in r.getMessage()]
    assert lines == [f"session d/s{k} renamed to 'take {k}'" for k in range(3)] + [
        f"session d/s{k} deleted" for k in range(3)
    ]
    assert not any("more like it" in line for line in lines)
