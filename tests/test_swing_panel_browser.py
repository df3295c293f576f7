"""A simulated swing sent through POST /data shows its numbers in the dashboard's swing panel."""

from __future__ import annotations

import re
import time

import pytest

from hitting_coach.sim.simulate import simulate
from support import wait_for

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
    assert "college median" in text
    rows = page.locator("table.hc-swings tr")
    assert rows.count() == 2  # header and one swing
    assert page.errors == []
