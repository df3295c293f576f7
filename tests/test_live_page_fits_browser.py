"""Issue 25 items 3 and 4, in Chromium: the live page fits a phone (390 x 844: no sideways
scroll, the swing list's "✕ Not a swing" on screen, plot titles that fit, one time axis for
a device's plots), and a watch alone shows its wrist signal and says what it cannot measure."""

from __future__ import annotations

import time

import httpx
import pytest

from hitting_coach.sim.simulate import simulate
from support import PHONE_SCREEN as PHONE
from support import wait_for

pytestmark = pytest.mark.integration

JS_POINTS = """(name) => {
  const doc = window.Bokeh && Bokeh.documents[0];
  const m = doc && doc.get_model_by_name(name + '-source');
  return m ? m.data.t.length : null;
}"""
#: Each live plot's title: its text and its width in the title's font (px).
JS_TITLES = """() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const doc = Bokeh.documents[0];
  const out = [];
  for (const name of ['sequence', 'accelerometer', 'gyroscope', 'wrist motion']) {
    const m = doc.get_model_by_name(name + '-figure');
    const t = m && m.title;
    if (!t || !t.text) continue;
    ctx.font = `${t.text_font_style} ${t.text_font_size} ${t.text_font}`;
    out.push([t.text, ctx.measureText(t.text).width]);
  }
  return out;
}"""


def _post_all(server, messages) -> None:
    for message in messages:
        code, body = server.post(message)
        assert code == 200, body


def _right_edges(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().right)",
    )


def test_the_live_page_fits_a_phone(server, phone):
    sim = simulate(
        "pelvis+wrist",
        duration_s=8.0,
        swing_every_s=6.0,
        rate_hz=200,
        seed=3,
        start_ns=time.time_ns() - 8_000_000_000,
    )
    _post_all(server, sim.messages(device_id="hitter-1", session_id="s-1"))
    phone.goto(server.base + "/sensor/")
    button = phone.locator(".hc-not-swing button", has_text="Not a swing").first
    wait_for(lambda: button.count() and button.is_visible(), 30, what="the swing's button")
    wait_for(lambda: (phone.evaluate(JS_POINTS, "gyroscope") or 0) > 0, 30, what="the plots")
    phone.wait_for_timeout(500)  # the layout settles
    # nothing scrolls sideways
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    # the swing's button is on screen: scrolled to (down the page only: nothing scrolled
    # sideways), it lies inside the viewport's width
    phone.evaluate(
        "(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 200)",
        button.element_handle(),
    )
    box = button.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # every plot fits the screen, and every plot's title fits its plot
    rights = _right_edges(phone, ".bk-Canvas")
    assert rights and max(rights) <= PHONE["width"] + 0.5, rights
    titles = phone.evaluate(JS_TITLES)
    assert any(text.startswith("Swing #1: ") for text, _ in titles), titles
    for text, px in titles:
        assert px <= PHONE["width"] - 40, (text, px)
    # one device's plots share one time axis
    linked = phone.evaluate(
        """() => {
          const doc = Bokeh.documents[0];
          const a = doc.get_model_by_name('accelerometer-figure').x_range;
          const g = doc.get_model_by_name('gyroscope-figure').x_range;
          return [a === g, a.start === g.start && a.end === g.end];
        }"""
    )
    assert linked == [True, True]
    assert phone.errors == []
    # a normal page open logs nothing worth a warning (no Bokeh W-1005, no 404 favicon)
    icon = httpx.get(server.base + "/sensor/favicon.ico", follow_redirects=True, timeout=10)
    assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"  # an .ico
    log = server.output()
    assert "WARNING" not in log and "Warning" not in log, log


def test_a_watch_alone_plots_its_wrist_signal_and_says_what_is_not_measured(server, page):
    sim = simulate(
        "wrist",
        duration_s=8.0,
        swing_every_s=6.0,
        rate_hz=100,
        seed=4,
        start_ns=time.time_ns() - 8_000_000_000,
    )
    messages = sim.messages(device_id="watch-1", session_id="w-1")
    assert {r["name"] for m in messages for r in m["payload"]} == {"wrist motion"}
    _post_all(server, messages)
    page.goto(server.base + "/sensor/")
    wait_for(
        lambda: (page.evaluate(JS_POINTS, "wrist motion") or 0) > 100, 30, what="the wrist plot"
    )
    wrist = page.locator(".hc-wrist-motion")
    wait_for(lambda: wrist.is_visible(), 10, what="the wrist plot shown")
    assert not page.locator(".hc-accelerometer").is_visible()  # nothing to show there
    assert not page.locator(".hc-gyroscope").is_visible()
    values = page.evaluate(
        """() => Bokeh.documents[0].get_model_by_name('wrist motion-source').data.x"""
    )
    assert (
        any(abs(v) > 1 for v in values.values())
        if isinstance(values, dict)
        else any(abs(v) > 1 for v in values)
    )  # the watch's rotation rate, in °/s
    note = page.locator(".hc-placement-note")
    wait_for(lambda: note.count() and "watch" in note.inner_text(), 10, what="the note")
    text = note.inner_text()
    assert "Sees a watch on the lead wrist" in text
    assert "No belt phone: pelvis not measured" in text
    assert page.errors == []
    log = server.output()
    assert "WARNING" not in log and "Warning" not in log, log
