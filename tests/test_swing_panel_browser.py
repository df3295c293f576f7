"""A simulated swing sent through POST /data shows its numbers in the dashboard's swing panel;
the coach marks swings there ("not a swing", "add a swing"), and the marks hold."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from hitting_coach.analysis.report_data import ReportData
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.exports import export_session, import_export
from hitting_coach.store.marks import list_marks
from support import ServerProcess, wait_for

pytestmark = pytest.mark.integration


def test_simulated_swing_shows_its_numbers(server, page):
    sim = simulate(
        "pelvis+wrist",
        duration_s=8.0,
        swing_every_s=6.0,
        rate_hz=200,
        seed=3,
        start_ns=time.time_ns() - 8_000_000_000,
    )
    assert len(sim.truth) == 1
    truth = sim.truth.iloc[0]
    page.goto(server.base + "/sensor/")
    wait_for(
        lambda: "no swing yet" in page.locator(".hc-swing").inner_text(),
        30,
        what="the empty swing panel",
    )
    for message in sim.messages(device_id="hitter-1", session_id="s-1"):
        code, body = server.post(message)
        assert code == 200, body
    headline = page.locator(".hc-swing")
    wait_for(lambda: "#1" in headline.inner_text(), 10, what="swing #1 on the dashboard")
    text = headline.inner_text()
    pelvis = float(re.search(r"PELVIS PEAK\s+(\d+)", text, re.I).group(1))
    hand = float(re.search(r"HAND PEAK\s+(\d+)", text, re.I).group(1))
    assert pelvis == pytest.approx(truth["pelvis_peak_dps"], rel=0.03)
    assert hand == pytest.approx(truth["hand_peak_dps"], rel=0.03)
    assert re.search(r"(above|in|below) the college middle half \d+–\d+ °/s", text)
    rows = page.locator("table.hc-swings tr")
    assert rows.count() == 2  # header and one swing
    assert page.errors == []


# --- the coach's marks on the dashboard --------------------------------------------------------


def _swing_messages(seconds_ago: float, first_id: int, seed: int = 3):
    """One simulated swing (pelvis+wrist, 8 s) from ``hitter-1`` in session ``s-1``."""
    sim = simulate(
        "pelvis+wrist",
        duration_s=8.0,
        swing_every_s=6.0,
        rate_hz=200,
        seed=seed,
        start_ns=time.time_ns() - round(seconds_ago * 1e9),
    )
    assert len(sim.truth) == 1
    return sim.messages(device_id="hitter-1", session_id="s-1", first_message_id=first_id)


def _post_all(server, messages) -> None:
    for message in messages:
        code, body = server.post(message)
        assert code == 200, body


def _live(server, device: str = "hitter-1"):
    """GET /sensor/swings.json?device=D: (status, body)."""
    url = f"{server.base}/sensor/swings.json"
    response = httpx.get(url, params={"device": device}, timeout=10)
    return response.status_code, response.json()


def _swing_rows(page):
    return page.locator(".hc-swing-row")


def test_a_swing_marked_not_a_swing_is_gone_and_stays_gone(server, page, tmp_path):
    data_dir = server.workdir / "data"
    page.goto(server.base + "/sensor/")
    wait_for(lambda: "no swing yet" in page.locator(".hc-swing").inner_text(), 30, what="panel")
    _post_all(server, _swing_messages(8.0, first_id=1))
    wait_for(lambda: "#1" in page.locator(".hc-swing").inner_text(), 15, what="swing #1")
    assert _swing_rows(page).count() == 1
    # the live swings as JSON: the same swing
    code, body = _live(server)
    assert code == 200 and [s["swing"] for s in body["swings"]] == [1]
    swing = body["swings"][0]
    assert swing["added_by_coach"] is False and swing["session_id"] == "s-1"
    assert swing["pelvis_peak_dps"] > 0 and swing["start_ns"] < swing["end_ns"]
    assert _live(server, "nobody")[0] == 404
    assert len(ReportData.load("hitter-1/s-1", data_dir).table) == 1

    # the coach taps "Not a swing" (a button, no hover needed)
    page.locator(".hc-not-swing button").click()
    wait_for(lambda: _swing_rows(page).count() == 0, 10, what="the swing to leave the list")
    assert "no swing yet" in page.locator(".hc-swing").inner_text()
    message = page.locator(".hc-mark-text")
    wait_for(lambda: "marked not a swing" in message.inner_text(), 10, what="the message")
    assert _live(server)[1]["swings"] == []
    assert ReportData.load("hitter-1/s-1", data_dir).table.empty
    marks = list_marks("hitter-1/s-1", data_dir=data_dir)
    assert list(marks["kind"]) == ["not_swing"] and list(marks["source"]) == ["dashboard"]

    # after a restart the mark holds; a new swing is listed, the marked one is not
    assert server.stop() == 0
    again = ServerProcess(server.workdir).start()
    try:
        page.goto(again.base + "/sensor/")
        wait_for(lambda: "no swing yet" in page.locator(".hc-swing").inner_text(), 30, what="panel")
        _post_all(again, _swing_messages(8.0, first_id=10_000, seed=4))
        wait_for(lambda: _swing_rows(page).count() == 1, 15, what="the new swing")
        table = ReportData.load("hitter-1/s-1", data_dir).table
        assert len(table) == 1 and len(list_marks("hitter-1/s-1", data_dir=data_dir)) == 1
        assert page.errors == []
    finally:
        assert again.stop() == 0, again.output()

    # an export carries the mark, an import brings it back
    out = export_session("hitter-1/s-1", tmp_path / "export", format="csv", data_dir=data_dir)
    other = tmp_path / "imported"
    import_export(out, other)
    assert len(list_marks("hitter-1/s-1", data_dir=other)) == 1
    imported = ReportData.load("hitter-1/s-1", other).table
    assert list(imported["start_ns"]) == list(table["start_ns"])


def test_the_coach_adds_a_missed_swing(server, page):
    page.goto(server.base + "/sensor/")
    wait_for(lambda: "no swing yet" in page.locator(".hc-swing").inner_text(), 30, what="panel")
    _post_all(server, _swing_messages(8.0, first_id=1))
    wait_for(lambda: _swing_rows(page).count() == 1, 15, what="swing #1")
    # something the detector did not count, 1.5 s before the newest reading
    page.locator(".hc-add-time input").fill("1.5")
    page.locator(".hc-add-swing button").click()
    wait_for(lambda: _swing_rows(page).count() == 2, 10, what="the added swing in the list")
    added = page.locator("tr.hc-added")
    wait_for(lambda: added.count() == 1, 10, what="the added swing's row")
    assert "added by coach" in added.inner_text()
    detected = page.locator(".hc-swing-row tr:not(.hc-added)")
    assert detected.count() == 1
    # the newest on top, as the page draws it (rows are placed by their flex order)
    assert added.bounding_box()["y"] < detected.bounding_box()["y"]
    message = page.locator(".hc-mark-text")
    wait_for(lambda: "Swing added at" in message.inner_text(), 10, what="the message")
    swings = _live(server)[1]["swings"]
    assert [s["added_by_coach"] for s in swings] == [False, True]
    assert [s["swing"] for s in swings] == [1, 2] and swings[1]["mark_id"]  # numbered next
    data = ReportData.load("hitter-1/s-1", server.workdir / "data")
    assert list(data.table["added_by_coach"]) == [False, True]
    # bad input gets a clear line, and nothing is added
    page.locator(".hc-add-time input").fill("yesterday")
    page.locator(".hc-add-swing button").click()
    wait_for(
        lambda: "neither seconds ago" in page.locator(".hc-mark-text").inner_text(),
        10,
        what="the error line",
    )
    # undo removes the last mark only
    page.locator(".hc-add-time input").fill("3")
    page.locator(".hc-add-swing button").click()
    wait_for(lambda: _swing_rows(page).count() == 3, 10, what="a second added swing")
    page.locator(".hc-undo-mark button").click()
    wait_for(lambda: _swing_rows(page).count() == 2, 10, what="the undo")
    # an added swing has its own button to take it out again (a tap in the second after the
    # undo moved it into that place is refused, tests/test_marks.py: then the coach taps again)
    page.locator(".hc-remove-added button").click()
    wait_for(
        lambda: _swing_rows(page).count() == 1 or "tap again" in message.inner_text(),
        10,
        what="the added swing removed, or the list-changed line",
    )
    if "tap again" in message.inner_text():
        assert _swing_rows(page).count() == 2  # nothing was removed
        page.wait_for_timeout(1100)
        page.locator(".hc-remove-added button").click()
    wait_for(lambda: _swing_rows(page).count() == 1, 10, what="the added swing removed")
    assert _live(server)[1]["swings"][0]["added_by_coach"] is False
    assert list_marks("hitter-1/s-1", data_dir=server.workdir / "data").empty
    assert page.errors == []
