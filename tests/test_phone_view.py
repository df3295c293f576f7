"""The live view on a phone (Chromium at 390×844, touch, as an iPhone 12–15 lays pages out):
the last swing's numbers large on the first screen, no sideways scrolling; on a desktop the
full dashboard without the phone card."""

from __future__ import annotations

import re

import pytest

from support import PHONE_SCREEN as PHONE
from support import ServerProcess, wait_for

pytestmark = pytest.mark.integration

JS_STYLE = """(n) => {
  const s = getComputedStyle(n);
  return {font: parseFloat(s.fontSize), color: s.color, background: getComputedStyle(
    n.closest('.hc-phone')).backgroundColor};
}"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo server for the module: its tests only read its pages."""
    server = ServerProcess(tmp_path_factory.mktemp("demo"), args=["--demo"]).start()
    yield server
    assert server.stop() == 0, server.output()


def test_a_demo_swing_fills_the_phones_first_screen(demo, phone):
    phone.goto(demo.base + "/sensor/")
    assert phone.locator('meta[name="viewport"]').get_attribute("content") == (
        "width=device-width, initial-scale=1"
    )
    card = phone.locator(".hc-phone")
    # the demo's first swing comes about 3 s in
    wait_for(lambda: "Swing #" in card.inner_text(), 60, what="a demo swing on the phone card")
    text = card.inner_text()
    assert re.search(r"Swing #\d+ · pelvis\+wrist · \d\d:\d\d:\d\d", text)  # placement
    assert "data ok" in text or re.search(r"gyro clipped|low rate|sampling gap", text)  # quality
    assert re.search(r"(below|in|above) the college middle half \d+–\d+ °/s", text)  # reference
    assert "PELVIS" in text.upper() and "HAND" in text.upper()

    numbers = phone.locator(".hc-phone-number").all()
    assert len(numbers) >= 2  # pelvis and hand (and the pelvis → hand gap)
    for number in numbers:
        text, style, box = number.inner_text(), number.evaluate(JS_STYLE), number.bounding_box()
        assert re.fullmatch(r"≥?\d+\s*(°/s|ms)", text.strip()), text
        assert style["font"] >= 32, (text, style)  # readable at arm's length
        # black on white: readable in sunlight
        assert (style["color"], style["background"]) == ("rgb(0, 0, 0)", "rgb(255, 255, 255)")
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], (text, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (text, box)

    # the last swings, as a compact table, on the first screen too
    table = phone.locator(".hc-phone-swings")
    rows = table.locator("tr")
    assert rows.count() >= 2  # header and at least one swing
    assert table.bounding_box()["y"] + rows.nth(1).bounding_box()["height"] <= PHONE["height"]
    last = rows.nth(rows.count() - 1).bounding_box()
    assert last["y"] + last["height"] <= PHONE["height"]

    # nothing is wider than the phone: no sideways scrolling, even with the swing list below
    wait_for(lambda: phone.locator(".hc-swing-row").count() >= 1, 30, what="the swing list")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    # the desktop headline is not repeated on the phone; the plots are below the card
    assert not phone.locator(".hc-swing").is_visible()
    card_bottom = card.bounding_box()["y"] + card.bounding_box()["height"]
    assert all(box["y"] >= card_bottom for box in _canvas_boxes(phone))
    assert phone.errors == []


def test_a_desktop_gets_the_full_dashboard_without_the_card(demo, page):
    page.goto(demo.base + "/sensor/")
    wait_for(lambda: "#" in page.locator(".hc-swing").inner_text(), 60, what="a demo swing")
    assert page.locator(".hc-swing").is_visible()
    assert not page.locator(".hc-phone").is_visible()
    assert page.errors == []


def _canvas_boxes(page) -> list[dict]:
    return [b for b in (c.bounding_box() for c in page.locator(".bk-Canvas").all()) if b]
