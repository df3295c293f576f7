"""The simulator's confusers (what real recordings showed) against the swing detector."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from hitting_coach.analysis import swings as sw
from hitting_coach.sim import simulate as sim
from hitting_coach.sim.confusers import CONFUSERS

SWING_TIMES = (2.5, 11.5, 20.5)  # three swings first: the hitter's level is known
FIRST, EVERY = 29.5, 9.0


@functools.cache
def confused(placement: str, seed: int):
    rng = np.random.default_rng(seed)
    hitter = sim.random_hitter(rng)
    swings = [sim.random_swing(rng, t, **hitter) for t in SWING_TIMES]
    confusers = [(kind, FIRST + EVERY * i) for i, kind in enumerate(CONFUSERS)]
    return sim.simulate(
        placement,
        duration_s=FIRST + EVERY * len(CONFUSERS),
        swings=swings,
        confusers=confusers,
        seed=seed,
        rate_hz=100,
    )


def overlapping(session, row) -> list[str]:
    c = session.confusers
    hit = (c.start_ns <= row.end_ns) & (c.end_ns >= row.start_ns)
    return c.kind[hit].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("placement", ["wrist", "pelvis+wrist"])
def test_no_confuser_is_counted_and_a_checked_swing_is_reported_as_checked(placement, seed):
    s = confused(placement, seed)
    assert s.confusers.kind.tolist() == list(CONFUSERS)
    found = sw.swings(s.frames, placement)
    marked = found[list(sw.NOT_COUNTED)].to_numpy(bool).any(axis=1)
    full = found[~marked]
    assert len(full) == len(s.truth) == 3
    for row in full.itertuples():
        assert overlapping(s, row) == []  # every full swing is one of the real swings
    peaks = full.start_ns.to_numpy(float)
    assert np.abs(peaks - s.truth.start_ns.to_numpy(float)).max() < 0.8e9
    checked = found[found.checked.to_numpy(bool)]
    assert [overlapping(s, r) for r in checked.itertuples()] == [["checked_swing"]]
    # the practice swing (after three full ones) is listed, marked, never lost
    practice = found[found.practice.to_numpy(bool)]
    assert [overlapping(s, r) for r in practice.itertuples()] == [["practice_swing"]]
    assert not found.arms_only.any()


@pytest.mark.parametrize("speed", [0.6, 0.8, 1.0])
@pytest.mark.parametrize("placement", ["wrist", "pelvis+wrist", "bat"])
def test_swings_at_60_to_100_percent_of_todays_speeds_are_all_found(placement, speed):
    for seed in range(2):
        s = sim.simulate(
            placement, duration_s=40, hitter_speed=speed, seed=seed, gyro_range_dps=4000
        )
        found = sw.swings(s.frames, placement, gyro_range_dps=4000)
        assert len(found) == len(s.truth) == 6, (speed, seed)
        assert not found.checked.any()
        seg = "bat" if placement == "bat" else "hand"
        measured = found[f"{seg}_peak_measured_dps"].to_numpy()
        assert (np.abs(measured / s.truth[f"{seg}_peak_dps"].to_numpy() - 1) < 0.03).all()


def test_a_practice_swing_is_only_marked_once_the_hitters_level_is_known():
    rng = np.random.default_rng(4)
    hitter = sim.random_hitter(rng)
    swings = [sim.random_swing(rng, t, **hitter) for t in (11.5, 20.5, 29.5)]
    s = sim.simulate(
        "wrist", duration_s=40, swings=swings, confusers=[("practice_swing", 2.5)], seed=4
    )
    found = sw.swings(s.frames, "wrist")  # first of the day: nothing to compare it with yet
    assert len(found) == 4 and not found.checked.any() and not found.practice.any()


def test_unknown_confusers_and_bad_times_are_refused():
    with pytest.raises(ValueError, match="unknown confuser 'cartwheel'"):
        sim.simulate("wrist", confusers=[("cartwheel", 5.0)])
    with pytest.raises(ValueError, match="throw at 29.5 s"):
        sim.simulate("wrist", duration_s=30, confusers=[("throw", 29.5)])


def test_live_through_the_hub_gives_the_batch_swings_checked_ones_included():
    import orjson

    from hitting_coach.analysis.live_swings import LiveSwings
    from hitting_coach.ingest.hub import Hub

    s = confused("pelvis+wrist", 1)
    hub = Hub()
    live = LiveSwings(hub)
    for k, message in enumerate(s.messages(device_id="d", session_id="s", shuffle=True)):
        hub.ingest(orjson.dumps(message))
        if k % 3 == 0:
            live.poll()
    live.poll()
    batch = sw.swings(s.frames)
    rows = live.rows("d")
    # three swings, the practice swing (listed, marked) and the checked one, the last at 128 s
    assert len(rows) == len(batch) == 5
    assert [r["practice"] for r in rows] == [False, False, False, True, False]
    for row, expected in zip(rows, batch.to_dict("records"), strict=True):
        assert row["checked"] == expected["checked"]
        assert row["practice"] == expected["practice"]
        assert row["start_ns"] == expected["start_ns"]
        assert row["turn_deg"] == pytest.approx(expected["turn_deg"])
