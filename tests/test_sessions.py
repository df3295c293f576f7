"""The notebook API: list sessions and takes, load a session, a take or a time range."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from hitting_coach.errors import RecordingError, SessionError
from hitting_coach.ingest.hub import Hub
from hitting_coach.store.exports import export_session
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.sessions import (
    list_sessions,
    list_takes,
    load_session,
    sessions_report,
)
from support import motion_messages

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def two_sessions(tmp_path, record):
    record(tmp_path, motion_messages(10, start_ns=T0, session="a1b2c3-morning"))
    record(tmp_path, motion_messages(5, start_ns=T0 + 3600 * 10**9, session="d4e5f6-evening"))
    record(tmp_path, motion_messages(5, start_ns=T0, device="watch", session="a1b2c3-morning"))
    return tmp_path


def test_list_sessions_shows_start_end_sensors_counts_and_rates(two_sessions):
    table = list_sessions(two_sessions)
    assert list(table["session_id"]) == ["a1b2c3-morning", "a1b2c3-morning", "d4e5f6-evening"]
    first = table.iloc[0]
    assert first["start"] == pd.Timestamp(T0, unit="ns", tz="UTC")
    assert first["duration_s"] == pytest.approx(1.99)
    assert first["sensors"] == ["accelerometer", "gyroscope"]
    assert first["rates_hz"] == {"accelerometer": 100.0, "gyroscope": 100.0}
    report = sessions_report(two_sessions)
    assert "d4e5f6-evening" in report and "accelerometer 100 Hz" in report
    assert report.splitlines()[-1].startswith("3 sessions, 800 readings")


def test_latest_is_the_session_started_last_not_dated_ahead(tmp_path, record):
    """Issue 25: ``latest`` is the session started last (not the one still receiving); issue
    11 item 7: a sender dating its readings ahead of when they came does not make it so."""
    import time

    now = time.time_ns()
    record(tmp_path, motion_messages(5, start_ns=now + 86_400 * 10**9, session="dated-ahead"))
    record(tmp_path, motion_messages(5, start_ns=time.time_ns(), session="started-last"))
    assert load_session("latest", tmp_path).session_id == "started-last"
    # a session started earlier that is still receiving (only in the journal: live) is not
    # the last one started
    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for doc in motion_messages(3, start_ns=now - 60 * 10**9, session="still-going"):
            hub.ingest(orjson.dumps(doc))
        assert load_session("latest", tmp_path).session_id == "started-last"
        for doc in motion_messages(3, start_ns=time.time_ns(), session="live-now"):
            hub.ingest(orjson.dumps(doc))
        assert load_session("latest", tmp_path).session_id == "live-now"
    finally:
        recorder.close()


def test_sessions_are_found_by_id_prefix_device_and_latest_and_errors_say_why(two_sessions):
    assert load_session("d4e5", two_sessions).session_id == "d4e5f6-evening"
    latest = load_session("latest", two_sessions)  # the evening's session started last
    assert (latest.device_id, latest.session_id) == ("phone-1", "d4e5f6-evening")
    assert load_session("watch/a1b2c3-morning", two_sessions).device_id == "watch"
    assert load_session(("phone-1", "a1b2c3-morning"), two_sessions).readings == 400
    row = list_sessions(two_sessions).iloc[2]
    assert load_session(row, two_sessions).session_id == "d4e5f6-evening"
    with pytest.raises(SessionError, match="matches 2 sessions"):
        load_session("a1b2c3-morning", two_sessions)
    with pytest.raises(SessionError, match="no session 'nope'"):
        load_session("nope", two_sessions)
    with pytest.raises(SessionError, match="no data directory .*empty"):
        load_session("latest", two_sessions / "empty")
    with pytest.raises(SessionError, match="no data directory"):
        sessions_report(two_sessions / "empty")
    (two_sessions / "empty").mkdir()
    with pytest.raises(SessionError, match="no sessions recorded"):
        load_session("latest", two_sessions / "empty")
    with pytest.raises(SessionError, match="no sessions in .*empty: record one"):
        sessions_report(two_sessions / "empty")
    with pytest.raises(KeyError, match="no 'barometer' in this session"):
        load_session("d4e5", two_sessions)["barometer"]


def test_a_time_range_loads_only_its_readings(two_sessions):
    s = load_session("d4e5", two_sessions, start_ns=T0 + 3600 * 10**9 + 10**8, end_ns=None)
    assert s["gyroscope"]["time_ns"].iloc[0] == T0 + 3600 * 10**9 + 10**8
    assert len(s["gyroscope"]) == 90
    s = load_session("d4e5", two_sessions, end_ns=T0 + 3600 * 10**9 + 10**8)
    assert len(s["gyroscope"]) == 10


def test_takes_are_stored_listed_and_loaded(tmp_path):
    recorder = Recorder(tmp_path)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        import orjson

        start = recorder.device_time_ns("phone-1")
        docs = motion_messages(20, start_ns=start - 2 * 10**9, session="s1")
        for doc in docs[:10]:
            hub.ingest(orjson.dumps(doc))
        tee = recorder.start_take("phone-1", " tee work ")
        assert recorder.running_take("phone-1") == tee and tee.session_id == "s1"
        for doc in docs[10:]:
            hub.ingest(orjson.dumps(doc))
        second = recorder.start_take("phone-1")  # starting another stops the first
        assert second.name == "take 2"
        stopped = recorder.stop_take("phone-1")
        assert stopped.take_id == second.take_id and recorder.stop_take("phone-1") is None
    finally:
        recorder.close()
    with pytest.raises(RecordingError, match="closed"):
        recorder.append(None, b"{}", "http", 0)  # type: ignore[arg-type]

    takes = list_takes(data_dir=tmp_path)
    assert list(takes["name"]) == ["tee work", "take 2"]
    assert takes["end"].notna().all() and (takes["duration_s"] >= 0).all()
    assert list(list_takes("s1", tmp_path)["name"]) == ["tee work", "take 2"]
    session = load_session("s1", tmp_path)
    assert [t.name for t in session.takes] == ["tee work", "take 2"]
    assert list_sessions(tmp_path).iloc[0]["takes"] == 2
    take = load_session("s1", tmp_path, take="tee work")
    t = take["gyroscope"]["time_ns"]
    assert t.iloc[0] >= tee.start_ns and t.iloc[-1] < session.takes[0].end_ns
    assert 0 < len(t) < len(session["gyroscope"])
    with pytest.raises(SessionError, match="no take 'nope'.*'tee work', 'take 2'"):
        load_session("s1", tmp_path, take="nope")
    assert "take 'tee work'" in sessions_report(tmp_path, takes=True)


def test_export_parquet_writes_one_file_per_sensor(two_sessions, tmp_path):
    out = export_session("d4e5", tmp_path / "out", data_dir=two_sessions)
    assert sorted(p.name for p in out.iterdir()) == [
        "accelerometer.parquet",
        "gyroscope.parquet",
        "session.json",
    ]
    frame = pd.read_parquet(out / "gyroscope.parquet")
    assert frame.equals(load_session("d4e5", two_sessions)["gyroscope"])


def test_the_take_panel_starts_and_stops_named_takes(tmp_path):
    import orjson

    from hitting_coach.ui.takes_panel import TakesPanel

    recorder = Recorder(tmp_path)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        panel = TakesPanel(recorder, hub)
        assert panel.start_button.disabled  # no device yet
        hub.ingest(orjson.dumps(motion_messages(1)[0]))
        panel.refresh()
        assert not panel.start_button.disabled and panel.stop_button.disabled
        panel.name_input.value = "front toss"
        panel.start_button.clicks += 1
        assert "Recording take <b>front toss</b>" in panel.state.object
        assert not panel.stop_button.disabled
        panel.stop_button.clicks += 1
        assert "Saved “front toss”" in panel.state.object
        assert "<td>front toss</td>" in panel.recent.object
        panel.stop()
    finally:
        recorder.close()
    assert list(list_takes(data_dir=tmp_path)["name"]) == ["front toss"]


def test_listing_sessions_writes_nothing(two_sessions):
    index = two_sessions / "index.json"
    assert index.exists()  # the recorder keeps it current
    index.unlink()
    before = sorted(p.relative_to(two_sessions) for p in two_sessions.rglob("*"))
    table = list_sessions(two_sessions)
    sessions_report(two_sessions)
    assert len(table) == 3 and table["readings"].sum() == 800  # counted without the index
    assert sorted(p.relative_to(two_sessions) for p in two_sessions.rglob("*")) == before


def test_the_take_list_is_read_from_disk_only_when_it_changed(tmp_path):
    from hitting_coach.ui.takes_panel import TakesPanel

    recorder = Recorder(tmp_path)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        import orjson

        hub.ingest(orjson.dumps(motion_messages(1)[0]))
        recorder.start_take("phone-1", "first")
        panels = [TakesPanel(recorder, hub) for _ in range(3)]  # three browsers
        for _ in range(20):  # their periodic callbacks
            for panel in panels:
                panel.refresh()
        assert "<td>first</td>" in panels[0].recent.object
        assert recorder.take_log.reads == 1
        recorder.stop_take("phone-1")  # our own write: read again once
        for panel in panels:
            panel.refresh()
        assert recorder.take_log.reads == 2
        assert "running" not in panels[2].recent.object
        for panel in panels:
            panel.stop()
    finally:
        recorder.close()


def test_a_value_that_changed_type_across_a_restart_leaves_the_session_readable(tmp_path, record):
    """Issue 11 item 8: the hub refuses a type change it remembers; after a restart it does
    not remember, and one text value must not make the session unreadable or uncompactable."""

    def level(message_id: int, value: object) -> dict:
        reading = {"name": "pitch counter", "time": T0 + message_id * 10**9, "values": {"n": value}}
        return {"messageId": message_id, "sessionId": "s", "deviceId": "d", "payload": [reading]}

    record(tmp_path, [level(1, 1.5)])
    record(tmp_path, [level(2, "abc")])  # a new server process: the hub starts empty
    session = load_session("d/s", tmp_path)
    assert list(session["pitch counter"]["n"]) == ["1.5", "abc"]
    with Recorder(tmp_path) as recorder:
        recorder.compact("d", "s")
    assert list(load_session("d/s", tmp_path)["pitch counter"]["n"]) == ["1.5", "abc"]
    out = export_session("d/s", tmp_path / "out", format="csv", data_dir=tmp_path)
    assert any(out.iterdir())
