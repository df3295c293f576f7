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
    fetched: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_the_file(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    try:
        page.goto(path.as_uri())
        page.locator(".bk-Canvas").nth(3).wait_for(timeout=60_000)  # scatter, sequence, sensors
        assert page.evaluate("() => Bokeh.documents.length") >= 1
        assert errors == [] and fetched == [], (errors, fetched)
    finally:
        context.close()
