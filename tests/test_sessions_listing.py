"""Issue 29, findings 3 and 7: the sessions page lists a page of sessions (newest first, 20 at
a time) from the index, fast with 2,000 on disk; each session's summary is cached until its
readings or marks change, and a session being recorded is not analysed again on every open;
a change of marks refreshes the summary and marks the session's report stale."""

from __future__ import annotations

import os
import re
import shutil
import time

import orjson
import pytest

import hitting_coach.analysis.session_overview as overview
from hitting_coach.analysis.session_overview import session_rows, sessions_page, swing_summary
from hitting_coach.ingest.hub import Hub
from hitting_coach.store.marks import list_marks, mark_not_swing, unmark
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.session_admin import (
    delete_session,
    newest_report,
    report_is_stale,
    report_path,
)
from hitting_coach.store.sessions import list_sessions


@pytest.fixture
def many_sessions(tmp_path, monkeypatch):
    """2,000 one-reading sessions of 20 devices, recorded through the hub and the recorder
    (fsync skipped: this is about listing them, not about the disk)."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    data = tmp_path / "data"
    old = time.time_ns() - 3 * 86_400 * 10**9
    with Recorder(data) as recorder:
        hub = Hub(sink=recorder)
        for n in range(2000):
            reading = {
                "name": "accelerometer",
                "time": old + n * 10**9,
                "values": {"x": 0, "y": 0, "z": 9.8},
            }
            message = {
                "messageId": 1,
                "sessionId": f"s{n:05d}",
                "deviceId": f"phone-{n % 20:02d}",
                "payload": [reading],
            }
            hub.ingest(orjson.dumps(message))
    monkeypatch.undo()
    return data


def test_the_first_page_of_2000_sessions_is_the_newest_20(many_sessions):
    # how long it takes is benchmarks/bench_sessions_page.py's (docs/benchmarks.md)
    page = sessions_page(many_sessions, 0, 20)
    assert page.total == 2000 and len(page.rows) == 20
    assert [r.session_id for r in page.rows] == [f"s{n:05d}" for n in range(1999, 1979, -1)]
    assert all(r.problem.startswith("cannot analyse: ") for r in page.rows)  # one reading
    last = sessions_page(many_sessions, 99, 20)
    assert [r.session_id for r in last.rows][-1] == "s00000"
    assert sessions_page(many_sessions, 500, 20).page == 99  # past the end: the last page
    mine = sessions_page(many_sessions, 0, 20, device="phone-07")
    assert mine.total == 100 and {r.device_id for r in mine.rows} == {"phone-07"}
    assert len(page.devices) == 20


def test_a_deleted_session_leaves_the_list_at_once(many_sessions):
    delete_session(many_sessions, "phone-19", "s01999")
    page = sessions_page(many_sessions, 0, 20)
    assert page.total == 1999 and page.rows[0].session_id == "s01998"
    assert "s01999" not in set(list_sessions(many_sessions)["session_id"])


def test_the_sessions_page_shows_20_sessions_and_pages_through_them(many_sessions):
    from hitting_coach.ui.sessions_page import SessionsPage

    pages = SessionsPage(many_sessions)
    first = pages.sessions(0)  # the whole page, one HTML document (its time: the benchmark)
    assert first.count('class="hc-session-card"') == 20
    assert "sessions 1–20 of 2,000" in first
    assert re.search(r'<span class="hc-button hc-newer" aria-disabled="true">', first)
    assert '<a class="hc-button hc-older" href="/sensor/sessions?page=1">' in first
    second = pages.sessions(1)
    assert "sessions 21–40 of 2,000" in second
    assert second.index("s01979") < second.index("s01978")  # newest first


@pytest.fixture
def counted(recorded_swings, tmp_path, monkeypatch):
    """A copy of the recorded session, a fresh summary memo, and the list of the analyses
    the summaries ran (one entry per call of the detector)."""
    source, sim = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    calls = []
    real = overview.session_swings
    monkeypatch.setattr(
        overview, "session_swings", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    monkeypatch.setattr(overview, "_memo", {})
    return data, sim, calls


def test_a_session_being_recorded_is_not_analysed_on_every_open(counted, monkeypatch):
    data, sim, calls = counted
    monkeypatch.setattr(overview, "LIVE_ANALYSE_MAX_READINGS", 1000)  # "an hour long"
    row = session_rows(data, count_swings=False)[0]
    key = ("phone-1", "sim-swings")
    live = swing_summary(data, *key, row.end_ns, row.readings, growing=True)
    assert live["swings"] is None and live["recording"] and not live["problem"] and not calls
    done = swing_summary(data, *key, row.end_ns, row.readings)  # it stopped: counted once
    assert done["swings"] == len(sim.truth) and len(calls) == 1
    monkeypatch.setattr(overview, "_memo", {})  # (a new server: only the disk remembers)
    for grown in range(1, 6):  # recording again, growing between opens: not analysed again
        again = swing_summary(
            data, *key, row.end_ns + grown * 10**9, row.readings + grown * 40, growing=True
        )
        assert again["swings"] == len(sim.truth) and again["so_far"] is True
    assert len(calls) == 1
    # once it is not being recorded any more, its final readings are counted (once)
    swing_summary(data, *key, row.end_ns + 9 * 10**9, row.readings + 400)
    swing_summary(data, *key, row.end_ns + 9 * 10**9, row.readings + 400)
    assert len(calls) == 2


def test_marks_refresh_the_swing_count_and_mark_the_report_stale(recorded_swings, tmp_path):
    source, sim = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    n = len(sim.truth)
    assert session_rows(data)[0].swings == n
    row = session_rows(data)[0]
    made = report_path(data, "phone-1", "sim-swings", row.end_ns)
    made.parent.mkdir(parents=True, exist_ok=True)
    made.write_text("<html>report with every swing</html>")
    assert not report_is_stale(data, "phone-1", "sim-swings")

    from hitting_coach.analysis.corrections import session_swings

    table = session_swings(("phone-1", "sim-swings"), data)
    for peak in table["pelvis_peak_ns"].iloc[:2]:
        mark_not_swing(("phone-1", "sim-swings"), int(peak), data_dir=data)
    assert session_rows(data)[0].swings == n - 2
    assert sessions_page(data, 0, 20).rows[0].swings == n - 2
    assert report_is_stale(data, "phone-1", "sim-swings")
    assert newest_report(data, "phone-1", "sim-swings") == made  # still there to open
    fresh = report_path(data, "phone-1", "sim-swings", row.end_ns)
    assert fresh != made and not fresh.exists()  # Make report makes a new one

    from hitting_coach.ui.sessions_page import SessionsPage

    state = SessionsPage(data).report_state("phone-1", "sim-swings")
    assert "made before your last mark; make again" in state["html"]
    assert "Make again" in state["html"] and "Open report" in state["html"]

    for mark in list_marks(("phone-1", "sim-swings"), data_dir=data).itertuples():
        unmark(("phone-1", "sim-swings"), mark.mark_id, data_dir=data)
    assert session_rows(data)[0].swings == n
    assert report_path(data, "phone-1", "sim-swings", row.end_ns) != made  # not the old file


def test_a_device_keeps_a_bounded_number_of_sessions_open_and_closing_deletes_nothing(tmp_path):
    from hitting_coach.store.layout import list_parts, session_dir
    from hitting_coach.store.sessions import load_session
    from support import motion_messages

    data = tmp_path / "data"
    start = time.time_ns() - 600 * 10**9
    with Recorder(data, max_open_sessions_per_device=2, compact_after_s=3600) as recorder:
        hub = Hub(sink=recorder)
        for n in range(6):
            for part in range(2):  # two flushes: two parts per sensor, worth compacting
                messages = motion_messages(
                    3, start + (n * 10 + part * 3) * 10**9, session=f"s{n}", first_id=part * 10
                )
                for m in messages:
                    hub.ingest(orjson.dumps(m))
                recorder.flush()
            assert len(recorder.open_sessions("phone-1")) <= 2
        assert sorted(recorder.open_sessions("phone-1")) == ["s4", "s5"]
        assert recorder.status()["sessions_closed"] == 4
        for n in range(4):  # closed: compacted into one part per sensor
            parts = list_parts(session_dir(data, "phone-1", f"s{n}"))
            assert {len(p) for p in parts.values()} == {1}, parts
    for n in range(6):  # nothing deleted
        assert load_session(("phone-1", f"s{n}"), data).readings == 6 * 40


def test_players_are_keyed_by_device_and_no_label_hides_another_device():
    from hitting_coach.ui.sessions_page import device_labels

    players = {"phoneB": "phoneA", "phoneC": "Maya", "phoneD": "Maya"}
    labels = device_labels(["phoneA", "phoneB", "phoneC", "phoneD", "phoneE"], players)
    assert sorted(labels.values()) == ["phoneA", "phoneB", "phoneC", "phoneD", "phoneE"]
    assert labels["phoneA"] == "phoneA" and labels["phoneE"] == "phoneE"
    assert labels["phoneA (phoneB)"] == "phoneB"  # a name equal to another device's id
    assert labels["Maya (phoneC)"] == "phoneC" and labels["Maya (phoneD)"] == "phoneD"
    assert device_labels(["p1"], {"p1": "Maya — belt phone"}) == {"Maya — belt phone": "p1"}


def test_a_short_session_being_recorded_is_counted_once_in_a_while(counted, monkeypatch):
    data, sim, calls = counted
    row = session_rows(data, count_swings=False)[0]
    key = ("phone-1", "sim-swings")
    assert row.readings < overview.LIVE_ANALYSE_MAX_READINGS
    first = swing_summary(data, *key, row.end_ns, row.readings, growing=True)
    assert first["swings"] == len(sim.truth) and len(calls) == 1
    for grown in range(1, 4):
        again = swing_summary(
            data, *key, row.end_ns + grown * 10**9, row.readings + grown, growing=True
        )
        assert again["so_far"] is True
    assert len(calls) == 1
    monkeypatch.setattr(overview, "LIVE_SUMMARY_S", 0.0)  # a while later: counted again
    swing_summary(data, *key, row.end_ns + 10**10, row.readings + 9, growing=True)
    assert len(calls) == 2


def test_the_sessions_page_ends_with_the_servers_own_status(tmp_path):
    """The live page's status line is the device's; the server's own (every device, what it
    refused and why, the recording) is at the foot of the sessions page, with status.json."""
    import httpx

    from support import motion_messages, post, serve_runtimes

    served = serve_runtimes(tmp_path / "data")
    try:
        runtime, url = next(served)()
        start = (time.time_ns() // 10**9 - 30) * 10**9
        for doc in motion_messages(2, start_ns=start):
            assert post(url + "/data", doc)[0] == 200
        assert post(url + "/data", {"deviceId": "phone-1"})[0] == 400  # no payload
        page = httpx.get(url + "/sessions", timeout=30).text
        footer = page[page.index('<footer class="hc-footer') :]
        assert "1 live device" in footer
        assert "1 rejected, mostly" in footer
        assert "recording ok" in footer
        assert '<a href="status.json">status.json</a>' in footer
    finally:
        served.close()
