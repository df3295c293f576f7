"""The sessions page in Chromium, against a real server a simulated phone posted to: it lists
the recorded session, makes and opens its report, shows a named player instead of the device
id, renames a session, and deletes one only after a confirmation (never the one being
recorded)."""

from __future__ import annotations

import re
import threading
import time
import zipfile
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest

from hitting_coach.sim.simulate import simulate
from hitting_coach.store.journal import read_tail
from hitting_coach.store.layout import read_meta, session_dir
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

    def both_listed() -> bool:  # the page lists what has reached the store's index when made
        if page.locator(".hc-session-card").count() < 2:
            page.reload()
        return page.locator(".hc-session-card").count() == 2

    wait_for(both_listed, 60, what="both recorded sessions on the page")
    card = _card(page, "morning")
    assert card.count() == 1
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
    link = card.locator("form.hc-open-report button")
    wait_for(lambda: link.count() == 1, 400, interval=1, what="the report link")
    with page.context.expect_page() as opened:
        link.click()  # a POST from this page, into a new tab
    report = opened.value
    report.wait_for_load_state()
    body = report.content()
    assert "Swings found" in body
    assert "morning" in body
    table = report.locator("table").filter(has=report.locator("th", has_text="Peak pelvis"))
    rows = table.locator("tbody tr")
    wait_for(lambda: rows.count() == swings, 60, what="the report's swing table")

    _download_export(page, card)
    assert page.errors == []


def _download_export(page, card) -> None:
    """Click the card's Download button: the browser saves the session's zip."""
    with page.expect_download(timeout=60_000) as download:
        card.locator("form.hc-export button").click()
    assert download.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.value.path()) as z:
        assert {"Metadata.csv", "Gyroscope.csv"} <= set(z.namelist())
        assert z.read("Gyroscope.csv").count(b"\n") > 1000  # 20 s at 100 Hz


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
    assert DEVICE not in _text(page, ".hc-player")  # the id only in small print
    assert DEVICE in _text(page, ".hc-id")
    # a player's sessions: the filter, and their page with the trend of the headline numbers
    page.locator(".hc-player-filter select").select_option(label="Maya — belt phone")
    page.wait_for_url("**/sensor/sessions?player=**")
    page.locator(".hc-trend-link a").click()
    wait_for(lambda: "2 sessions" in _text(page, ".hc-trend-title"), 15)
    wait_for(lambda: page.locator(".hc-trend canvas").count() >= 1, 30, what="the trend")
    # and after a reload of the sessions page
    page.goto(server.base + "/sensor/sessions")
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
    assert "renamed to Tee work <i>1</i>" in _text(page, ".hc-msg")

    # the session being recorded right now cannot be deleted: said before anyone asks
    evening = _card(page, "evening")
    assert evening.locator(".hc-delete button").is_disabled()
    assert "being recorded right now" in evening.inner_text()
    assert evening.locator(".hc-confirm-text").count() == 0
    # (and a POST for it anyway is refused without a confirmation)
    answer = page.request.post(
        server.base + "/sensor/sessions/delete",
        form={"device": DEVICE, "session": "evening", "step": "yes"},
        headers={"Origin": server.base},
    )
    assert answer.ok and "being recorded right now" in answer.text()

    # Delete asks first; "Keep it" keeps it
    page.goto(server.base + "/sensor/sessions")
    assert page.locator(".hc-session-card").count() == 2
    renamed.locator(".hc-delete button").click()
    wait_for(lambda: "cannot be undone" in _text(renamed, ".hc-confirm-text"), 15)
    renamed.locator(".hc-delete-no").click()
    wait_for(lambda: renamed.locator(".hc-confirm-text").count() == 0, 10)
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
    env = {"HITTING_COACH_BASIC_AUTH": "s3cret-pass", "HITTING_COACH_PARQUET_INTERVAL_S": "0.5"}
    server = ServerProcess(tmp_path, env=env).start()  # (its folder written within 0.5 s, not 10)
    try:
        _record(server, "morning", 100, 0)
        query = {"device": DEVICE, "session": "morning"}
        for path in ("/sensor/session_report.html", "/sensor/session_export.zip"):
            answer = httpx.post(server.base + path, data=query, timeout=10)
            assert answer.status_code == 401 and b"log in first" in answer.content, path
        for path in ("/sensor/sessions", "/sensor/players", "/sensor/player?device=x"):
            page = httpx.get(server.base + path, timeout=10, follow_redirects=False)
            assert page.status_code == 302 and "login" in page.headers["location"], path
        # the pages' buttons: not without the login, never from another site's page
        for path in ("sessions/delete", "sessions/rename", "sessions/report", "players/name"):
            fields = {**query, "step": "yes", "name": "x"}
            answer = httpx.post(f"{server.base}/sensor/{path}", data=fields, timeout=10)
            assert answer.status_code == 401, path
            evil = {"Origin": "http://evil.example"}
            answer = httpx.post(
                f"{server.base}/sensor/{path}", data=fields, headers=evil, timeout=10
            )
            assert answer.status_code == 403 and answer.json()["reason"] == "cross_site", path
        data = server.workdir / "data"
        assert not (data / "players.json").exists()
        wait_for(lambda: session_dir(data, DEVICE, "morning").is_dir(), 30, what="its folder")
        assert "name" not in read_meta(session_dir(data, DEVICE, "morning"))  # not renamed
    finally:
        assert server.stop() == 0, server.output()


# ----------------------------------------------------------------------- issue 29, finding 1
def test_the_logged_in_coach_downloads_the_export(tmp_path, page):
    env = {"HITTING_COACH_BASIC_AUTH": "s3cret-pass", "HITTING_COACH_PARQUET_INTERVAL_S": "0.5"}
    server = ServerProcess(tmp_path, env=env).start()
    try:
        _record(server, "morning", 100, 0)
        data = server.workdir / "data"
        wait_for(lambda: session_dir(data, DEVICE, "morning").is_dir(), 30, what="its folder")
        page.goto(server.base + "/sensor/sessions")
        assert "/sensor/login" in page.url
        page.fill("input[name=username]", "coach")
        page.fill("input[name=password]", "s3cret-pass")
        page.click("button[type=submit]")
        card = _card(page, "morning")
        wait_for(lambda: card.count() == 1, 60, what="the session after logging in")
        _download_export(page, card)
        assert page.errors == []
    finally:
        assert server.stop() == 0, server.output()


def test_a_page_of_another_site_cannot_start_an_export(recorded, page):
    """On a loopback bind without a login: an <img> and a form of a page on another origin
    (localhost:OTHER, as a site the coach visits would be) reach the server and are refused."""
    server, _ = recorded
    target = f"{server.base}/sensor/session_export.zip"
    fields = {"device": DEVICE, "session": "morning"}
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items()
    )
    html = (
        f'<img src="{escape(target + "?" + urlencode(fields))}">'
        f'<iframe name="sink"></iframe><form id="f" method="post" action="{target}" '
        f'target="sink">{inputs}</form><script>document.getElementById("f").submit()</script>'
    ).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    answers: dict[str, int] = {}
    blocked: list[str] = []  # the <img>'s answer is JSON: Chromium hides it from the page (ORB)
    page.on(
        "response",
        lambda r: answers.update({r.request.method: r.status}) if target in r.url else None,
    )
    page.on("requestfailed", lambda r: blocked.append(r.method) if target in r.url else None)
    try:
        page.goto(f"http://localhost:{evil.server_address[1]}/")
        # (Playwright hands events over while it is called: wait in the page, not in sleep)
        wait_for(
            lambda: page.wait_for_timeout(100) or (answers and blocked),
            30,
            what="the img's and the form's requests",
        )
    finally:
        evil.shutdown()
        evil.server_close()
    assert answers == {"POST": 403} and blocked == ["GET"]  # the form: refused
    # the <img>'s GET reached the server and was refused as well (Sec-Fetch-Site: cross-site;
    # the access line: 4xx answers are logged)
    assert "403 GET /sensor/session_export.zip" in server.output()
