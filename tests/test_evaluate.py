"""hitting-coach evaluate: recall, precision and errors on recordings with known swings."""

from __future__ import annotations

import shutil

import pytest
from test_realdata_swings import REALDATA

from hitting_coach.cli import main
from hitting_coach.evaluate import Recording, evaluate, report_text, summary
from hitting_coach.sim.simulate import simulate


@pytest.fixture
def labelled(tmp_path):
    """A small labelled set: two real swings, a throw, a forehand, and two files whose label
    is wrong on purpose (a throw labelled as a swing, a swing labelled as a throw)."""
    folder = tmp_path / "labelled"
    folder.mkdir()
    copies = {
        "baseball_swing_s1_t1": "baseball_swing_s1_t1",
        "baseball_swing_s4_t4": "baseball_swing_s4_t4",
        "throw_s2_t1": "throw_s2_t1",
        "tennis_forehand_s3_t1": "tennis_forehand_s3_t1",
        "throw_s1_t1": "baseball_swing_s9_t1",  # truth says swing: one missed
        "baseball_swing_s2_t3": "throw_s9_t1",  # truth says none: one too many
    }
    for source, name in copies.items():
        shutil.copy(REALDATA / f"{source}.csv", folder / f"{name}.csv")
    return folder


def columns(out: str) -> dict[str, dict[str, str]]:
    """The report's lines by their first word, each as {column: value}."""
    lines = [line.split() for line in out.splitlines() if line.strip()]
    head = lines[0]
    return {line[0]: dict(zip(head, line, strict=False)) for line in lines[1:]}


COUNTS = ("truth", "found", "checked", "matched", "recall", "precision")


def counts(row: dict[str, str]) -> list[str]:
    return [row[c] for c in COUNTS]


def test_evaluate_prints_recall_and_precision_per_file_and_overall(labelled, capsys):
    assert main(["evaluate", str(labelled)]) == 0
    lines = columns(capsys.readouterr().out)
    assert counts(lines["baseball_swing_s1_t1"]) == ["1", "1", "0", "1", "100%", "100%"]
    assert counts(lines["baseball_swing_s9_t1"]) == ["1", "0", "0", "0", "0%", "-"]
    assert counts(lines["throw_s9_t1"]) == ["0", "1", "0", "0", "-", "0%"]
    assert counts(lines["throw_s2_t1"]) == ["0", "0", "0", "0", "-", "-"]
    assert counts(lines["[labelled/baseball_swing]"]) == ["3", "2", "0", "2", "67%", "100%"]
    assert counts(lines["[labelled]"]) == ["3", "3", "0", "2", "67%", "67%"]
    assert counts(lines["overall"]) == ["3", "3", "0", "2", "67%", "67%"]


def test_evaluate_never_runs_code_found_in_the_data_folder(labelled, capsys):
    trap = labelled / "to_sensor_logger.py"
    trap.write_text("raise SystemExit('the data folder ran code')\n")
    assert main(["evaluate", str(labelled), "--summary"]) == 0
    assert counts(columns(capsys.readouterr().out)["overall"])[:2] == ["3", "3"]


def test_timing_and_peak_errors_against_known_swing_times():
    s = simulate("wrist", duration_s=20, seed=3, gyro_range_dps=4000)
    times = s.truth.hand_peak_ns.astype("int64").tolist()
    peaks = {"hand": s.truth.hand_peak_dps.tolist()}
    missing = times[0] - 2_000_000_000  # a swing in the truth where nothing happened
    rec = Recording("sim", s.frames, 4, [missing, *times], {"hand": [1000.0, *peaks["hand"]]})
    table = evaluate([rec], "wrist")
    row = table.iloc[0]
    assert (row.truth, row.found, row.matched) == (4, 3, 3)
    assert row.recall == pytest.approx(0.75) and row.precision == 1.0
    assert row.timing_ms < 10  # the found peaks are within a sample of the true ones
    assert row.hand_peak_error_pct < 3
    total = summary(table)
    assert total["recall"] == pytest.approx(0.75)
    assert "overall" in report_text(table)


def test_exports_need_a_truth_csv_and_nothing_to_evaluate_is_an_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "need --truth" in capsys.readouterr().err
    assert main(["evaluate"]) == 1
    assert "nothing to evaluate" in capsys.readouterr().err
    bad = tmp_path / "truth.csv"
    bad.write_text("file,when\na,1\n")
    assert main(["evaluate", str(tmp_path), "--truth", str(bad)]) == 1
    assert "needs columns recording and time_s or time_ns" in capsys.readouterr().err


def test_a_recorded_session_is_judged_against_the_coachs_marks(recorded_swings, tmp_path, capsys):
    from hitting_coach import load_session, swings
    from hitting_coach.store.marks import add_swing, mark_not_swing

    data_dir, sim = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)  # marks are written: not into the shared fixture
    ref = "phone-1/sim-swings"
    table = swings(load_session(ref, data).frames)
    assert len(table) == 10
    mark_not_swing(ref, table.iloc[0], data_dir=data)  # the coach says: not a swing
    add_swing(ref, sim.start_ns + 5_500_000_000, data_dir=data)  # and: a swing missed here
    assert main(["evaluate", "--session", ref, "--data-dir", str(data)]) == 0
    lines = columns(capsys.readouterr().out)
    # truth: 9 kept + 1 added; found: the detector's 10; 9 of them match
    assert counts(lines[ref]) == ["10", "10", "0", "9", "90%", "90%"]
