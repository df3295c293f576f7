"""``hitting-coach report``: one self-contained HTML file that renders with the network cut off."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hitting_coach.analysis.report_data import ReportData, headline_metrics
from hitting_coach.report import NOTEBOOK_ONLY, REPORT_NOTEBOOK, inject_parameters, notebook_to_html
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.sessions import Session
from hitting_coach.ui.report_plots import minmax_downsample
from support import only_files


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def report_file(recorded_swings, tmp_path_factory):
    data_dir, _ = recorded_swings
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = run_cli("report", "sim-swings", "--data-dir", str(data_dir), "-o", str(out))
    return out, done


@pytest.fixture(scope="module")
def imported_report(recorded_swings, tmp_path_factory):
    """The recorded session exported as Sensor Logger CSVs, zipped, imported into a new data
    dir as a user would, and reported: ``(report path, data dir)``."""
    data_dir, _ = recorded_swings
    work = tmp_path_factory.mktemp("imported")
    done = run_cli(
        "export", "sim-swings", "--format", "csv", "--out", str(work / "export"),
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    archive = shutil.make_archive(str(work / "sim-export"), "zip", work / "export")
    done = run_cli("import", archive, "--data-dir", str(work / "data"))
    assert done.returncode == 0, done.stderr
    out = work / "report.html"
    done = run_cli("report", "latest", "--data-dir", str(work / "data"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out, work / "data"


def open_report(browser, path):
    """The report in Chromium with the network cut off, once every Bokeh root has a view."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_function(
        """() => window.Bokeh && Bokeh.documents.length >= 8 && Bokeh.documents.every(
             d => d.roots().every(r => Bokeh.index[r.id] !== undefined))""",
        timeout=30_000,
    )
    return context, page


#: In the report page: a Bokeh model by name, from whichever output's document holds it.
JS_FIND = """const find = (name) => {
  for (const d of Bokeh.documents) { const m = d.get_model_by_name(name); if (m) return m; }
  return null; };"""
#: The sequence plot's two curves as drawn now: points and highest |ω| of each.
JS_CURVES = f"""() => {{ {JS_FIND}
  return ["pelvis", "hand"].map(segment => {{
    const data = find("sequence-" + segment).data_source.data;
    return {{points: data.t.length, max: data.w.length ? Math.max(...data.w) : null}};
  }}); }}"""
#: Pixels of the sequence plot's canvas close to a colour (#rrggbb): what the reader sees.
JS_PIXELS = f"""(hex) => {{ {JS_FIND}
  const plot = find("swing-sequence");
  const doc = Bokeh.documents.find(d => d.get_model_by_id(plot.id));
  const view = Bokeh.index[doc.roots()[0].id].owner.find_one(plot);
  const canvas = view.canvas_view.primary.canvas;
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const rgb = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < px.length; i += 4) {{
    if (Math.abs(px[i] - rgb[0]) + Math.abs(px[i + 1] - rgb[1]) + Math.abs(px[i + 2] - rgb[2]) < 60) n++;
  }}
  return n; }}"""
PELVIS_BLUE, HAND_ORANGE = "#1f77b4", "#ff7f0e"


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
    errors, failed = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    fetched = only_files(page)
    try:
        page.goto(out.as_uri())
        # Every Bokeh root of every output has a view: each plot and table rendered.
        page.wait_for_function(
            """() => window.Bokeh && Bokeh.documents.length >= 8 && Bokeh.documents.every(
                 d => d.roots().every(r => Bokeh.index[r.id] !== undefined))""",
            timeout=30_000,
        )
        # 11 figures: timeline, 4 sensors, swing sequence, 3 trends, 2 reference plots.
        page.locator(".bk-Canvas").nth(10).wait_for(state="attached")
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
        assert page.evaluate(f"({summary})()[1].text").startswith("<b>Swing 1</b>")
        page.evaluate(f"({summary})()[0].value = 3")
        page.wait_for_function(f"({summary})()[1].text.startsWith('<b>Swing 3</b>')")
        page.wait_for_timeout(200)
        assert errors == [], errors
        assert failed == [] and fetched == [], (failed, fetched)
    finally:
        context.close()


@pytest.mark.integration
@pytest.mark.parametrize("origin", ["recorded", "imported"])
def test_the_sequence_plot_draws_both_curves_for_every_swing(
    origin, report_file, imported_report, recorded_swings, browser
):
    """Moving the slider to each swing in turn: the pelvis and hand curves hold that swing's
    readings (their peaks are the table's) and are drawn on the canvas."""
    if origin == "recorded":
        (path, _), data_dir = report_file, recorded_swings[0]
    else:
        path, data_dir = imported_report
    table = ReportData.load("latest", data_dir).table
    assert len(table) >= 5
    context, page = open_report(browser, path)
    try:
        set_swing = f"(n) => {{ {JS_FIND} find('swing-slider').value = n; }}"
        summary = f"() => {{ {JS_FIND} return find('swing-summary').text; }}"
        # What the plot shows besides the curves (legend, event markers), curves hidden.
        page.evaluate(f"() => {{ {JS_FIND} find('sequence-pelvis').visible = false;"
                      " find('sequence-hand').visible = false; }")  # fmt: skip
        page.wait_for_function(f"({JS_PIXELS})('{PELVIS_BLUE}') < 400")
        base = {c: page.evaluate(f"({JS_PIXELS})('{c}')") for c in (PELVIS_BLUE, HAND_ORANGE)}
        page.evaluate(f"() => {{ {JS_FIND} find('sequence-pelvis').visible = true;"
                      " find('sequence-hand').visible = true; }")  # fmt: skip
        order = [*range(2, len(table) + 1), 1]  # every swing, then back to the first
        for number in order:
            page.evaluate(f"({set_swing})({number})")
            page.wait_for_function(f"({summary})().startsWith('<b>Swing {number}</b>')")
            row = table.iloc[number - 1]
            pelvis, hand = page.evaluate(JS_CURVES)
            assert pelvis["points"] > 50 and hand["points"] > 50, (number, pelvis, hand)
            assert pelvis["max"] == pytest.approx(row["pelvis_peak_measured_dps"], rel=0.05)
            # the watch's largest reading is the forearm rolling over after the hand peak
            assert hand["max"] > row["hand_peak_measured_dps"]
            # Drawn: each curve adds hundreds of pixels of its colour to the canvas.
            page.wait_for_function(
                f"""() => ({JS_PIXELS})('{PELVIS_BLUE}') > {base[PELVIS_BLUE] + 300}
                    && ({JS_PIXELS})('{HAND_ORANGE}') > {base[HAND_ORANGE] + 300}""",
                timeout=5_000,
            )
    finally:
        context.close()


@pytest.mark.integration
def test_the_swing_table_reads_plainly(report_file, recorded_swings, browser):
    """Plain column names with units, swings numbered from 1, a clipped peak as its lower
    bound (``≥value``), yes/no flags, no code names or NaN, and no notebook instructions."""
    out, done = report_file
    assert done.returncode == 0, done.stderr
    table = ReportData.load("latest", recorded_swings[0]).table
    clipped = table["hand_clipped"].fillna(False).astype(bool).to_numpy()
    assert clipped.any() and not clipped.all()  # the session has both kinds of swing
    html = out.read_text()
    for instruction in ("set the parameters below", "Run All Cells", "hitting-coach report"):
        assert instruction not in html, instruction
    context, page = open_report(browser, out)
    try:
        shown = page.locator("table").filter(has=page.locator("th", has_text="Quality"))
        head = [t.strip() for t in shown.locator("thead th").all_inner_texts()]
        assert head == [
            "Swing",
            "Time (s)",
            "Duration (ms)",
            "Peak pelvis speed (°/s)",
            "Peak hand speed (°/s)",
            "Pelvis peak after foot plant (ms)",
            "Hand peak after foot plant (ms)",
            "Pelvis-to-hand gap (ms)",
            "Speed gain (hand ÷ pelvis)",
            "Sequence OK",
            "Quality",
        ]
        rows = [
            [c.strip() for c in r.locator("td").all_inner_texts()]
            for r in shown.locator("tbody tr").all()
        ]
        assert [r[0] for r in rows] == [str(n) for n in range(1, len(table) + 1)]
        assert {r[head.index("Sequence OK")] for r in rows} <= {"yes", "no"}
        hand = head.index("Peak hand speed (°/s)")
        for row, was_clipped, measured in zip(
            rows, clipped, table["hand_peak_measured_dps"], strict=True
        ):
            if was_clipped:
                assert row[hand] == f"≥{measured:.0f}" and "hand clipped" in row[-1], row
            else:
                assert row[hand] == f"{measured:.0f}" and row[-1] == "ok", row
        assert not any("nan" in c.lower() or "_" in c for r in [head, *rows] for c in r)
        # The slider and the captions count from 1 too.
        assert page.evaluate(f"() => {{ {JS_FIND} return find('swing-slider').start; }}") == 1
        assert page.get_by_text("Swing 1 at").count() == 1
    finally:
        context.close()


@pytest.mark.integration
def test_a_long_swing_table_is_shown_whole(browser, tmp_path):
    """Every row of a long session's table is on the page: no box around it is shorter than
    its content (a scroll box, or rows spilling over what follows)."""
    import panel as pn

    from hitting_coach.ui.report_plots import swing_table_view

    sim = simulate("bat", duration_s=300, rate_hz=100, seed=8)
    data = ReportData.from_session(Session("bat-phone", "long", frames=sim.frames))
    assert len(data.table) >= 40  # rows over more than 600 px
    pn.Column(swing_table_view(data)).save(tmp_path / "table.html", resources="inline")
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 700})
    page = context.new_page()
    try:
        page.goto((tmp_path / "table.html").as_uri())
        rows = page.locator("table tbody tr")
        rows.first.wait_for(timeout=30_000)
        assert rows.count() == len(data.table)
        too_short = rows.last.evaluate(
            """(row) => { const boxes = [];
              for (let e = row; e; e = e.parentElement || e.getRootNode().host || null) {
                if (e === document.body || e === document.documentElement) break;
                if (e.scrollHeight > e.clientHeight + 1) boxes.push(e.tagName + "." + e.className);
              }
              return boxes; }"""
        )
        assert too_short == []
    finally:
        context.close()


def test_cells_tagged_notebook_only_stay_in_the_notebook_and_out_of_the_html():
    import nbformat

    nb = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    hidden = [c for c in nb.cells if NOTEBOOK_ONLY in c.metadata.get("tags", [])]
    assert len(hidden) == 1 and "set the parameters below" in hidden[0].source
    assert not any("parameters below" in c.source for c in nb.cells if c not in hidden)
    html = notebook_to_html(nb)
    assert "Hitting Coach · session report" in html
    assert "parameters below" not in html and "Run All Cells" not in html


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
    assert list(shown["Swing"]) == list(range(1, len(sim.truth) + 1))
    assert "Bat speed (mph)" in shown and "Contact found" in shown
    assert set(shown["Quality"]) <= {"ok", "bat clipped", "bat gap"}
    assert set(shown["Contact found"]) <= {"yes", "no"}
    sensors = data.sensors_table()
    assert list(sensors.columns) == [
        "Sensor",
        "Readings",
        "First (s)",
        "Last (s)",
        "Rate (Hz)",
        "Columns",
    ]
    assert set(sensors["Rate (Hz)"]) == {"200.0"}
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


@pytest.mark.integration
def test_report_progress_says_each_step_once(report_file):
    """Issue 25: no "[2/8]" twice, no step named twice: one line per section of the report."""
    _, done = report_file
    assert done.returncode == 0, done.stderr
    steps = re.findall(r"\[(\d+)/(\d+)\] (.+?) \(\d+\.\d s\)", done.stdout + done.stderr)
    assert len(steps) >= 5, done.stderr
    assert [int(n) for n, _, _ in steps] == list(range(1, len(steps) + 1))
    assert {int(total) for _, total, _ in steps} == {len(steps)}
    names = [name for _, _, name in steps]
    assert len(set(names)) == len(names), names
