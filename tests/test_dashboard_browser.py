"""The live dashboard in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
import pytest

from support import JS_LENGTHS, ServerProcess, motion_messages, wait_for

pytestmark = pytest.mark.integration

JS_XRANGE = """(name) => {
  const r = Bokeh.documents[0].get_model_by_name(name).x_range;
  return [r.start, r.end];
}"""


def _post_all(server, messages):
    for m in messages:
        code, body = server.post(m)
        assert code == 200, body


@pytest.fixture
def seed_window(tmp_path):
    """A server with the seed's window: the last 200 points per line."""
    server = ServerProcess(tmp_path, env={"HITTING_COACH_WINDOW_POINTS": "200"}).start()
    yield server
    assert server.stop() == 0, server.output()


def test_plots_grow_status_line_and_zoom_stays(seed_window, page):
    server = seed_window
    start = time.time_ns()
    _post_all(server, motion_messages(5, start_ns=start))
    page.goto(server.base + "/sensor/")
    first = wait_for(
        lambda: (v := page.evaluate(JS_LENGTHS)) and v[0] and v[1] and v,
        30,
        what="both plots to show data",
    )
    assert first == [100, 100]  # 5 messages x 20 readings, within the 200-point window

    status = page.get_by_text("msg/s")
    wait_for(lambda: "0 rejected" in status.inner_text(), what="status line")
    assert "accelerometer 100 Hz" in status.inner_text()

    _post_all(server, motion_messages(5, start_ns=start + 10**9, first_id=5))
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [200, 200], what="plots to grow to 200")

    # Zoom with the mouse wheel on the accelerometer plot, keep posting: the zoom stays.
    before = page.evaluate(JS_XRANGE, "accelerometer-figure")
    canvas = page.locator(".hc-accelerometer-figure .bk-Canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    zoomed = wait_for(
        lambda: (r := page.evaluate(JS_XRANGE, "accelerometer-figure")) != before and r,
        what="the zoom to apply",
    )
    assert zoomed[1] - zoomed[0] < before[1] - before[0]
    newest = motion_messages(10, start_ns=start + 2 * 10**9, first_id=10)
    _post_all(server, newest)
    last_ms = max(r["time"] for m in newest for r in m["payload"]) / 1e6
    wait_for(
        lambda: page.evaluate(JS_LAST_TIME) == pytest.approx([last_ms, last_ms]),
        what="the newest points on both plots",
    )
    assert page.evaluate(JS_XRANGE, "accelerometer-figure") == zoomed
    assert page.evaluate(JS_LENGTHS) == [200, 200]  # the window rolls over, it does not grow
    assert page.errors == []


JS_LAST_TIME = """() => window.Bokeh && Bokeh.documents[0] && ['accelerometer', 'gyroscope'].map(n => {
  const t = Bokeh.documents[0].get_model_by_name(n + '-source').data.t;
  return t.length ? t[t.length - 1] : null;
})"""


# a swing's box on each plot: shown, and where the swing is (not at the epoch)
JS_SHADED = """() => ['accelerometer', 'gyroscope'].map(n => {
  const box = Bokeh.documents[0].get_model_by_name(n + '-swing-0');
  return box.visible && box.left > 1.6e12 && box.right > box.left; })"""
JS_SEQUENCE = """() => ['pelvis', 'hand'].map(
  n => Bokeh.documents[0].get_model_by_name('sequence-' + n + '-source').data.t.length)"""


def test_the_plots_show_the_last_ten_seconds(server, page):
    start = time.time_ns() - 14 * 10**9
    _post_all(server, motion_messages(70, start_ns=start))  # 14 s at 100 Hz
    page.goto(server.base + "/sensor/")
    # 10 s at 100 Hz on each plot (the first and the last reading included), not 200 points
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [1001, 1001], 30, what="10 s on the plots")
    first, last = page.evaluate(JS_XRANGE, "gyroscope-figure")
    assert last - first == pytest.approx(10_000, abs=1)  # ms
    label = page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('gyroscope-figure').left[0].axis_label"
    )
    assert label == "angular speed (°/s)"
    _post_all(server, motion_messages(10, start_ns=start + 14 * 10**9, first_id=70))
    wait_for(
        lambda: page.evaluate(JS_XRANGE, "gyroscope-figure")[1] > last + 1500,
        what="the window to move on",
    )
    assert page.evaluate(JS_LENGTHS) == [1001, 1001]  # it moves, it does not grow
    assert page.errors == []


def test_demo_mode_moves_both_plots_without_a_phone(tmp_path, page):
    demo = ServerProcess(tmp_path, args=["--demo"]).start()
    try:
        page.goto(demo.base + "/sensor/")
        first = wait_for(
            lambda: (v := page.evaluate(JS_LAST_TIME)) and all(v) and v, 30, what="demo data"
        )
        later = wait_for(
            lambda: (
                (v := page.evaluate(JS_LAST_TIME))
                and all(a > b for a, b in zip(v, first, strict=True))
                and v
            ),
            10,
            what="both plots to move",
        )
        assert all(
            b - a > 300 for a, b in zip(first, later, strict=True)
        )  # ms of new data on each axis
        assert demo.status()["messages_by_source"]["demo"] > 0
        wait_for(lambda: "DEMO: running" in page.get_by_text("msg/s").inner_text(), what="state")
        # the first simulated swing comes about 3 s in, then one every few seconds: the newest
        # swing's numbers appear in the swing panel
        headline = page.locator(".hc-swing")
        wait_for(lambda: re.search(r"#\d+", headline.inner_text()), 30, what="a swing")
        assert "PELVIS PEAK" in page.locator(".hc-swing").inner_text().upper()
        # the swing is shaded on both plots, and its sequence drawn: pelvis, then hand
        # (45 s, not 20: a clean-clone run on a loaded machine timed out at 20 s once)
        wait_for(lambda: page.evaluate(JS_SHADED) == [True, True], 45, what="swing shading")
        curves = wait_for(
            lambda: (n := page.evaluate(JS_SEQUENCE)) and all(n) and n, 10, what="the sequence"
        )
        assert all(n > 20 for n in curves), curves
        assert page.errors == []
    finally:
        assert demo.stop() == 0, demo.output()


def test_device_picker_appears_with_a_second_device_and_switches_the_plots(server, page):
    start = time.time_ns()
    _post_all(server, motion_messages(2, start_ns=start, device="phone-1"))
    page.goto(server.base + "/sensor/")
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [40, 40], 30, what="phone-1 on the plots")
    picker = page.locator("select")
    assert picker.count() == 0 or not picker.first.is_visible()
    _post_all(server, motion_messages(5, start_ns=start, device="watch-2"))
    wait_for(lambda: page.locator("select").count() == 1, what="the device picker")
    picker = page.locator("select").first
    wait_for(picker.is_visible, what="the picker to show")
    assert picker.locator("option").all_inner_texts() == ["phone-1", "watch-2"]
    picker.select_option("watch-2")
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [100, 100], what="watch-2 on the plots")


def test_offline_the_login_page_and_the_dashboard_ask_nothing_of_other_hosts(tmp_path, browser):
    """At the cage there may be no internet: every request stays on this server (no CDN logo,
    no CDN favicon), and the favicon is there."""
    password = "cage-pass-1234"
    server = ServerProcess(tmp_path, env={"HITTING_COACH_BASIC_AUTH": password}).start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    failed: list[str] = []

    def only_this_server(route):
        if urlsplit(route.request.url).hostname not in ("127.0.0.1", "localhost"):
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    try:
        page.goto(server.base + "/sensor/")
        page.wait_for_load_state("networkidle")
        assert "/sensor/login" in page.url
        assert page.get_by_text("Hitting Coach").is_visible()
        icon = page.evaluate("() => document.querySelector('link[rel=icon]').href")
        assert httpx.get(icon, timeout=10).status_code == 200
        page.locator("input[name=username]").fill("coach")
        page.locator("input[name=password]").fill(password)
        page.locator("button[type=submit], input[type=submit]").first.click()
        page.wait_for_url(server.base + "/sensor/", timeout=30_000)
        wait_for(lambda: page.get_by_text("msg/s").is_visible(), 30, what="the dashboard")
        page.wait_for_load_state("networkidle")
        icons = page.evaluate(
            "() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)"
        )
        assert icons and all(httpx.get(i, timeout=10).status_code == 200 for i in icons), icons
        assert elsewhere == [] and failed == [] and page.errors == []
    finally:
        context.close()
        assert server.stop() == 0, server.output()


def test_the_points_come_over_the_shared_feed_not_the_bokeh_session(server, page):
    """Each tick the server reads and encodes the new points once for every tab and sends them
    over /sensor/live.ws; the page's Bokeh session carries no points, and the browser does not
    send the plots' moving ranges back. A dropped feed socket reconnects and misses nothing."""
    frames: dict[str, list] = {"bokeh_in": [], "bokeh_out": [], "feed": []}

    def on_ws(ws):
        if ws.url.split("?")[0].endswith("/live.ws"):
            ws.on("framereceived", lambda f: frames["feed"].append(len(f)))
        else:
            ws.on("framereceived", lambda f: frames["bokeh_in"].append(f))
            ws.on("framesent", lambda f: frames["bokeh_out"].append(f))

    page.on("websocket", on_ws)
    start = time.time_ns()
    _post_all(server, motion_messages(5, start_ns=start))
    page.goto(server.base + "/sensor/")
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [100, 100], 30, what="the first points")
    for k in range(5, 15):  # 2 s of readings, posted a batch at a time as the phone does
        _post_all(server, motion_messages(1, start_ns=start + k * 200_000_000, first_id=k))
        page.wait_for_timeout(200)
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [300, 300], what="all the points")
    assert len(frames["feed"]) >= 4  # a frame per tick with new points
    text = [f if isinstance(f, str) else f.decode("latin-1") for f in frames["bokeh_in"]]
    assert not any("ColumnsStreamed" in f for f in text)
    sent = [f if isinstance(f, str) else f.decode("latin-1") for f in frames["bokeh_out"]]
    assert not any('"start"' in f or '"end"' in f for f in sent), sent[:3]
    # the feed socket drops (a proxy restarts, a phone wakes up): it reconnects, is sent the
    # window again, and the points posted meanwhile are all there, none twice
    resets = page.evaluate("() => window.__hc_feed.resets")
    page.evaluate("() => window.__hc_feed.ws.close()")
    _post_all(server, motion_messages(5, start_ns=start + 15 * 200_000_000, first_id=15))
    wait_for(lambda: page.evaluate("() => window.__hc_feed.resets") == resets + 1, what="reconnect")
    wait_for(lambda: page.evaluate(JS_LENGTHS) == [400, 400], what="the points after")
    assert page.errors == []
