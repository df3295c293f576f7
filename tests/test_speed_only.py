"""Swings without gravity: found from orientation or total acceleration when a device sends
those, else each swing says "speed only" and the pages say once what to switch on."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pandas as pd
import pytest
from test_realdata_swings import REALDATA as UTD

from hitting_coach.analysis import swings as sw
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.evaluate_sets import labelled_wrist_frame, truth_takes
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import simulate, to_messages
from support import ServerProcess, wait_for

CMU = UTD.parent / "cmu-124-mocap"
WATCH_GRAVITY = [f"gravity{a}" for a in "XYZ"]
WATCH_ATTITUDE = [f"quaternion{a}" for a in "WXYZ"]


def no_gravity(frame: pd.DataFrame) -> pd.DataFrame:
    """A watch that sends rotation and user acceleration only."""
    return frame.drop(columns=WATCH_GRAVITY + WATCH_ATTITUDE)


def cmu_phone(start_ns: int | None = None) -> dict[str, pd.DataFrame]:
    """The CMU belt phone (two real swings) as a phone with the Gravity sensor switched off,
    its times moved to ``start_ns`` when given."""
    (take,) = [t for t in truth_takes(CMU) if t.name == "cmu_124_07"]
    frames = {k: take.frames[k].copy() for k in ("gyroscope", "accelerometer")}
    if start_ns is not None:
        first = min(int(f["time_ns"].iloc[0]) for f in frames.values())
        for f in frames.values():
            f["time_ns"] += start_ns - first
    return frames


def test_every_swing_of_a_phone_without_gravity_says_speed_only():
    hub = Hub()
    live = LiveSwings(hub, placement="pelvis")
    for message in to_messages(cmu_phone(), device_id="phone", session_id="s"):
        hub.ingest(orjson.dumps(message))
        live.poll()
    rows = live.rows("phone")
    # the two real swings, found by speed alone, and saying so; no foot plant without gravity
    assert len(rows) == 2 and all(r["speed_only"] for r in rows)
    assert all(r["foot_plant_ns"] is None for r in rows)
    assert live.status()["speed_only"] == 2


def test_every_swing_of_a_watch_without_gravity_says_speed_only():
    start = 1_750_000_000_000_000_000
    rows = []
    for k, path in enumerate(sorted(UTD.glob("baseball_swing_*.csv"))):
        frame = no_gravity(labelled_wrist_frame(path, start + k * 10_000_000_000))
        judged: list[dict] = []
        table = sw.swings({"wrist motion": frame}, "wrist", judged=judged)
        rows += table.to_dict("records")
        # a slower one judged by speed alone is not listed, and its reason is kept
        assert len(table) or {j["reason"] for j in judged} == {"slow, no gravity"}
    assert rows and all(r["speed_only"] for r in rows)
    assert all(np.isnan(r["vertical_share"]) for r in rows)


def test_gravity_comes_from_the_watch_attitude_when_it_sends_no_gravity():
    s = simulate("wrist", duration_s=30, seed=2, gyro_range_dps=4000)
    frames = {"wrist motion": s.frames["wrist motion"].drop(columns=WATCH_GRAVITY)}
    with_gravity = sw.swings(s.frames, "wrist", gyro_range_dps=4000)
    derived = sw.swings(frames, "wrist", gyro_range_dps=4000)
    assert len(derived) == len(with_gravity) == len(s.truth)
    assert not derived.speed_only.any()
    np.testing.assert_allclose(derived.vertical_share, with_gravity.vertical_share, atol=0.02)


@pytest.mark.parametrize("placement", ["pelvis", "pelvis+wrist"])
def test_a_phone_sending_total_acceleration_instead_of_gravity_keeps_every_check(placement):
    s = simulate(placement, duration_s=30, seed=4, gyro_range_dps=4000)
    frames = dict(s.frames)
    gravity = frames.pop("gravity")
    total = frames["accelerometer"].copy()
    g = np.column_stack(
        [np.interp(total.time_ns, gravity.time_ns, gravity[c]) for c in ("x", "y", "z")]
    )
    total[["x", "y", "z"]] = total[["x", "y", "z"]].to_numpy() - g  # what the sensor feels
    frames["totalacceleration"] = total
    found = sw.swings(frames, placement, gyro_range_dps=4000)
    expected = sw.swings(s.frames, placement, gyro_range_dps=4000)
    assert len(found) == len(expected) == len(s.truth)
    assert not found.speed_only.any() and found.stride.all()
    dt = found.foot_plant_ns.astype(float) - expected.foot_plant_ns.astype(float)
    # gravity carried by the gyroscope from the stance: within 25 ms of the gravity sensor's
    assert np.abs(dt).max() < 25e6


def test_a_set_placement_runs_the_checks_a_guessed_one_does():
    # a phone turning with the hitter jogging (no calm start): not a pelvis swing, set or guessed
    s = simulate("pelvis", duration_s=60, swings=[], activity="jog", seed=1)
    frames = {k: v for k, v in s.frames.items() if k != "gravity"}  # and judged by speed only
    assert len(sw.swings(frames, "pelvis")) == 0
    assert len(sw.swings(frames)) == 0


@pytest.mark.integration
def test_the_live_page_and_the_sessions_page_say_once_what_to_switch_on(tmp_path, page):
    server = ServerProcess(tmp_path, env={"HITTING_COACH_PARQUET_INTERVAL_S": "0.5"}).start()
    try:
        frames = cmu_phone(time.time_ns() - 12_000_000_000)
        page.goto(server.base + "/sensor/")
        wait_for(lambda: "no swing yet" in page.locator(".hc-swing").inner_text(), 30, what="panel")
        for message in to_messages(frames, device_id="phone-1", session_id="s-1"):
            code, body = server.post(message)
            assert code == 200, body
        wait_for(lambda: "#2" in page.locator(".hc-swing").inner_text(), 15, what="swing #2")
        hint = page.locator(".hc-hint")
        wait_for(lambda: "Gravity" in hint.inner_text(), 10, what="the speed-only hint")
        assert hint.count() == 1  # said once, not per swing
        assert hint.inner_text().count("switch on Gravity") == 1
        rows = page.locator(".hc-swing-row")
        assert rows.count() == 2
        # status.json counts them too, with what was not counted
        swings = server.status()["swings"]
        assert swings["speed_only"] == 2 and swings["devices"]["phone-1"]["speed_only"] == 2
        assert "discarded" in swings["devices"]["phone-1"]
        assert all("speed only" in text for text in rows.all_inner_texts())
        page.goto(server.base + "/sensor/sessions")
        card = page.locator(".hc-session-card")
        wait_for(lambda: page.reload() or card.count() == 1, 60, what="the recorded session")
        summary = card.locator(".hc-session")
        wait_for(
            lambda: page.reload() or "judged by speed only" in "".join(summary.all_inner_texts()),
            60,
            what="the hint on its card",
        )
        assert "2 swings judged by speed only" in "".join(summary.all_inner_texts())
        assert "switch on Gravity" in "".join(summary.all_inner_texts())
        assert page.errors == []
    finally:
        assert server.stop() == 0, server.output()
