"""One swing number everywhere: the swings of a session sent through a real server carry the
same numbers (from 1 per session) and placement on the dashboard's swing list, in
``swings.json``, in a notebook's swing panel (a LiveSession on the server) and in the session's
report; the device's next session starts again at #1, and a swing the coach adds is numbered
after the last one of its session."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hitting_coach.analysis.report_data import ReportData
from hitting_coach.client import connect
from hitting_coach.sim.simulate import simulate
from support import wait_for

pytestmark = pytest.mark.integration

DEVICE = "hitter-7"
#: In the report: a Bokeh model by name, from whichever output's document holds it.
JS_FIND = """const find = (name) => {
  for (const d of Bokeh.documents) { const m = d.get_model_by_name(name); if (m) return m; }
  return null; };"""


def _post_session(server, session: str, seconds_ago: float, seed: int, first_id: int) -> int:
    """A 16 s simulated session (pelvis+wrist, a swing every 5 s) ending ``seconds_ago - 16``
    s ago; returns how many swings it holds."""
    sim = simulate(
        "pelvis+wrist",
        duration_s=16.0,
        swing_every_s=5.0,
        rate_hz=200,
        seed=seed,
        start_ns=time.time_ns() - round(seconds_ago * 1e9),
    )
    for message in sim.messages(device_id=DEVICE, session_id=session, first_message_id=first_id):
        code, body = server.post(message)
        assert code == 200, body
    return len(sim.truth)


def _dashboard(page) -> list[tuple[str, int, str]]:
    """The dashboard's swing list as the coach sees it, oldest at the bottom: (added?,
    number, placement) per row, read bottom to top (oldest first)."""
    out = []
    for row in page.locator(".hc-swing-row tr").all():
        cells = row.locator("td").all_inner_texts()
        added = "hc-added" in (row.get_attribute("class") or "")
        out.append((row.bounding_box()["y"], ("added" if added else "", int(cells[0]), cells[2])))
    return [r for _, r in sorted(out, key=lambda r: -r[0])]


def _json(server, session: str) -> list[tuple[str, int, str]]:
    response = httpx.get(f"{server.base}/sensor/swings.json", params={"device": DEVICE}, timeout=10)
    assert response.status_code == 200, response.text
    return [
        ("added" if s["added_by_coach"] else "", s["swing"], s["placement"])
        for s in response.json()["swings"]
        if s["session_id"] == session
    ]


def _notebook(panel) -> list[tuple[str, int, str]]:
    """What a notebook's swing panel (``LiveSession.dashboard()`` on the server) lists, by
    (added?, number, placement), sorted."""
    panel.update(DEVICE)
    out = []
    for _, cell, _ in panel._slots:
        found = re.search(
            r'<tr( class="hc-added")?><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td>', cell.object
        )
        if found:
            out.append(("added" if found.group(1) else "", int(found.group(2)), found.group(3)))
    return sorted(out)


def _report(browser, data_dir: Path, session: str, out: Path) -> tuple[list, list]:
    """The session's report made as the CLI makes it, read in Chromium: (added?, number) per
    row of its swing table, and the numbers its swing viewer steps through."""
    cmd = [sys.executable, "-m", "hitting_coach.cli", "--env-file", "/dev/null", "report",
           f"{DEVICE}/{session}", "--data-dir", str(data_dir), "-o", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(out.as_uri())
        found = f"() => window.Bokeh && (() => {{ {JS_FIND} return find('swing-slider'); }})()"
        page.wait_for_function(found, timeout=30_000)
        table = page.locator("table").filter(has=page.locator("th", has_text="Quality"))
        rows = []
        for row in table.locator("tbody tr").all():
            cells = row.locator("td").all_inner_texts()
            rows.append(("added" if "added by coach" in cells[-1] else "", int(cells[0])))
        slider = page.evaluate(f"() => {{ {JS_FIND} const s = find('swing-slider');"
                               " return [s.start, s.end]; }")  # fmt: skip
        return rows, slider
    finally:
        context.close()


def test_one_swing_number_on_the_dashboard_in_swings_json_the_notebook_and_the_report(
    server, page, browser, tmp_path
):
    data_dir = server.workdir / "data"
    page.goto(server.base + "/sensor/")
    wait_for(lambda: "no swing yet" in page.locator(".hc-swing").inner_text(), 30, what="panel")
    live = connect(server.base, period_s=0.2)
    notebook = live.dashboard().swing_panel
    try:
        # the first session: its swings numbered 1..n everywhere
        n1 = _post_session(server, "s-1", 60.0, seed=3, first_id=1)
        assert n1 >= 3
        wait_for(lambda: len(_dashboard(page)) == n1, 20, what=f"{n1} swings on the dashboard")
        first = [("", i, "pelvis+wrist") for i in range(1, n1 + 1)]
        assert _dashboard(page) == first
        assert _json(server, "s-1") == first
        wait_for(lambda: _notebook(notebook) == sorted(first), 20, what="the notebook's panel")
        rows, slider = _report(browser, data_dir, "s-1", tmp_path / "s-1.html")
        assert rows == [(a, n) for a, n, _ in first] and slider == [1, n1]
        assert ReportData.load(f"{DEVICE}/s-1", data_dir).placement == "pelvis+wrist"

        # the same device's next session (same server run) starts again at #1
        n2 = _post_session(server, "s-2", 30.0, seed=4, first_id=10_000)
        want = n1 + n2
        wait_for(lambda: len(_dashboard(page)) == want, 20, what="the second session's swings")
        second = [("", i, "pelvis+wrist") for i in range(1, n2 + 1)]
        assert _dashboard(page) == first + second
        assert _json(server, "s-2") == second and _json(server, "s-1") == first

        # the coach adds a missed swing (1.5 s before the newest reading): next number
        page.locator(".hc-add-time input").fill("1.5")
        page.locator(".hc-add-swing button").click()
        wait_for(lambda: len(_dashboard(page)) == want + 1, 10, what="the added swing")
        second.append(("added", n2 + 1, _json(server, "s-2")[-1][2]))
        assert _dashboard(page) == first + second
        assert _json(server, "s-2") == second
        every = sorted(first + second)
        wait_for(lambda: _notebook(notebook) == every, 20, what="the notebook's two sessions")
        rows, slider = _report(browser, data_dir, "s-2", tmp_path / "s-2.html")
        assert rows == [(a, n) for a, n, _ in second] and slider == [1, n2 + 1]
        assert page.errors == []
    finally:
        live.stop()
