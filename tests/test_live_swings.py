"""The live path (hub ring buffers → LiveSwings) finds the same swings as batch analysis."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.swings import swings
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim import simulate as sim
from hitting_coach.sim.simulate import simulate


@pytest.mark.parametrize(("placement", "rate_hz"), [("pelvis+wrist", 100), ("bat", 500)])
def test_live_equals_batch_through_the_hub(placement, rate_hz):
    sim = simulate(placement, duration_s=20.0, rate_hz=rate_hz, seed=5)
    hub = Hub()
    live = LiveSwings(hub)
    for k, message in enumerate(sim.messages(device_id="d", session_id="s", shuffle=True)):
        hub.ingest(orjson.dumps(message))
        if k % 3 == 0:  # the worker polls about every 100 ms: a few messages at a time
            live.poll()
    live.poll()
    batch = swings(sim.frames)
    rows = live.rows("d")
    assert len(batch) == len(sim.truth) == 3
    # the last swing may still be waiting for data after its end; all before it are out
    assert len(rows) >= len(batch) - 1
    for row, (_, expected) in zip(rows, batch.iterrows(), strict=False):
        assert row["placement"] == expected["placement"]
        for key in ("pelvis_peak_dps", "hand_peak_dps", "bat_speed_mph"):
            if not pytest.approx(expected[key], nan_ok=True) == row[key]:
                raise AssertionError(f"{key}: live {row[key]} != batch {expected[key]}")
    assert [r["number"] for r in rows] == list(range(1, len(rows) + 1))


def test_a_device_that_appears_between_polls_is_analysed_from_its_first_reading():
    sim = simulate("pelvis", duration_s=9.0, rate_hz=200, seed=2)
    hub = Hub()
    live = LiveSwings(hub)
    for message in sim.messages(device_id="late", session_id="s"):
        hub.ingest(orjson.dumps(message))
    live.poll()
    assert live.count("late") == len(sim.truth) == 1


def test_swings_of_a_recorded_session_match_the_truth(recorded_swings):
    from hitting_coach.store.sessions import load_session

    data_dir, sim = recorded_swings
    table = swings(load_session("phone-1/sim-swings", data_dir).frames)
    assert len(table) == len(sim.truth) == 10
    assert (table["placement"] == "pelvis+wrist").all()
    for segment in ("pelvis", "hand"):
        column = f"{segment}_peak_dps"
        clipped = sim.truth[f"{segment}_clipped"].to_numpy(bool)
        assert (table[f"{segment}_clipped"].to_numpy(bool) == clipped).all()
        assert table[column][clipped].isna().all()  # a clipped peak is never given as exact
        measured, truth = table[column].to_numpy()[~clipped], sim.truth[column].to_numpy()[~clipped]
        assert abs(measured / truth - 1).max() < 0.03, column


def test_what_is_not_counted_is_counted_by_reason_in_the_status():
    from hitting_coach.sim.confusers import CONFUSERS
    from hitting_coach.ui.shared_status import status_text

    rng = np.random.default_rng(0)
    hitter = sim.random_hitter(rng)
    swings = [sim.random_swing(rng, t, **hitter) for t in (2.5, 11.5, 20.5)]
    confusers = [(kind, 29.5 + 9.0 * i) for i, kind in enumerate(CONFUSERS)]
    s = sim.simulate(
        "wrist", duration_s=29.5 + 9.0 * len(CONFUSERS), swings=swings, confusers=confusers
    )
    hub = Hub()
    live = LiveSwings(hub)
    for message in s.messages(device_id="watch", session_id="s"):
        hub.ingest(orjson.dumps(message))
    live.poll()
    status = live.status()
    mine = status["devices"]["watch"]
    assert mine["practice"] == 1 and mine["checked"] == 1 and mine["arms_only"] == 0
    # the throws, serves, strokes... were discarded, each counted with its reason
    assert mine["discarded"]["not about the vertical"] >= 5
    assert set(mine["discarded"]) <= {
        "not about the vertical",
        "small turn",
        "bat brought back",
        "checked, tilted",
        "too short or long",
    }
    assert status["discarded"] == mine["discarded"]
    line = status_text({**hub.status(), "swings": status}, "watch")
    assert "not counted: 1 practice, 1 checked" in line
    for reason, n in mine["discarded"].items():
        assert f"{n} {reason}" in line
