"""``hitting-coach report``: one self-contained HTML file that renders with the network cut off."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from hitting_coach.analysis.report_data import ReportData, headline_metrics
from hitting_coach.report import inject_parameters
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.sessions import Session
from hitting_coach.ui.report_plots import minmax_downsample


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def report_file(recorded_swings, tmp_path_factory):
    data_dir, _ = recorded_swings
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = run_cli("report", "sim-swings", "--data-dir", str(data_dir), "-o", str(out))
    return out, done


@pytest.mark.integration
def test_report_command_writes_one_html_file_and_shows_progress(report_file):
    out, done = report_file
    assert done.returncode == 0, done.stderr
    assert out.is_file() and str(out) in done.stdout
    progress = done.stderr
    for step in ("[1/", "The session at a glance", "Raw signals", "Swings found", "wrote"):
        assert step in progress, progress
    assert "Traceback" not in progress and "WARNING" not in progress
    html = out.read_text()
    # Nothing the browser would fetch: no script/link/img from anywhere, no CSS import.
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=[\"']?(https?:)?//", html)
    assert not re.search(r"<link[^>]*\shref=[\"']?(https?:)?//", html)
    assert 1_000_000 < out.stat().st_size < 15_000_000


@pytest.mark.integration
def test_report_renders_every_plot_offline(report_file, recorded_swings, browser):
    out, done = report_file
    assert done.returncode == 0, done.stderr
    _, sim = recorded_swings
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors, failed, fetched = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))

    def only_the_file(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    try:
        page.goto(out.as_uri())
        # Every Bokeh root of every output has a view: each plot and table rendered.
        page.wait_for_function(
            """() => window.Bokeh && Bokeh.documents.length >= 8 && Bokeh.documents.every(
                 d => d.roots().every(r => Bokeh.index[r.id] !== undefined))""",
            timeout=30_000,
        )
        page.wait_for_timeout(500)
        # 11 figures: timeline, 4 sensors, swing sequence, 3 trends, 2 reference plots.
        assert page.locator(".bk-Canvas").count() >= 11
        for heading in (
            "The session at a glance",
            "Raw signals",
            "Swings found",
            "Each swing's sequence",
            "Trends over the session",
            "Compared with reference figures",
        ):
            assert page.get_by_role("heading", name=heading).count() == 1, heading
        assert page.get_by_text("sim-swings (phone-1)").count() >= 1
        # Every simulated swing is in the table (one row each) and counted on the card.
        table = page.locator("table").filter(has=page.locator("th", has_text="quality"))
        assert table.locator("tbody tr").count() == len(sim.truth)
        assert page.locator(".hc-card-value").nth(1).inner_text() == str(len(sim.truth))
        # The swing viewer is interactive with no kernel: moving the slider shows swing 3.
        summary = """() => {
              for (const doc of Bokeh.documents) {
                const slider = doc.get_model_by_name("swing-slider");
                if (slider) { return [slider, doc.get_model_by_name("swing-summary")]; }
              }
            }"""
        assert page.evaluate(f"({summary})()[1].text").startswith("<b>Swing 0</b>")
        page.evaluate(f"({summary})()[0].value = 3")
        page.wait_for_function(f"({summary})()[1].text.startsWith('<b>Swing 3</b>')")
        page.wait_for_timeout(200)
        assert errors == [], errors
        assert failed == [] and fetched == [], (failed, fetched)
    finally:
        context.close()


@pytest.mark.integration
def test_report_of_an_unknown_session_is_one_line_and_writes_nothing(recorded_swings, tmp_path):
    data_dir, _ = recorded_swings
    out = tmp_path / "r.html"
    done = run_cli("report", "no-such-session", "--data-dir", str(data_dir), "-o", str(out))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("hitting-coach: error: no session 'no-such-session'")
    assert not out.exists()
    done = run_cli("report", "sim-swings", "--take", "nope", "--data-dir", str(data_dir))
    assert done.returncode == 1
    assert (
        done.stderr == "hitting-coach: error: no take 'nope' in session sim-swings (takes: none)\n"
    )


def test_report_data_for_a_bat_session_leads_with_bat_numbers():
    sim = simulate("bat", duration_s=20, rate_hz=200, seed=5)
    data = ReportData.from_session(Session("bat-phone", "s", frames=sim.frames))
    assert data.placement == "bat" and data.placement_guessed
    assert len(data.table) == len(sim.truth)
    assert [c for c, _, _ in headline_metrics("bat")] == [
        "bat_speed_mph",
        "time_to_contact_ms",
        "rot_accel_g",
    ]
    shown = data.display_table()
    assert list(shown["swing"]) == list(range(len(sim.truth)))
    assert "bat_speed_mph" in shown and set(shown["quality"]) <= {"ok", "bat clipped", "bat gap"}
    assert set(data.events()["event"]) >= {"bat peak", "impact"}


def test_minmax_downsample_keeps_spikes_and_breaks_lines_at_gaps():
    t = np.arange(300_000, dtype=np.int64) * 2_000_000  # 10 min at 500 Hz
    t[150_000:] += 5_000_000_000  # a 5 s gap in the middle
    v = np.zeros(len(t))
    v[123_457] = 50.0  # one-sample spike (an impact)
    v[200_001] = -7.0
    t_s, out = minmax_downsample(t, v, buckets=2000)
    assert len(out) <= 4001
    assert np.nanmax(out) == 50.0 and np.nanmin(out) == -7.0
    assert np.isnan(out).sum() == 1  # the line breaks once, at the gap
    gap = int(np.flatnonzero(np.isnan(out))[0])
    assert t_s[gap + 1] - t_s[gap - 1] > 5.0
    assert np.all(np.diff(t_s[~np.isnan(t_s)]) > 0)


def test_parameters_are_injected_after_the_parameters_cell():
    import nbformat

    from hitting_coach.report import REPORT_NOTEBOOK

    nb = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    tagged = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    inject_parameters(nb, {"SESSION": "a/b", "TAKE": None})
    assert nb.cells[tagged + 1].source.splitlines()[1:] == ["SESSION = 'a/b'", "TAKE = None"]


def test_notebooks_find_the_projects_settings_from_the_notebooks_folder(tmp_path, monkeypatch):
    """Lab runs a notebook's kernel in notebooks/; the server runs one level up."""
    from hitting_coach.config import Settings

    for name in list(os.environ):
        if name.startswith(("HITTING_COACH_", "MQTT_")):
            monkeypatch.delenv(name)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / ".env").write_text("HITTING_COACH_DATA_DIR=recordings\nMQTT_BROKER=broker.lan\n")
    monkeypatch.chdir(tmp_path / "notebooks")
    settings = Settings.load()
    assert settings.data_path == tmp_path / "recordings"
    assert settings.mqtt_broker == "broker.lan"
