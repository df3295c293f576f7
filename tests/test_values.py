"""Issue 25 item 5: one way to show a value. A clipped peak, a unit and a reference range read
the same on the live page's headline and list, the phone card, the CLI and the report."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from hitting_coach.analysis.corrections import swings_readable
from hitting_coach.analysis.reference import versus_reference
from hitting_coach.analysis.report_data import format_metric
from hitting_coach.ui.phone_view import phone_html
from hitting_coach.ui.report_plots import _reference_rows
from hitting_coach.ui.swing_panel import headline, swing_row_html
from hitting_coach.values import plural, rate_hz, reference_range, show_value
from support import ROOT

CLIPPED = {
    "swing": 4,
    "placement": "pelvis+wrist",
    "start_ns": 1_700_000_000_000_000_000,
    "end_ns": 1_700_000_000_400_000_000,
    "pelvis_peak_dps": 712.4,
    "pelvis_clipped": False,
    "pelvis_rate_hz": 200.0,
    "hand_peak_dps": math.nan,  # clipped: no exact value
    "hand_peak_measured_dps": 2492.3,
    "hand_clipped": True,
    "hand_rate_hz": 200.0,
    "peak_gap_ms": 41.0,
    "sequence_ok": True,
}


def test_a_clipped_peak_reads_the_same_everywhere():
    assert show_value(CLIPPED, "hand_peak_dps") == "≥2492"
    assert show_value(CLIPPED, "hand_peak_dps", unit=True) == "≥2492 °/s"
    assert show_value(CLIPPED, "pelvis_peak_dps", unit=True) == "712 °/s"
    assert show_value(CLIPPED, "bat_speed_mph") == "–"  # not measured
    # the live page's headline and list, the phone card, the report, the CLI
    assert '<div class="v">≥2492<span class="u">°/s</span>' in headline(CLIPPED)
    assert "<td>≥2492</td>" in swing_row_html(CLIPPED)
    assert "≥2492" in phone_html([CLIPPED])
    assert format_metric(CLIPPED, "hand_peak_dps") == "≥2492"
    table = swings_readable(pd.DataFrame([CLIPPED]))
    assert "≥2492 °/s" in table and "gyro clipped" in table
    for shown in (headline(CLIPPED), swing_row_html(CLIPPED), phone_html([CLIPPED]), table):
        assert "<td>clipped</td>" not in shown and "≥ 2492" not in shown  # no other spelling


def test_the_readme_spells_a_clipped_value_as_the_pages_do():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    spelled = re.findall(r"`(≥ ?\d+)`", readme)
    assert spelled, "the README shows a clipped value"
    for example in spelled:
        bound = float(example.lstrip("≥ "))
        row = {"hand_peak_dps": math.nan, "hand_clipped": True, "hand_peak_measured_dps": bound}
        assert example == show_value(row, "hand_peak_dps")


def test_a_reference_is_said_in_words_a_coach_reads():
    assert reference_range("pelvis_peak_dps", "college", 657, 749) == (
        "college middle half 657–749 °/s"
    )
    assert versus_reference("pelvis_peak_dps", 800) == ("above the college middle half 657–749 °/s")
    assert versus_reference("pelvis_peak_dps", 700) == "in the college middle half 657–749 °/s"
    assert versus_reference("bat_speed_mph", 60.0) == (
        "below the college middle half 63.0–69.1 mph"
    )
    assert versus_reference("hand_peak_dps", math.nan) == ""
    # the live headline and the phone card say it so, not "college median 713 [657–749]"
    for shown in (headline(CLIPPED), phone_html([CLIPPED])):
        assert "in the college middle half 657–749 °/s" in shown
        assert "[" not in re.sub(r"<[^>]+>", "", shown)


def test_the_reports_reference_table_has_no_code_names():
    rows = _reference_rows("pelvis_peak_dps", "peak pelvis speed", 726.0)
    college = next(r for r in rows if r["Level"] == "college")
    assert college["Middle half of the level's swings"] == "657–749 °/s"
    assert college["Level's median"] == "713 °/s"
    assert college["This session's median"] == "726 °/s"
    assert college["Where it sits"].startswith("in the college middle half 657–749 °/s; faster ")
    for row in rows:
        assert not {"q1", "q3", "percentile", "median"} & set(row)
        assert not any(re.search(r"\d\.0\b", v) for v in row.values()), row  # no "726.0"


def test_plurals():
    assert [plural(n, "swing") for n in (0, 1, 2)] == ["0 swings", "1 swing", "2 swings"]
    assert plural(1, "session") == "1 session" and plural(3, "flag") == "3 flags"
    assert plural(1200, "reading") == "1,200 readings"


def test_a_watch_sending_50_hz_with_pauses_is_50_hz():
    one_second = np.arange(50) * 20_000_000
    times = np.concatenate([one_second + k * 2_000_000_000 for k in range(10)])  # 1 s on, 1 off
    assert (len(times) - 1) * 1e9 / (times[-1] - times[0]) < 27  # what count/span said
    assert rate_hz(times) == 50.0
    assert rate_hz(times[::-1]) == 50.0  # order does not matter
    assert rate_hz(times[:1]) is None and rate_hz(np.array([5, 5])) is None
