"""hitting_coach.explore: a recorded session's linked HoloViews views (ui/explore.py)."""

from __future__ import annotations

import re

import holoviews as hv
import numpy as np
import pytest

import hitting_coach
from hitting_coach.analysis.report_data import ReportData


@pytest.fixture(scope="module")
def explorer(recorded_swings):
    data_dir, _ = recorded_swings
    return hitting_coach.explore("latest", data_dir=data_dir)


def test_selecting_swings_on_the_scatter_highlights_their_windows_on_the_timeline(
    explorer, recorded_swings
):
    table = ReportData.load("latest", recorded_swings[0]).table
    assert len(explorer.swings) == len(table) >= 5
    assert explorer.scatter.dframe()["pelvis_peak_dps"].tolist() == pytest.approx(
        table["pelvis_peak_dps"].tolist(), nan_ok=True
    )
    plot = hv.renderer("bokeh").get_plot(explorer.timeline)  # the whole layout draws
    assert len(plot.subplots) == len(explorer.data.session.frames)
    assert explorer.highlight[()].data.empty  # nothing selected yet
    explorer.selection.event(index=[1, 3])  # what a box select of two points sends
    shown = explorer.highlight[()].data
    want = table.iloc[[1, 3]]
    assert shown.iloc[:, 0].to_numpy("datetime64[ns]").view(np.int64).tolist() == list(
        want["start_ns"]
    )
    assert shown.iloc[:, 1].to_numpy("datetime64[ns]").view(np.int64).tolist() == list(
        want["end_ns"]
    )
    assert explorer.selected()["swing"].tolist() == [2, 4]
    explorer.selection.event(index=[])
    assert explorer.highlight[()].data.empty


def test_the_sequence_steps_through_every_swing(explorer):
    numbers = explorer.swings["swing"].tolist()
    for number in (numbers[0], numbers[-1]):
        overlay = explorer.sequence[number]
        assert {c.label for c in overlay} == {"pelvis", "hand"}
        peak = max(c.dframe()["omega_dps"].max() for c in overlay if c.label == "pelvis")
        row = explorer.swings[explorer.swings["swing"] == number].iloc[0]
        assert peak == pytest.approx(row["pelvis_peak_measured_dps"], rel=0.05)


def test_the_saved_html_holds_everything_and_fetches_nothing(explorer, tmp_path):
    path = explorer.save(tmp_path / "explore.html")
    text = path.read_text()
    assert len(text) > 500_000  # Bokeh and Panel inline
    assert not re.search(r"<script[^>]+src=\"https?://", text)
    assert not re.search(r"<link[^>]+href=\"https?://", text)
    assert "Swings: select to see them on the timeline" in text
    # the sequence slider works saved: every swing's sequence is in the file
    for number in explorer.swings["swing"]:
        assert f"Swing {number}: kinematic sequence" in text
