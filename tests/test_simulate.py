"""The swing simulator: Sensor Logger units and messages, ground truth, determinism."""

from __future__ import annotations

import itertools
import math
import types

import numpy as np
import pandas as pd
import pytest

from hitting_coach.analysis.swings import SwingTracker, angular_speed_dps
from hitting_coach.sim import simulate as sim

START = 1_700_000_000_000_000_000


def omega_dps(frame: pd.DataFrame) -> np.ndarray:
    cols = ["x", "y", "z"] if "x" in frame else ["rotationRateX", "rotationRateY", "rotationRateZ"]
    return angular_speed_dps(frame[cols].to_numpy())


def public_names(module) -> set[str]:
    """Names a module defines (not imports) without a leading underscore."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and not isinstance(obj, types.ModuleType)
        and getattr(obj, "__module__", module.__name__) == module.__name__
    }


def test_all_is_the_public_api():
    assert set(sim.__all__) == public_names(sim)


def test_same_seed_same_session_other_seed_other_session():
    a = sim.simulate("pelvis+wrist", duration_s=10, seed=4)
    b = sim.simulate("pelvis+wrist", duration_s=10, seed=4)
    c = sim.simulate("pelvis+wrist", duration_s=10, seed=5)
    for name in a.frames:
        pd.testing.assert_frame_equal(a.frames[name], b.frames[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.messages() == b.messages()
    assert not a.frames["gyroscope"].equals(c.frames["gyroscope"])


@pytest.mark.parametrize("rate_hz", [100, 500])
def test_readings_come_in_sensor_logger_units_and_rates(rate_hz):
    s = sim.simulate("pelvis+wrist", duration_s=10, rate_hz=rate_hz, seed=1)
    assert set(s.frames) == {"gyroscope", "accelerometer", "gravity", "wrist motion"}
    for frame in s.frames.values():
        t = frame["time_ns"].to_numpy()
        assert frame["time_ns"].dtype == np.int64
        assert np.all(np.diff(t) > 0)
        assert abs(len(t) - 10 * rate_hz) <= 1
        assert np.median(np.diff(t)) == pytest.approx(1e9 / rate_hz, rel=0.01)
        assert t[0] >= START and t[-1] < START + 10_000_000_000
    gravity = np.linalg.norm(s.frames["gravity"][["x", "y", "z"]].to_numpy(), axis=1)
    assert gravity == pytest.approx(9.80665, rel=0.01)  # m/s²
    wrist = s.frames["wrist motion"]
    wrist_gravity = wrist[["gravityX", "gravityY", "gravityZ"]].to_numpy()
    assert np.linalg.norm(wrist_gravity, axis=1) == pytest.approx(1.0, rel=0.01)  # g
    quat = wrist[["quaternionW", "quaternionX", "quaternionY", "quaternionZ"]].to_numpy()
    assert np.linalg.norm(quat, axis=1) == pytest.approx(1.0, abs=1e-6)
    # gyroscopes in rad/s: the swing's peak in °/s is reached only after conversion
    truth = s.truth.iloc[0]
    assert omega_dps(s.frames["gyroscope"]).max() == pytest.approx(truth.pelvis_peak_dps, rel=0.05)
    assert s.frames["gyroscope"][["x", "y", "z"]].abs().to_numpy().max() < 20  # rad/s, not °/s


def test_rotation_is_spread_over_the_device_axes():
    mixed, dominant = 0, set()
    for seed in range(6):
        s = sim.simulate("bat", duration_s=5, seed=seed, gyro_range_dps=4000)
        g = s.frames["gyroscope"][["x", "y", "z"]].abs().to_numpy()
        peak = g[np.argmax(np.linalg.norm(g, axis=1))]
        mixed += np.count_nonzero(peak > 0.25 * peak.max()) >= 2
        dominant.add(int(np.argmax(peak)))
    assert mixed >= 3 and len(dominant) >= 2


def test_truth_follows_the_swing_spec():
    spec = sim.SwingSpec(foot_plant_s=3.0, pelvis_peak_dps=700, hand_peak_dps=1500)
    s = sim.simulate("pelvis+wrist", duration_s=8, swings=[spec], gyro_range_dps=4000, seed=3)
    (row,) = s.truth.itertuples()
    # the model adds a little wobble about other axes: |ω| is slightly above the main rotation
    assert 700 <= row.pelvis_peak_dps <= 700 * 1.03
    assert 1500 <= row.hand_peak_dps <= 1500 * 1.03
    assert row.foot_plant_ns == START + 3_000_000_000
    after_fp_ms = (row.pelvis_peak_ns - row.foot_plant_ns) / 1e6
    assert after_fp_ms == pytest.approx(spec.pelvis_delay_s * 1e3, abs=25)
    assert row.foot_plant_ns < row.pelvis_peak_ns < row.hand_peak_ns
    assert not row.pelvis_clipped and not row.hand_clipped


def test_gyroscope_clips_at_its_range_and_truth_says_so():
    spec = sim.SwingSpec(foot_plant_s=3.0, hand_peak_dps=3200)
    s = sim.simulate("wrist", duration_s=8, swings=[spec], gyro_range_dps=2000, seed=3)
    rates = s.frames["wrist motion"][["rotationRateX", "rotationRateY", "rotationRateZ"]]
    assert rates.abs().to_numpy().max() == pytest.approx(math.radians(2000))
    assert bool(s.truth.hand_clipped.iloc[0])
    assert s.truth.hand_peak_dps.iloc[0] >= 3200  # the truth is the unclipped motion


def test_bat_truth_has_contact_and_time_to_contact():
    specs = [
        sim.SwingSpec(foot_plant_s=3.0, contact=True, downswing_s=0.15, impact_delay_s=0.005),
        sim.SwingSpec(foot_plant_s=9.0, contact=False, downswing_s=0.2),
    ]
    s = sim.simulate("bat", duration_s=14, swings=specs, gyro_range_dps=4000, seed=3)
    hit, miss = s.truth.itertuples()
    assert hit.contact and hit.time_to_contact_ms == pytest.approx(155, abs=1)
    assert not miss.contact and pd.isna(miss.impact_ns)
    assert miss.time_to_contact_ms == pytest.approx(200, abs=3)
    assert hit.bat_speed_mph == pytest.approx(
        math.radians(hit.bat_peak_dps) * 0.686 * 2.2369, rel=1e-3
    )


@pytest.mark.parametrize(
    ("placement", "sensor", "activity", "low", "high"),
    [
        ("pelvis", "gyroscope", "walk", 40, 130),
        ("pelvis", "gyroscope", "jog", 100, 260),
        ("pelvis", "gyroscope", "waggle", 140, 270),
        ("wrist", "wrist motion", "waggle", 190, 420),
        ("bat", "gyroscope", "waggle", 190, 420),
        ("bat", "gyroscope", "jog", 240, 420),
    ],
)
def test_non_swing_motion_has_realistic_magnitudes(placement, sensor, activity, low, high):
    s = sim.simulate(placement, duration_s=30, swings=[], activity=activity, seed=6)
    assert len(s.truth) == 0
    assert low <= omega_dps(s.frames[sensor]).max() <= high


def test_messages_carry_every_reading_once_in_batches():
    s = sim.simulate("pelvis+wrist", duration_s=5, rate_hz=200, seed=2)
    messages = s.messages(session_id="s1", device_id="d1", batch_s=0.2)
    assert [m["messageId"] for m in messages] == list(range(1, len(messages) + 1))
    assert len(messages) == 25
    seen = []
    for m in messages:
        assert (m["sessionId"], m["deviceId"]) == ("s1", "d1")
        times = [r["time"] for r in m["payload"]]
        assert all(isinstance(t, int) for t in times)
        assert max(times) - min(times) < 200_000_000
        assert times == sorted(times)
        assert {r["name"] for r in m["payload"]} == set(s.frames)  # interleaved
        seen += [(r["name"], r["time"]) for r in m["payload"]]
    expected = [(n, t) for n, f in s.frames.items() for t in f["time_ns"].tolist()]
    assert sorted(seen) == sorted(expected)
    first = messages[0]["payload"]
    gyro = next(r for r in first if r["name"] == "gyroscope")
    assert set(gyro["values"]) == {"x", "y", "z"}
    watch = next(r for r in first if r["name"] == "wrist motion")
    assert {"rotationRateX", "accelerationX", "gravityX", "quaternionW"} <= set(watch["values"])


def test_shuffled_messages_hold_the_same_readings_out_of_order():
    s = sim.simulate("pelvis", duration_s=3, rate_hz=200, seed=2)
    plain = s.messages()
    mixed = s.messages(shuffle=True, seed=1)
    assert len(plain) == len(mixed)
    key = lambda r: (r["name"], r["time"])  # noqa: E731
    for a, b in zip(plain, mixed, strict=True):
        assert sorted(a["payload"], key=key) == sorted(b["payload"], key=key)
    assert any(
        [r["time"] for r in m["payload"]] != sorted(r["time"] for r in m["payload"]) for m in mixed
    )


def test_gaps_leave_no_readings():
    s = sim.simulate("pelvis", duration_s=6, seed=2, gaps_s=[(2.0, 0.5)])
    for frame in s.frames.values():
        t = (frame["time_ns"].to_numpy() - START) / 1e9
        assert not np.any((t >= 2.0) & (t < 2.5))
        assert np.diff(t).max() >= 0.5


def test_demo_stream_sends_a_swing_every_period():
    start = START + 123
    stream = sim.iter_demo_messages(start, seed=3, swing_every_s=5.0, batch_s=0.2)
    sent = list(itertools.islice(stream, 150))  # 30 s
    send_at = [t for t, _ in sent]
    assert send_at == sorted(send_at) and send_at[0] == start + 200_000_000
    assert [m["messageId"] for _, m in sent] == list(range(1, 151))
    assert {m["sessionId"] for _, m in sent} == {"demo-3"}
    for t, m in sent:
        assert all(t - 200_000_000 <= r["time"] < t for r in m["payload"])
    tracker = SwingTracker("pelvis+wrist")
    found = []
    for _, m in sent:
        for r in m["payload"]:
            vals = r["values"]
            cols = (
                "x y z"
                if r["name"] != "wrist motion"
                else "rotationRateX rotationRateY rotationRateZ"
            )
            found += tracker.feed(r["name"], [r["time"]], {c: [vals[c]] for c in cols.split()})
    assert len(found) == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"placement": "knee"},
        {"activity": "dance"},
        {"rate_hz": 0.5},
        {"swings": [sim.SwingSpec(foot_plant_s=9.9)]},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        sim.simulate(**{"duration_s": 10, **kwargs})


def test_stream_arguments_are_checked_before_the_first_message():
    with pytest.raises(ValueError, match="swing_every_s"):
        sim.iter_demo_messages(START, swing_every_s=2.0)
    with pytest.raises(ValueError, match="placement"):
        sim.iter_demo_messages(START, placement="knee")
    with pytest.raises(ValueError, match="batch_s"):
        sim.iter_messages(sim.simulate("pelvis", duration_s=3, swings=[]).frames, batch_s=0)


def test_random_swing_rejects_unknown_fields_and_takes_ranges():
    rng = np.random.default_rng(0)
    spec = sim.random_swing(rng, 3.0, hand_peak_dps=(2100.0, 2200.0), contact=False)
    assert 2100 <= spec.hand_peak_dps <= 2200 and spec.contact is False
    with pytest.raises(TypeError):
        sim.random_swing(rng, 3.0, knee_dps=5)


@pytest.mark.parametrize("wrist", ["lead", "top"])
def test_a_watch_on_the_lead_or_the_top_hand_gives_the_hands_speed_into_contact(wrist):
    from hitting_coach.analysis.swings import swings
    from hitting_coach.evaluate_sets import mirror_frames

    s = sim.simulate("pelvis+wrist", duration_s=30, seed=6, gyro_range_dps=4000, wrist=wrist)
    found = swings(s.frames, "pelvis+wrist", gyro_range_dps=4000)
    assert len(found) == len(s.truth)
    ratio = found.hand_peak_dps.to_numpy() / s.truth.hand_peak_dps.to_numpy()
    assert np.abs(ratio - 1).max() < 0.03  # the roll-over after contact kept out
    wm = s.frames["wrist motion"]
    largest = []
    for row in found.itertuples():
        inside = wm[(wm.time_ns >= row.start_ns) & (wm.time_ns <= row.end_ns)]
        rates = inside[["rotationRateX", "rotationRateY", "rotationRateZ"]].to_numpy()
        largest.append(angular_speed_dps(rates).max() / row.hand_peak_dps)
    if wrist == "lead":  # the lead wrist's largest reading is the roll-over, after contact
        assert found.rollover_ns.notna().all() and min(largest) > 1.0 < np.median(largest) - 0.1
    else:
        assert max(largest) < 1.03
    # a hitter of the other hand: the same swings, the same numbers
    mirrored = swings(mirror_frames(s.frames), "pelvis+wrist", gyro_range_dps=4000)
    cols = ["start_ns", "foot_plant_ns", "hand_peak_ns", "pelvis_peak_ns"]
    assert mirrored[cols].equals(found[cols])
    np.testing.assert_allclose(mirrored.hand_peak_dps, found.hand_peak_dps, rtol=1e-9)
    with pytest.raises(ValueError, match="unknown wrist 'knee'"):
        sim.simulate("wrist", wrist="knee")
