"""Players (a name for a device), renaming and deleting sessions, and what the sessions page
lists: in-process, against a recorder's data directory."""

from __future__ import annotations

import shutil
import time

import pytest

from hitting_coach.analysis.session_overview import player_trend, session_rows
from hitting_coach.errors import SessionError
from hitting_coach.store.players import (
    MAX_NAME_CHARS,
    PLAYERS_FILE,
    display_name,
    read_players,
    set_player,
)
from hitting_coach.store.session_admin import delete_session, derived_dir, rename_session
from hitting_coach.store.sessions import list_sessions, load_session
from support import motion_messages


def test_a_named_device_shows_its_name_and_the_file_is_replaced_whole(tmp_path):
    assert read_players(tmp_path) == {}
    assert display_name("uuid-1", {}) == "uuid-1"
    set_player(tmp_path, "uuid-1", "  Maya — belt phone  ")
    set_player(tmp_path, "uuid-2", "Sam")
    players = read_players(tmp_path)
    assert players == {"uuid-1": "Maya — belt phone", "uuid-2": "Sam"}
    assert display_name("uuid-1", players) == "Maya — belt phone"
    assert set_player(tmp_path, "uuid-2", "") == {"uuid-1": "Maya — belt phone"}
    assert [p.name for p in tmp_path.iterdir()] == [PLAYERS_FILE]  # no temporary file left


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("x" * (MAX_NAME_CHARS + 1), "at most 80"),
        ("Maya\nforged line", "control characters"),
        ("\x1b[31mred", "control characters"),
    ],
)
def test_a_bad_player_name_is_refused_and_changes_nothing(tmp_path, name, error):
    set_player(tmp_path, "uuid-1", "Maya")
    with pytest.raises(SessionError, match=error):
        set_player(tmp_path, "uuid-1", name)
    assert read_players(tmp_path) == {"uuid-1": "Maya"}


def test_a_damaged_players_file_reads_as_no_names(tmp_path, caplog):
    (tmp_path / PLAYERS_FILE).write_text("{not json")
    assert read_players(tmp_path) == {}
    assert "cannot read" in caplog.text
    set_player(tmp_path, "uuid-1", "Maya")  # and naming again repairs it
    assert read_players(tmp_path) == {"uuid-1": "Maya"}


def _two_sessions(tmp_path, record):
    data = tmp_path / "data"
    start = time.time_ns() - 60_000_000_000
    record(data, motion_messages(10, start, device="uuid-1", session="first"))
    record(data, motion_messages(10, start + 20_000_000_000, device="uuid-1", session="second"))
    return data


def test_rename_and_delete_a_session(tmp_path, record):
    data = _two_sessions(tmp_path, record)
    assert rename_session(data, "uuid-1", "first", " Tee work ") == "Tee work"
    assert load_session("Tee work", data).session_id == "first"
    with pytest.raises(SessionError, match="control characters"):
        rename_session(data, "uuid-1", "first", "a\tb")
    with pytest.raises(SessionError, match="no session uuid-1/nope"):
        rename_session(data, "uuid-1", "nope", "x")
    derived_dir(data, "uuid-1", "first").mkdir(parents=True)
    with pytest.raises(SessionError, match="being recorded right now"):
        delete_session(data, "uuid-1", "first", recording=lambda d, s: s == "first")
    assert len(list_sessions(data)) == 2
    delete_session(data, "uuid-1", "first")
    assert list(list_sessions(data)["session_id"]) == ["second"]
    assert not derived_dir(data, "uuid-1", "first").exists()
    with pytest.raises(SessionError, match="no session uuid-1/first"):
        delete_session(data, "uuid-1", "first")


def test_the_sessions_list_counts_swings_and_shows_the_player(tmp_path, recorded_swings):
    source, sim = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    set_player(data, "phone-1", "Maya — belt phone")
    rows = session_rows(data)
    assert [(r.player, r.session_id, r.swings) for r in rows] == [
        ("Maya — belt phone", "sim-swings", len(sim.truth))
    ]
    assert rows[0].duration_s == pytest.approx(60, abs=1)
    assert rows[0].medians["pelvis_peak_dps"] == pytest.approx(
        sim.truth["pelvis_peak_dps"].median(), rel=0.05
    )
    # counted once: the second listing reads the cached summary
    cached = list(derived_dir(data, "phone-1", "sim-swings").glob("swings-*.json"))
    assert len(cached) == 1
    assert session_rows(data)[0].swings == len(sim.truth)
    trend = player_trend(rows, "phone-1")  # players are keyed by device, names only shown
    assert list(trend["swings"]) == [len(sim.truth)]
    assert {"pelvis_peak_dps", "hand_peak_dps", "peak_gap_ms"} <= set(trend.columns)
    assert player_trend(rows, "Maya — belt phone").empty


def test_a_named_player_shows_in_the_cli_table_and_the_report_title(tmp_path, record):
    from hitting_coach.analysis.report_data import ReportData
    from hitting_coach.store.sessions import sessions_report

    data = _two_sessions(tmp_path, record)
    assert "uuid-1" in sessions_report(data)
    set_player(data, "uuid-1", "Maya — belt phone")
    table = sessions_report(data)
    assert "Maya — belt phone" in table and "uuid-1" not in table
    assert ReportData.load("first", data).title == "first (Maya — belt phone)"


def test_the_export_zip_imports_back_to_the_same_readings(tmp_path, record):
    import io
    import zipfile

    from hitting_coach.store.exports import import_export
    from hitting_coach.web.files import open_export

    data = _two_sessions(tmp_path, record)
    export = open_export(data, "uuid-1", "first", limit=1)
    blob = b"".join(export)
    assert export.name == "first.zip"
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert {"Metadata.csv", "Accelerometer.csv", "Gyroscope.csv"} <= set(z.namelist())
        z.extractall(tmp_path / "unzipped")
    again = tmp_path / "again"
    import_export(tmp_path / "unzipped", again)
    before, after = load_session("first", data), load_session("first", again)
    assert before.sensors == after.sensors
    assert before["gyroscope"]["time_ns"].tolist() == after["gyroscope"]["time_ns"].tolist()
