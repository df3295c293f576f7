"""The coach's marks: stored with the session, applied to reports and the swing table, carried
by exports, and shown by ``hitting-coach swings``."""

from __future__ import annotations

import csv
import io
import json

import pytest

import hitting_coach
from hitting_coach.analysis.corrections import apply_marks, correct_rows, match_swing
from hitting_coach.analysis.report_data import ReportData
from hitting_coach.analysis.swings import swings
from hitting_coach.cli import main
from hitting_coach.errors import SessionError
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.exports import export_session, import_export
from hitting_coach.store.marks import (
    MARKS_FILE,
    add_swing,
    list_marks,
    mark_not_swing,
    marks_path,
    new_mark,
    read_marks,
    unmark,
)

SESSION = "phone-1/marked"


@pytest.fixture(scope="module")
def sim():
    return simulate("pelvis+wrist", duration_s=20, rate_hz=200, seed=3)


@pytest.fixture
def data_dir(tmp_path, record, sim):
    data = tmp_path / "data"
    record(data, sim.messages(session_id="marked", device_id="phone-1"))
    return data


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*args)``: ``hitting-coach ARGS`` in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--env-file", "/dev/null", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_notebook_api_is_at_the_top_of_the_package():
    """The store's functions, with the data directory setting filled in when not given."""
    assert hitting_coach.mark_not_swing.__wrapped__ is mark_not_swing
    assert hitting_coach.add_swing.__wrapped__ is add_swing
    assert hitting_coach.list_marks.__wrapped__ is list_marks


@pytest.fixture
def found(data_dir):
    """The swings detected in the recorded session, before any mark (at least two)."""
    table = ReportData.load(SESSION, data_dir).table
    assert len(table) >= 2
    return table


def test_a_swing_marked_not_a_swing_leaves_the_report(data_dir, found):
    second = found.iloc[1]
    mark = mark_not_swing(SESSION, second, note="a waggle", data_dir=data_dir)
    after = ReportData.load(SESSION, data_dir)
    assert list(after.table["swing"]) == [s for s in found["swing"] if s != second["swing"]]
    assert int(second["start_ns"]) not in set(after.table["start_ns"].astype(int))
    assert any("1 detection marked not a swing" in f for f in after.quality_flags())
    marks = list_marks(SESSION, data_dir=data_dir)
    assert list(marks["mark_id"]) == [mark.mark_id]
    assert marks.loc[0, "kind"] == "not_swing" and marks.loc[0, "note"] == "a waggle"
    assert 0 < marks.loc[0, "at_s"] < 20
    # the same swing marked again is one mark; an undo brings the swing back
    assert mark_not_swing(SESSION, second, data_dir=data_dir) == mark
    unmark(SESSION, mark.mark_id, data_dir=data_dir)
    assert len(ReportData.load(SESSION, data_dir).table) == len(found)


def test_an_added_swing_is_measured_and_flagged(data_dir, found, sim):
    swing = found.iloc[1]
    # the detector found this swing: say it did not, then add it back by hand at its peak
    mark_not_swing(SESSION, swing, data_dir=data_dir)
    add_swing(SESSION, int(swing["hand_peak_ns"]), data_dir=data_dir)
    data = ReportData.load(SESSION, data_dir)
    added = data.table[data.table["added_by_coach"].fillna(False)]
    assert len(data.table) == len(found) and len(added) == 1
    row = added.iloc[0]
    assert row["swing"] == found["swing"].max() + 1  # the next free number, in time order
    assert list(data.table["start_ns"].astype(int)) == sorted(data.table["start_ns"].astype(int))
    # measured as the detector measures a swing it finds
    for column in ("hand_peak_measured_dps", "pelvis_peak_dps", "peak_gap_ms"):
        assert row[column] == pytest.approx(swing[column], rel=0.03, abs=2), column
    shown = data.display_table()
    quality = shown.get("Quality", shown.get("quality"))
    assert quality.str.contains("added by coach").sum() == 1


def test_an_added_swing_where_one_was_found_adds_nothing(data_dir, found):
    add_swing(SESSION, int(found.iloc[0]["hand_peak_ns"]), data_dir=data_dir)
    assert len(ReportData.load(SESSION, data_dir).table) == len(found)


def test_a_mark_finds_its_swing_by_time():
    rows = [
        {"start_ns": 100, "end_ns": 200, "hand_peak_ns": 150},
        {"start_ns": 2_000_000_000, "end_ns": 2_300_000_000, "hand_peak_ns": 2_200_000_000},
    ]
    assert match_swing(rows, 120) == 0
    assert match_swing(rows, 2_600_000_000) == 1  # nearest peak within 0.5 s
    assert match_swing(rows, 2_800_000_000) is None
    kept = correct_rows(rows, [new_mark("not_swing", 2_250_000_000)])
    assert [r["start_ns"] for r in kept] == [100]


def test_one_tap_counts_a_swing_listed_as_practice_or_arms_only():
    t0 = 1_700_000_000_000_000_000
    rows = [
        {"start_ns": t0, "end_ns": t0 + 500_000_000, "hand_peak_ns": t0 + 300_000_000},
        {"start_ns": t0 + 5_000_000_000, "end_ns": t0 + 5_500_000_000, "practice": True},
        {"start_ns": t0 + 9_000_000_000, "end_ns": t0 + 9_400_000_000, "arms_only": True},
    ]
    count_practice = new_mark("add_swing", t0 + 5_200_000_000)
    count_bunt = new_mark("add_swing", t0 + 9_100_000_000)
    out = correct_rows(rows, [count_practice, count_bunt])
    assert len(out) == 3  # counted, not added twice
    assert [r.get("practice") for r in out] == [None, False, False]
    assert out[2]["arms_only"] is False and out[2]["mark_id"] == count_bunt.mark_id
    assert not any(r["added_by_coach"] for r in out)


def test_added_swing_outside_the_data_is_left_out_of_a_take(sim):
    table = swings(sim.frames, "pelvis+wrist")
    late = new_mark("add_swing", sim.start_ns + 60_000_000_000)
    assert len(apply_marks(table, [late], sim.frames, "pelvis+wrist")) == len(table)


def test_bad_marks_get_clear_errors(data_dir, sim):
    with pytest.raises(SessionError, match="epoch nanoseconds"):
        add_swing(SESSION, 1.5, data_dir=data_dir)
    with pytest.raises(SessionError, match="epoch nanoseconds"):
        add_swing(SESSION, True, data_dir=data_dir)
    with pytest.raises(SessionError, match="lasts 20"):
        add_swing(SESSION, sim.start_ns + 3_600_000_000_000, data_dir=data_dir)
    with pytest.raises(SessionError, match="the limit is 200"):
        add_swing(SESSION, sim.start_ns + 5_000_000_000, note="x" * 201, data_dir=data_dir)
    with pytest.raises(SessionError, match="no session"):
        add_swing("nope/none", sim.start_ns, data_dir=data_dir)
    with pytest.raises(SessionError, match="no mark"):
        unmark(SESSION, "0123456789ab", data_dir=data_dir)
    assert read_marks(data_dir, "phone-1", "marked") == []
    # a damaged file is named, with its line, not silently skipped
    path = marks_path(data_dir, "phone-1", "marked")
    path.write_text('{"mark_id":"a","kind":"not_swing","time_ns":5}\n{"kind":"maybe"}\n')
    with pytest.raises(SessionError, match=r"marks.jsonl line 2: a mark needs 'mark_id'"):
        ReportData.load(SESSION, data_dir)
    # control characters in a note are not stored
    path.unlink()
    mark = add_swing(
        SESSION, sim.start_ns + 5_000_000_000, note="hi\x1b[2Jthere", data_dir=data_dir
    )
    assert mark.note == "hi [2Jthere"


def test_marks_survive_export_and_import(data_dir, tmp_path, found):
    dropped = mark_not_swing(SESSION, found.iloc[-1], data_dir=data_dir)
    for fmt in ("csv", "parquet"):
        out = export_session(SESSION, tmp_path / fmt, format=fmt, data_dir=data_dir)
        assert (out / MARKS_FILE).is_file()
    other = tmp_path / "other-data"
    result = import_export(tmp_path / "csv", other)
    assert (result.device_id, result.session_id) == ("phone-1", "marked")
    assert result.describe().endswith("; 1 coach's mark")
    assert read_marks(other, "phone-1", "marked") == [dropped]
    assert len(ReportData.load(SESSION, other).table) == len(found) - 1
    # importing again keeps one mark
    import_export(tmp_path / "csv", other)
    assert len(read_marks(other, "phone-1", "marked")) == 1


def test_swings_command_prints_the_table_with_marks_applied(data_dir, sim, found, run_cli):
    mark_not_swing(SESSION, found.iloc[0], data_dir=data_dir)
    quiet = sim.start_ns + 19_000_000_000  # the end of the session: no swing there
    assert (found["end_ns"].astype(int) < quiet - 1_000_000_000).all()
    add_swing(SESSION, quiet, data_dir=data_dir)
    code, out, err = run_cli("swings", SESSION, "--data-dir", str(data_dir))
    assert code == 0, err  # the readable table: the added swing last, said so
    lines = out.splitlines()
    assert len(lines) == len(found) + 2 and lines[-1] == f"{len(found)} swings"
    assert "added by coach" in lines[-2] and "added by coach" not in lines[1]
    code, out, err = run_cli("swings", SESSION, "--format", "csv", "--data-dir", str(data_dir))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(found["swing"]) == list(range(1, len(found) + 1))  # numbered from 1
    kept = [str(s) for s in found["swing"][1:]]
    assert [r["swing"] for r in rows] == [*kept, str(found["swing"].max() + 1)]
    assert [r["added_by_coach"] for r in rows] == ["False"] * len(kept) + ["True"]
    second = found.iloc[1]
    assert float(rows[0]["pelvis_peak_dps"]) == pytest.approx(second["pelvis_peak_dps"])
    code, out, err = run_cli("swings", SESSION, "--format", "json", "--data-dir", str(data_dir))
    assert code == 0, err
    doc = json.loads(out)
    assert [r["swing"] for r in doc] == [int(r["swing"]) for r in rows]
    assert doc[-1]["added_by_coach"] is True and doc[0]["added_by_coach"] is False
    assert doc[0]["hand_peak_ns"] == int(second["hand_peak_ns"])
    assert doc[0]["pelvis_peak_dps"] == pytest.approx(second["pelvis_peak_dps"])
    no_marks = ("swings", SESSION, "--no-marks", "--format", "json", "--data-dir", str(data_dir))
    code, out, _ = run_cli(*no_marks)
    assert [r["swing"] for r in json.loads(out)] == list(found["swing"])
    code, out, err = run_cli("swings", "nope", "--data-dir", str(data_dir))
    assert code == 1 and "no session 'nope'" in err and out == ""


def test_the_dashboard_reads_seconds_ago_or_a_clock_time():
    from datetime import datetime

    from hitting_coach.ui.swing_panel import parse_swing_time

    now = datetime(2026, 11, 28, 14, 5, 40).astimezone()
    now_ns = round(now.timestamp()) * 1_000_000_000
    assert parse_swing_time("3", now_ns) == now_ns - 3_000_000_000
    assert parse_swing_time(" 2.5 ", now_ns) == now_ns - 2_500_000_000
    assert parse_swing_time("14:05:32", now_ns) == now_ns - 8_000_000_000
    assert parse_swing_time("14:05:32.5", now_ns) == now_ns - 7_500_000_000
    assert parse_swing_time("14:06", now_ns) == now_ns + 20_000_000_000 - 86_400_000_000_000
    for text, problem in [
        ("", "how many seconds ago"),
        ("yesterday", "neither seconds ago"),
        ("25:00", "not a time of day"),
        ("9999", "too long ago"),
        ("-3", "neither seconds ago"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_swing_time(text, now_ns)


def test_live_swings_with_marks(tmp_path, sim):
    """What the dashboard and swings.json show: live rows, marks applied, kept on disk."""
    import orjson

    from hitting_coach.analysis.corrections import MarkedLiveSwings
    from hitting_coach.analysis.live_swings import LiveSwings
    from hitting_coach.ingest.hub import Hub

    hub = Hub(capacity=20_000)
    live = LiveSwings(hub)
    frames = {}

    def marked():
        return MarkedLiveSwings(
            live, tmp_path, lambda device: "s-1", lambda d: {s: hub.frame(d, s) for s in frames}
        )

    marks = marked()
    for message in sim.messages(device_id="hitter-1", session_id="s-1"):
        hub.ingest(orjson.dumps(message))
    frames.update(dict.fromkeys(hub.sensors("hitter-1")))
    live.poll()
    rows = marks.rows("hitter-1")
    assert len(rows) >= 2 and all(r["session_id"] == "s-1" for r in rows)
    before = marks.revision("hitter-1")
    mark = marks.mark_not_swing("hitter-1", rows[0]["swing"])
    assert marks.revision("hitter-1") != before
    assert [r["swing"] for r in marks.rows("hitter-1")] == [r["swing"] for r in rows[1:]]
    # stored with the session: a new server (a new MarkedLiveSwings) applies it too
    assert read_marks(tmp_path, "hitter-1", "s-1") == [mark]
    assert len(marked().rows("hitter-1")) == len(rows) - 1
    with pytest.raises(SessionError, match="no swing #99"):
        marks.mark_not_swing("hitter-1", 99)
    marks.unmark("hitter-1", mark.mark_id)
    assert len(marks.rows("hitter-1")) == len(rows)


def test_a_tap_on_a_row_that_just_took_another_swing_marks_nothing(tmp_path, sim, monkeypatch):
    """The swing list's rows are reused: when a swing leaves the list and another takes its
    row, a tap that came just then (meant for the one shown before) is refused, not applied
    to the swing now in the row."""
    import orjson

    from hitting_coach.analysis.corrections import MarkedLiveSwings
    from hitting_coach.analysis.live_swings import LiveSwings
    from hitting_coach.ingest.hub import Hub
    from hitting_coach.ui import swing_panel

    hub = Hub(capacity=20_000)
    live = LiveSwings(hub)
    for message in sim.messages(device_id="hitter-1", session_id="s-1"):
        hub.ingest(orjson.dumps(message))
    live.poll()
    marks = MarkedLiveSwings(
        live, tmp_path, lambda device: "s-1", lambda d: {s: hub.frame(d, s) for s in ()}
    )
    numbers = [r["swing"] for r in marks.rows("hitter-1")]
    assert len(numbers) >= 2
    panel = swing_panel.SwingPanel(marks, last=1)  # one row: the newest swing
    panel.update("hitter-1")
    _, _, button = panel._slots[0]
    button.clicks += 1  # the row never held another swing: the tap marks the newest
    assert [r["swing"] for r in marks.rows("hitter-1")] == numbers[:-1]
    panel.update("hitter-1")  # the row now holds the swing before it
    assert f"<td>{numbers[-2]}</td>" in panel._slots[0][1].object
    button.clicks += 1
    assert [r["swing"] for r in marks.rows("hitter-1")] == numbers[:-1]  # nothing marked
    assert "tap again" in panel.message.object
    monkeypatch.setattr(swing_panel, "_MOVED_S", 0.0)  # a moment later, the tap is taken
    button.clicks += 1
    assert [r["swing"] for r in marks.rows("hitter-1")] == numbers[:-2]
