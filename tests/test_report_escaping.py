"""Ids and names that carry HTML run no script in a report or in the notebook explorer; they
are shown as text (issue 11, item 2). Checked in Chromium, where a script would run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
import pandas as pd
import pytest

from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.recorder import Recorder

pytestmark = pytest.mark.integration

# Valid HTML for Markdown too (quoted attributes), so a pane passing HTML through runs them.
DEVICE = """<img src="x" onerror="window.__pwned='device'">"""
SESSION = "<script>window.__pwned='session'</script>"
NAME = """<img src="y" onerror="window.__pwned='name'">"""


def rendered(page, path) -> None:
    """Open ``path`` offline and wait until every Bokeh root has a view."""
    page.goto(path.as_uri())
    page.wait_for_function(
        """() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(
             d => d.roots().every(r => Bokeh.index[r.id] !== undefined))""",
        timeout=60_000,
    )


@pytest.fixture
def offline_page(browser):
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()


def test_a_report_of_hostile_ids_runs_no_script_and_shows_them_as_text(tmp_path, offline_page):
    data = tmp_path / "data"
    sim = simulate("pelvis+wrist", duration_s=12, rate_hz=100, seed=5)
    with Recorder(data) as recorder:
        hub = Hub(sink=recorder)
        for m in sim.messages(session_id=SESSION, device_id=DEVICE):
            hub.ingest(orjson.dumps(m), source="replay")
    out = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null", "report"]
        + ["latest", "--data-dir", str(data), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    rendered(offline_page, out)
    assert offline_page.evaluate("() => window.__pwned") is None
    assert not offline_page.locator("img[onerror], script:has-text('__pwned')").count()
    heading = offline_page.locator("h2", has_text="onerror").inner_text()
    assert heading == f"{SESSION} ({DEVICE})"  # the title, as text
    assert offline_page.errors == []


def test_the_explorer_snapshot_caption_runs_no_script(tmp_path, offline_page):
    import panel as pn
    from bokeh.resources import INLINE

    from hitting_coach.ui.explorer import Explorer

    class Live:  # one device and sensor, as a LiveSession would give them
        def devices(self) -> list[str]:
            return [DEVICE]

        def sensors(self, device: str) -> list[str]:
            return [NAME]

        def snapshot(self, device, sensor, seconds) -> pd.DataFrame:
            t = np.arange(50, dtype=np.int64) * 10_000_000
            return pd.DataFrame({"time_ns": t, "x": np.sin(t / 1e8)})

        def pause(self) -> None: ...

        def resume(self) -> None: ...

    explorer = Explorer(Live(), period_ms=60_000)
    try:
        explorer.take_snapshot()
    finally:
        explorer.stop()
    out = tmp_path / "explorer.html"
    pn.Column(explorer.note).save(out, resources=INLINE)

    rendered(offline_page, out)
    assert offline_page.evaluate("() => window.__pwned") is None
    assert not offline_page.locator("img[onerror]").count()
    caption = offline_page.get_by_text("Snapshot: 50 readings").inner_text()
    assert caption == f"Snapshot: 50 readings of {NAME} from {DEVICE} in explorer.last_snapshot."
