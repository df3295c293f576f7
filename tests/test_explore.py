"""hitting_coach.explore: a recorded session's linked HoloViews views (ui/explore.py)."""

from __future__ import annotations

import re
import shutil

import holoviews as hv
import numpy as np
import pytest

import hitting_coach
from hitting_coach.analysis.report_data import ReportData
from hitting_coach.errors import SessionError
from support import only_files


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


def test_a_long_sensor_is_rasterized_by_datashader(recorded_swings):
    explorer = hitting_coach.explore("latest", data_dir=recorded_swings[0], rasterize_above=5_000)
    assert "gyroscope" in explorer.rasterized  # 12,000 readings
    gyroscope = explorer.timeline.values()[explorer.sensors.index("gyroscope")]
    plot = hv.renderer("bokeh").get_plot(gyroscope)
    images = [s for s in plot.subplots.values() if type(s).__name__ == "RasterPlot"]
    assert len(images) == 3  # x, y, z, each drawn by datashader at the plot's resolution
    assert all(s.handles["source"].data["image"][0].shape[1] > 100 for s in images)


@pytest.mark.integration
def test_the_saved_html_renders_in_chromium_with_no_network(explorer, browser, tmp_path):
    path = explorer.save(tmp_path / "explore.html")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    fetched = only_files(page)
    try:
        page.goto(path.as_uri())
        page.locator(".bk-Canvas").nth(3).wait_for(timeout=60_000)  # scatter, sequence, sensors
        assert page.evaluate("() => Bokeh.documents.length") >= 1
        assert errors == [] and fetched == [], (errors, fetched)
    finally:
        context.close()


def test_marking_selected_swings_not_a_swing_writes_the_dashboards_store_and_redraws(
    recorded_swings, tmp_path
):
    """Select swings 2 and 4 on the scatter, press *Not a swing*: two marks in the session's
    marks (the store the dashboard and reports read), the views drawn again without those
    swings and with the marks on the timeline; *Remove mark* takes one back."""
    data_dir = tmp_path / "data"
    shutil.copytree(recorded_swings[0], data_dir)  # the fixture's session stays unmarked
    explorer = hitting_coach.explore("latest", data_dir=data_dir)
    view = explorer.__panel__()
    assert len(explorer.swings) == 10 and explorer.marks_select.options == {}
    explorer.not_swing_button.clicks += 1  # nothing selected: says so, writes nothing
    assert "no swing selected" in explorer.message.object
    assert hitting_coach.list_marks(explorer.ref, data_dir=data_dir).empty

    explorer.selection.event(index=[1, 3])
    explorer.not_swing_button.clicks += 1
    marks = hitting_coach.list_marks(explorer.ref, data_dir=data_dir)
    assert marks["kind"].tolist() == ["not_swing"] * 2
    assert explorer.message.object == "2 marked not a swing · 8 swings now"
    assert 2 not in explorer.swings["swing"].tolist() and len(explorer.swings) == 8
    assert (
        ReportData.load("latest", data_dir).table["swing"].tolist()
        == explorer.swings["swing"].tolist()
    )  # what the report and the dashboard's swing list read
    lines = [e for e in explorer.timeline.values()[0][()] if isinstance(e, hv.VLine)]
    assert len(lines) == 2  # the marks, drawn on every sensor's timeline
    assert list(explorer.marks_select.options.values()) == marks["mark_id"].tolist()
    assert view[1].objects[0].object is explorer.scatter  # the notebook's view redrawn

    explorer.marks_select.value = marks["mark_id"].iloc[0]
    explorer.unmark_button.clicks += 1
    assert explorer.message.object == "1 mark removed · 9 swings now"
    left = hitting_coach.list_marks(explorer.ref, data_dir=data_dir)["mark_id"].tolist()
    assert left == [marks["mark_id"].iloc[1]]
    with pytest.raises(SessionError, match="no mark 'nope'"):
        explorer.unmark("nope")
    assert len(hitting_coach.list_marks(explorer.ref, data_dir=data_dir)) == 1
