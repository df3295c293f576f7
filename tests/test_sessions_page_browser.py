"""The sessions page in Chromium, against a real server a simulated phone posted to: it lists
the recorded session, makes and opens its report, shows a named player instead of the device
id, renames a session, and deletes one only after a confirmation (never the one being
recorded)."""

from __future__ import annotations

import io
import re
import time
import zipfile

import httpx
import pytest

from hitting_coach.sim.simulate import simulate
from hitting_coach.store.journal import read_tail
from hitting_coach.store.layout import session_dir
from support import ServerProcess, wait_for

pytestmark = pytest.mark.integration

DEVICE = "8f14e45f-ceea-467f-a0e6-<b>hostile</b>"


def _record(server: ServerProcess, session: str, seconds_ago: float, first_id: int) -> int:
    """Post a simulated session (pelvis+wrist, 20 s, swings every 6 s); returns its swings."""
    sim = simulate(
        "pelvis+wrist",
        duration_s=20.0,
        swing_every_s=6.0,
        rate_hz=100,
        seed=5,
        start_ns=time.time_ns() - round(seconds_ago * 1e9),
    )
    for message in sim.messages(device_id=DEVICE, session_id=session, first_message_id=first_id):
        code, body = server.post(message)
        assert code == 200, body
    return len(sim.truth)


@pytest.fixture
def recorded(tmp_path):
    server = ServerProcess(tmp_path, env={"HITTING_COACH_PARQUET_INTERVAL_S": "0.5"}).start()
    swings = _record(server, "morning", 200, 0)
    _record(server, "evening", 100, 10_000)
    yield server, swings
    code = server.stop()
    assert code == 0, f"server exited with {code}:\n{server.output()}"


def _card(page, text: str):
    return page.locator(".hc-session-card").filter(has_text=text)


def _text(page_or_card, selector: str) -> str:
    """The text of every element matching ``selector`` (inside Panel's shadow roots)."""
    return "\n".join(page_or_card.locator(selector).all_inner_texts())


@pytest.mark.timeout(480)  # a report runs a Jupyter kernel: minutes on a busy 2-core machine
def test_the_sessions_page_lists_a_session_and_opens_its_report(recorded, page):
    server, swings = recorded
    page.goto(server.base + "/sensor/sessions")
    card = _card(page, "morning")
    wait_for(lambda: card.count() == 1, 60, what="the recorded session on the page")
    # the card's children render after the card itself (an empty summary was read once)
    wait_for(lambda: _text(card, ".hc-session").strip(), 30, what="the session's summary")
    text = _text(card, ".hc-session")
    assert DEVICE in text  # shown as text: the markup in the id is escaped, not rendered
    assert page.locator(".hc-session b b").count() == 0
    assert f"{swings} swings" in text
    assert re.search(r"\b0:2\d\b", text), text  # about 20 s long
    assert page.locator(".hc-session-card").count() == 2

    card.locator(".hc-make-report button").click()
    wait_for(
        lambda: "making the report" in _text(card, ".hc-report-state"), 20, what="report progress"
    )
    link = card.locator("a.hc-open-report")
    wait_for(lambda: link.count() == 1, 400, interval=1, what="the report link")
    report = page.context.new_page()
    report.goto(link.evaluate("a => a.href"))
    body = report.content()
    assert "Swings found" in body
    assert "morning" in body
    table = report.locator("table").filter(has=report.locator("th", has_text="Peak pelvis"))
    rows = table.locator("tbody tr")
    wait_for(lambda: rows.count() == swings, 60, what="the report's swing table")

    export = httpx.get(card.locator("a.hc-export").evaluate("a => a.href"), timeout=60)
    assert export.status_code == 200, export.text
    assert export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as z:
        assert {"Metadata.csv", "Gyroscope.csv"} <= set(z.namelist())
    assert page.errors == []


def test_a_named_player_shows_instead_of_the_device_id(recorded, page):
    server, _ = recorded
    page.goto(server.base + "/sensor/sessions")
    wait_for(lambda: page.locator(".hc-session-card").count() == 2, 60, what="two sessions")
    page.locator(".hc-player-name input").fill("Maya — belt phone")
    page.locator(".hc-name-device button").click()
    wait_for(
        lambda: "Maya — belt phone" in _text(page, ".hc-session"),
        15,
        what="the player's name on the sessions",
    )
    assert DEVICE not in _text(page, ".hc-session")
    # a player's sessions side by side: the filter and the trend of the headline numbers
    page.locator(".hc-player-filter select").select_option("Maya — belt phone")
    wait_for(lambda: "2 sessions side by side" in _text(page, ".hc-trend-title"), 15)
    assert page.locator(".hc-trend canvas").count() >= 1
    # and after a reload, in the CLI's table too
    page.reload()
    wait_for(lambda: page.locator(".hc-session-card").count() == 2, 60, what="two sessions")
    assert "Maya — belt phone" in _text(page, ".hc-session")


def test_rename_and_delete_with_confirmation(recorded, page):
    server, _ = recorded
    page.goto(server.base + "/sensor/sessions")
    card = _card(page, "morning")
    wait_for(lambda: card.count() == 1, 60, what="the morning session")
    card.locator(".hc-rename-input input").fill("Tee work <i>1</i>")
    card.locator(".hc-rename button").click()
    renamed = _card(page, "Tee work <i>1</i>")
    wait_for(lambda: renamed.count() == 1, 15, what="the renamed session")
    assert renamed.locator("i").count() == 0

    # the session being recorded right now cannot be deleted
    evening = _card(page, "evening")
    evening.locator(".hc-delete button").click()
    evening.locator(".hc-delete-yes button").click()
    wait_for(lambda: "being recorded right now" in _text(page, ".hc-msg"), 15)
    assert page.locator(".hc-session-card").count() == 2

    # Delete asks first; "Keep it" keeps it
    renamed.locator(".hc-delete button").click()
    wait_for(lambda: "cannot be undone" in _text(renamed, ".hc-confirm-text"), 15)
    renamed.locator(".hc-delete-no button").click()
    wait_for(lambda: not renamed.locator(".hc-confirm-text").is_visible(), 10)
    assert page.locator(".hc-session-card").count() == 2

    # once its readings are all in its folder (not only in the journal), it goes
    data = server.workdir / "data"
    wait_for(lambda: not read_tail(data, only=(DEVICE, "morning")).batches, 30, what="Parquet")
    renamed.locator(".hc-delete button").click()
    renamed.locator(".hc-delete-yes button").click()
    wait_for(lambda: "deleted session" in _text(page, ".hc-msg"), 15, what="the deletion")
    wait_for(lambda: page.locator(".hc-session-card").count() == 1, 15, what="one session left")
    assert "Tee work" not in _text(page, ".hc-session")
    assert not session_dir(data, DEVICE, "morning").exists()
    assert page.errors == []


def test_with_a_login_the_sessions_page_and_its_files_need_it(tmp_path):
    server = ServerProcess(tmp_path, env={"HITTING_COACH_BASIC_AUTH": "s3cret-pass"}).start()
    try:
        _record(server, "morning", 100, 0)
        query = {"device": DEVICE, "session": "morning"}
        for path in ("/sensor/session_report.html", "/sensor/session_export.zip"):
            answer = httpx.get(server.base + path, params=query, timeout=10)
            assert answer.status_code == 401 and b"log in first" in answer.content, path
        page = httpx.get(server.base + "/sensor/sessions", timeout=10, follow_redirects=False)
        assert page.status_code == 302 and "login" in page.headers["location"]
    finally:
        assert server.stop() == 0, server.output()
