"""The live plots' browser half (hitting_coach/ui/live_plot.js) run directly in Chromium, with
BokehJS's own ColumnDataSource and ranges, fed frames made by the server's encoder through a
stand-in WebSocket: what it keeps is what LiveWindow says, and the BokehJS it patches still
fits the patch."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import bokeh
import numpy as np
import pytest

from hitting_coach.live_window import LiveWindow
from hitting_coach.ui.dashboard import LIVE_PLOT_JS
from hitting_coach.web.live import Chunk, decode_frame, encode_frame

pytestmark = pytest.mark.integration

BOKEH_JS = Path(bokeh.__file__).parent / "server" / "static" / "js"
PAGE_URL = "http://hc.test/sensor/"
T0_NS = 1_700_000_000_000_000_000

#: Builds the page's models with BokehJS, a WebSocket stand-in the test drives, and runs the
#: file as Bokeh's CustomJS would (its args as the function's parameters).
SETUP = """([code, token, window_s, window_points]) => {
  const M = Bokeh.Models;
  const CDS = M.get("ColumnDataSource"), Range = M.get("DataRange1d"), Div = M.get("Div");
  const empty = () => ({t: [], x: [], y: [], z: []});
  const sources = {accelerometer: new CDS({data: empty()}), gyroscope: new CDS({data: empty()})};
  const ranges = [new Range(), new Range()];
  const status = new Div({text: ""});
  window.__test = {sources, ranges, status, sockets: []};
  window.WebSocket = class {
    constructor(url) { this.url = url; window.__test.sockets.push(this); }
    close() {}
  };
  new Function("sources", "ranges", "status", "token", "window_s", "window_points", code)(
    sources, ranges, status, token, window_s, window_points);
}"""
FEED = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const sockets = window.__test.sockets;
  sockets[sockets.length - 1].onmessage({data: bytes.buffer});
}"""
SHOWN = """(name) => Array.from(window.__test.sources[name].data.t)"""


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.route(PAGE_URL, lambda route: route.fulfill(body="<html><body></body></html>"))
    page.goto(PAGE_URL)
    for name in ("bokeh.min.js", "bokeh-widgets.min.js"):  # Div is a widget
        page.add_script_tag(path=str(BOKEH_JS / name))
    yield page
    context.close()


def start(page, window: LiveWindow, token: str = "tok-1") -> None:
    args = window.js_args()
    page.evaluate(SETUP, [LIVE_PLOT_JS, token, args["window_s"], args["window_points"]])


def frame(t0_ns: int, n: int, step_ms: float, reset: bool = False, status: str | None = None):
    time_ns = t0_ns + (np.arange(n) * step_ms * 1e6).astype(np.int64)
    values = np.vstack([np.sin(np.arange(n)), np.cos(np.arange(n)), np.full(n, 9.81)])
    chunks = [Chunk("accelerometer", time_ns, values.astype(np.float32))]
    chunks.append(Chunk("gyroscope", time_ns, (values * 180 / math.pi).astype(np.float32)))
    return encode_frame("phone-1", chunks, reset=reset, status=status)


def feed(page, data: bytes) -> None:
    page.evaluate(FEED, base64.b64encode(data).decode())


@pytest.mark.parametrize("window", [LiveWindow(seconds=2.0), LiveWindow(seconds=10, points=150)])
def test_the_browser_keeps_what_the_window_rule_says(page, window):
    start(page, window)
    assert page.evaluate("() => window.__test.sockets[0].url") == (
        "ws://hc.test/sensor/live.ws?token=tok-1"
    )
    frames = [frame(T0_NS, 120, 10.0, reset=True)]  # 1.2 s, then 0.6 s a frame for 3 s
    frames += [frame(T0_NS + int((1.2 + 0.6 * i) * 1e9), 60, 10.0) for i in range(5)]
    received: list[np.ndarray] = []
    for data in frames:
        feed(page, data)
        received.append(decode_frame(data)["sensors"]["accelerometer"]["t_ms"])
        everything = np.concatenate(received)
        expected = everything[window.kept(everything)]
        for sensor in ("accelerometer", "gyroscope"):
            shown = np.array(page.evaluate(SHOWN, sensor))
            assert np.array_equal(shown, expected), (sensor, len(shown), len(expected))
    assert page.evaluate("() => window.__hc_feed.frames") == len(frames)
    # a reset frame (another device, or the page fell behind) replaces what was shown
    feed(page, frame(T0_NS + 10**10, 30, 10.0, reset=True, status="12.0 msg/s"))
    assert len(page.evaluate(SHOWN, "gyroscope")) == 30
    assert page.evaluate("() => window.__test.status.text") == "12.0 msg/s"
    assert page.evaluate("() => window.__hc_feed.resets") == 2


def test_it_reconnects_unless_the_page_is_gone(page):
    start(page, LiveWindow(seconds=5.0))
    page.evaluate("() => window.__test.sockets[0].onclose({code: 1006})")
    page.wait_for_function("() => window.__test.sockets.length === 2", timeout=3000)
    page.evaluate("() => window.__test.sockets[1].onclose({code: 4404})")
    page.wait_for_timeout(1200)  # longer than the next reconnect would wait
    assert page.evaluate("() => [window.__test.sockets.length, window.__hc_feed.closed]") == [
        2,
        4404,
    ]


def test_the_bokehjs_range_update_it_wraps_still_sets_start_and_end_through_setv(page):
    """live_plot.js makes the plots' x ranges follow the data in the browser alone by wrapping
    each range's ``update`` so that its ``setv`` does not sync to the server. That fits only a
    BokehJS whose DataRange1d.update sets start and end with ``this.setv``: on one that does
    not, this fails (and compat.WRITTEN_AGAINST names the Bokeh version it was written for)."""
    source = page.evaluate('() => Bokeh.Models.get("DataRange1d").prototype.update.toString()')
    assert "this.setv(" in source, (
        f"BokehJS {page.evaluate('() => Bokeh.version')}: DataRange1d.update no longer calls "
        "this.setv; the range patch in hitting_coach/ui/live_plot.js does not fit it"
    )
    start(page, LiveWindow(seconds=5.0))
    wrapped = page.evaluate(
        """() => window.__test.ranges.map(
             (r) => r.update !== Bokeh.Models.get("DataRange1d").prototype.update)"""
    )
    assert wrapped == [True, True]
    # BokehJS's own update, its bounds computed from stand-ins: the wrapper hands its setv
    # sync: false (the server is not told), then puts setv back
    calls = page.evaluate(
        """() => {
          const r = window.__test.ranges[0], calls = [];
          const own = r.setv;
          r.setv = function (attrs, options) { calls.push([attrs, options]); };
          r.computed_renderers = () => [];
          r._compute_plot_bounds = () => ({x0: 1, x1: 2, y0: 0, y1: 1});
          r._compute_min_max = () => [1, 2];
          r._compute_range = () => [1, 2];
          r.update(new Map(), 0, {});
          const spy = r.setv;
          r.setv = own;
          return [calls, spy.toString().includes("calls.push")];
        }"""
    )
    assert calls == [[[{"start": 1, "end": 2}, {"sync": False}]], True]
