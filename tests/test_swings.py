"""Swing detection and metrics against the simulator's ground truth (COACHING.md targets)."""

from __future__ import annotations

import functools
import math
import types

import numpy as np
import pandas as pd
import pytest

from hitting_coach.analysis import swings as sw
from hitting_coach.sim import simulate as sim

PLACEMENTS = ["pelvis", "pelvis+wrist", "wrist", "bat"]
SEGMENTS = {"pelvis": ["pelvis"], "pelvis+wrist": ["pelvis", "hand"], "wrist": ["hand"]}
SEGMENTS["bat"] = ["bat"]


@functools.cache
def session(placement, rate_hz, seed, gyro_range_dps=4000.0, activity="stand", duration_s=30.0):
    return sim.simulate(
        placement,
        duration_s=duration_s,
        rate_hz=rate_hz,
        seed=seed,
        gyro_range_dps=gyro_range_dps,
        activity=activity,
    )


def ns(series: pd.Series) -> np.ndarray:
    return series.astype("float64").to_numpy()


def feed(tracker: sw.SwingTracker, payload: list[dict]) -> list[dict]:
    """What the hub does with a message: one chunk of arrays per sensor, in arrival order."""
    rows: list[dict] = []
    names = list(dict.fromkeys(r["name"] for r in payload))
    for name in names:
        readings = [r for r in payload if r["name"] == name]
        keys = readings[0]["values"].keys()
        values = {k: np.array([r["values"][k] for r in readings]) for k in keys}
        rows += tracker.feed(name, np.array([r["time"] for r in readings]), values)
    return rows


def test_all_is_the_public_api():
    defined = {
        name
        for name, obj in vars(sw).items()
        if not name.startswith("_")
        and not isinstance(obj, types.ModuleType)
        and getattr(obj, "__module__", sw.__name__) == sw.__name__
    }
    assert set(sw.__all__) == defined


# --- the accuracy targets --------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [100, 200, 500])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_swing_found_with_peaks_within_3_percent_and_events_within_a_sample(
    placement, rate_hz
):
    period_ns = 1e9 / rate_hz
    for seed in range(3):
        s = session(placement, rate_hz, seed, activity=("stand", "waggle")[seed % 2])
        truth = s.truth
        found = sw.swings(s.frames, placement, gyro_range_dps=4000)
        assert len(found) == len(truth) >= 4
        assert (found.placement == placement).all()
        for seg in SEGMENTS[placement]:
            assert not found[f"{seg}_clipped"].any()
            ratio = found[f"{seg}_peak_dps"].to_numpy() / truth[f"{seg}_peak_dps"].to_numpy()
            assert np.abs(ratio - 1).max() < 0.03, (seg, ratio)
            dt = ns(found[f"{seg}_peak_ns"]) - ns(truth[f"{seg}_peak_ns"])
            assert np.abs(dt).max() <= period_ns, (seg, dt / period_ns)
        if "pelvis" in placement:
            # foot plant from the stride's end: the vertical acceleration turns upward up to
            # 20 ms after the foot lands (real swings: 8-17 ms), and a belt phone turning about
            # a tilted axis shakes that by some ms more; the requirement is 40 ms
            dt = ns(found.foot_plant_ns) - ns(truth.foot_plant_ns)
            assert np.abs(dt).max() <= 40e6, dt / 1e6
            assert found.stride.all() and (found.pelvis_peak_after_fp_ms > 0).all()
            assert (found.pelvis_rate_hz.between(0.9 * rate_hz, 1.1 * rate_hz)).all()
            assert not found.pelvis_gap.any() and not found.foot_plant_gap.any()
        if placement == "pelvis+wrist":
            assert found.sequence_ok.all()
            gap = ns(truth.hand_peak_ns) - ns(truth.pelvis_peak_ns)
            assert np.abs(found.peak_gap_ms.to_numpy() - gap / 1e6).max() <= 2e3 / rate_hz
        if placement == "bat":
            check_bat(found, truth, period_ns)


def check_bat(found: pd.DataFrame, truth: pd.DataFrame, period_ns: float) -> None:
    assert found.impact_found.tolist() == truth.contact.tolist()
    hit = truth.contact.to_numpy(bool)
    dt = ns(found.impact_ns)[hit] - ns(truth.impact_ns)[hit]
    assert np.abs(dt).max() <= period_ns, dt / period_ns
    dt = ns(found.downswing_start_ns) - ns(truth.downswing_start_ns)
    assert np.abs(dt).max() <= period_ns, dt / period_ns
    ttc = found.time_to_contact_ms - truth.time_to_contact_ms
    assert ttc.abs().max() <= 2 * period_ns / 1e6
    speed = found.bat_speed_mph / truth.bat_speed_mph
    assert (speed - 1).abs().max() < 0.03
    assert (found.rot_accel_g / truth.rot_accel_g - 1).abs().max() < 0.10


@pytest.mark.parametrize("placement", ["wrist", "bat", "pelvis+wrist"])
def test_clipped_peaks_are_flagged_and_never_exact(placement):
    clipped = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        fast = {"hand_peak_dps": (1900.0, 3000.0), "bat_peak_dps": (2000.0, 3000.0)}
        specs = [sim.random_swing(rng, t, **fast) for t in (2.5, 8.5, 14.5, 20.5)]
        s = sim.simulate(placement, duration_s=24, swings=specs, rate_hz=200, seed=seed)
        found = sw.swings(s.frames, placement, gyro_range_dps=2000)
        assert len(found) == len(s.truth)
        for seg in SEGMENTS[placement]:
            truly = s.truth[f"{seg}_clipped"].to_numpy(bool)
            flagged = found[f"{seg}_clipped"].to_numpy(bool)
            assert flagged[truly].all()
            assert found[f"{seg}_peak_dps"][flagged].isna().all()
            # what was measured is a lower bound of the truth, and near the range
            measured = found[f"{seg}_peak_measured_dps"][flagged]
            assert (measured <= s.truth[f"{seg}_peak_dps"][flagged] * 1.001).all()
            assert (measured >= 0.98 * 2000).all()
            ok = ~flagged
            ratio = found[f"{seg}_peak_dps"][ok] / s.truth[f"{seg}_peak_dps"][ok]
            assert ((ratio - 1).abs() < 0.03).all()
            clipped += int(truly.sum())
        if placement == "bat":
            assert found.bat_speed_mph[found.bat_clipped.to_numpy(bool)].isna().all()
        if "wrist" in placement:
            assert found.speed_gain[found.hand_clipped.to_numpy(bool)].isna().all()
    assert clipped >= 3  # the test saw clipping


@functools.cache
def quiet_session(placement, activity, rate_hz, seed):
    return sim.simulate(
        placement, duration_s=180, swings=[], activity=activity, rate_hz=rate_hz, seed=seed
    )


@pytest.mark.parametrize("activity", ["walk", "jog", "waggle"])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_no_swing_invented_in_minutes_of_other_motion(placement, activity):
    for rate_hz, seed in ((100, 1), (500, 2)) if activity == "waggle" else ((100, 1),):
        s = quiet_session(placement, activity, rate_hz, seed)
        assert len(sw.swings(s.frames, placement)) == 0
        assert len(sw.swings(s.frames)) == 0  # nor with the placement guessed


# --- live and batch --------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [100, 500])
@pytest.mark.parametrize("placement", [*PLACEMENTS, None])
def test_live_in_random_chunks_equals_batch(placement, rate_hz):
    s = session(placement or "pelvis+wrist", rate_hz, 7, gyro_range_dps=2000.0, activity="waggle")
    batch = sw.swings(s.frames, placement)
    assert len(batch) == len(s.truth)
    readings = [r for m in s.messages() for r in m["payload"]]
    rng = np.random.default_rng(rate_hz)
    tracker, rows, i = sw.SwingTracker(placement), [], 0
    while i < len(readings):
        n = int(rng.integers(1, 400))
        chunk = readings[i : i + n]
        rng.shuffle(chunk)  # out of order within a chunk
        rows += feed(tracker, chunk)
        i += n
    rows += tracker.flush()
    pd.testing.assert_frame_equal(sw.swing_table(rows), batch)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_live_reports_each_swing_once_soon_after_it_ends(placement):
    s = session(placement, 200, 1)
    tracker = sw.SwingTracker(placement, gyro_range_dps=4000)
    reported = []
    for send_at_ns, message in sim.iter_messages(s.frames, t0_ns=s.start_ns, shuffle=True):
        for row in feed(tracker, message["payload"]):
            reported.append((send_at_ns, row))
    assert tracker.flush() == []
    assert len(reported) == len(s.truth)
    for (send_at_ns, row), truth in zip(reported, s.truth.itertuples(), strict=True):
        last_peak = max(
            getattr(truth, f"{seg}_peak_ns") for seg in SEGMENTS[placement]
        )  # the motion is over ~0.15 s after its last peak
        assert 0 < (send_at_ns - last_peak) / 1e9 < 0.7
        assert row.swing == truth.swing


def test_other_sensors_in_a_recording_are_ignored():
    s = session("pelvis", 100, 2)
    frames = dict(s.frames)
    frames["magnetometer"] = frames["gravity"].copy()  # ignored, not an error
    pd.testing.assert_frame_equal(sw.swings(frames, "pelvis"), sw.swings(s.frames, "pelvis"))


def test_unsorted_and_repeated_readings_give_the_same_swings():
    s = session("pelvis", 200, 3)
    rng = np.random.default_rng(2)
    chunks = []
    for name, f in s.frames.items():
        mixed = pd.concat([f, f.iloc[::50]])  # some readings sent twice
        second = (mixed.time_ns - s.start_ns) // 1_000_000_000
        for sec, chunk in mixed.groupby(second):
            chunks.append((sec, name, chunk.sample(frac=1, random_state=int(rng.integers(99)))))
    tracker = sw.SwingTracker("pelvis", gyro_range_dps=4000)
    rows = []
    for _, name, chunk in sorted(chunks, key=lambda c: c[0]):
        rows += tracker.feed(name, chunk["time_ns"].to_numpy(), chunk)
    rows += tracker.flush()
    expected = sw.swings(s.frames, "pelvis", gyro_range_dps=4000)
    pd.testing.assert_frame_equal(sw.swing_table(rows), expected)
    assert tracker.late_readings == sum(len(f.iloc[::50]) for f in s.frames.values())


def test_readings_later_than_the_reorder_window_are_dropped_not_misplaced():
    s = session("pelvis", 100, 3)
    f = s.frames["gyroscope"]
    tracker = sw.SwingTracker("pelvis")
    tracker.feed("gyroscope", f.time_ns[100:200].to_numpy(), f.iloc[100:200])
    tracker.feed("gyroscope", f.time_ns[:100].to_numpy(), f.iloc[:100])  # ~1 s too late
    tracker.feed("gyroscope", f.time_ns[195:200].to_numpy(), f.iloc[195:200])  # repeated
    assert tracker.late_readings == 100 + 5


def test_a_sampling_gap_at_the_peak_is_flagged():
    spec = sim.SwingSpec(foot_plant_s=3.0, pelvis_delay_s=0.06)
    plain = sim.simulate("pelvis", duration_s=8, swings=[spec], rate_hz=200, seed=1)
    gappy = sim.simulate(
        "pelvis", duration_s=8, swings=[spec], rate_hz=200, seed=1, gaps_s=[(3.04, 0.04)]
    )
    a, b = sw.swings(plain.frames, "pelvis"), sw.swings(gappy.frames, "pelvis")
    assert not a.pelvis_gap[0] and b.pelvis_gap[0]
    assert b.pelvis_rate_hz[0] < 0.9 * a.pelvis_rate_hz[0]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_placement_is_guessed_from_the_data(placement):
    s = session(placement, 100, 4, gyro_range_dps=2000.0)
    assert sw.guess_placement(s.frames) == placement
    found = sw.swings(s.frames, gyro_range_dps=2000)
    assert len(found) == len(s.truth) and (found.placement == placement).all()


def test_guessing_without_rotation_data_raises():
    s = session("pelvis", 100, 4)
    with pytest.raises(ValueError, match="gyroscope"):
        sw.guess_placement({"accelerometer": s.frames["accelerometer"]})
    with pytest.raises(ValueError, match="placement"):
        sw.SwingTracker("knee")
    with pytest.raises(ValueError, match="x"):
        sw.SwingTracker("pelvis").feed("gyroscope", [1, 2], {"y": [0, 0], "z": [0, 0]})


# --- the detector on its own -----------------------------------------------------------------


def trace(bumps, rate_hz=200, duration_s=6.0):
    """|ω| (°/s) with Gaussian bumps (centre s, peak °/s, width s)."""
    t = np.arange(0, duration_s, 1 / rate_hz)
    w = 5 + sum(p * np.exp(-0.5 * ((t - c) / sd) ** 2) for c, p, sd in bumps)
    return (1_000_000_000 + t * 1e9).astype(np.int64), w


def detect(time_ns, omega, chunks=None, **kw):
    det = sw.SwingDetector(300, 120, **kw)
    out = []
    bounds = [0, *(chunks or []), len(time_ns)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out += det.feed(time_ns[a:b], omega[a:b])
    return out + det.flush()


def test_detector_hysteresis_windows():
    t, w = trace([(1.0, 700, 0.05), (3.0, 250, 0.05), (4.5, 700, 0.002)])
    (win,) = detect(t, w)  # below the high threshold: no; a 10 ms spike: too short
    assert w[t == win.start_ns][0] < 120 <= w[np.searchsorted(t, win.start_ns) + 1]
    assert w[t == win.end_ns][0] < 120 <= w[np.searchsorted(t, win.end_ns) - 1]
    assert win.peak_dps == pytest.approx(705, abs=1) and abs(win.peak_ns - 2e9) <= 5e6


def test_detector_merges_near_windows_and_drops_long_ones():
    t, w = trace([(1.0, 700, 0.03), (1.2, 700, 0.03), (3.0, 700, 0.03), (3.6, 700, 0.03)])
    assert len(detect(t, w)) == 3  # 1.0 and 1.2 s merge; 3.0 and 3.6 s stay apart
    t, w = trace([(2.0, 700, 1.0)])
    assert detect(t, w) == []  # over two seconds: running or spinning, not a swing


def test_detector_windows_do_not_depend_on_chunking():
    rng = np.random.default_rng(5)
    bumps = [(c, rng.uniform(200, 900), rng.uniform(0.01, 0.08)) for c in np.arange(0.5, 30, 0.7)]
    t, w = trace(bumps, duration_s=31)
    whole = detect(t, w)
    assert len(whole) >= 10
    for _ in range(5):
        cuts = sorted(
            rng.choice(np.arange(1, len(t)), size=int(rng.integers(1, 300)), replace=False)
        )
        assert detect(t, w, chunks=cuts) == whole


def test_detector_reports_a_window_once_after_the_merge_gap():
    t, w = trace([(1.0, 700, 0.03)])
    det = sw.SwingDetector(300, 120)
    end = None
    for i in range(len(t)):
        got = det.feed(t[i : i + 1], w[i : i + 1])
        if got:
            assert end is None
            end = t[i]
            (win,) = got
    gap = sw.MERGE_GAP_S * 1e9
    assert gap < end - win.end_ns <= gap + 5e6
    with pytest.raises(ValueError):
        sw.SwingDetector(100, 200)


# --- reference figures and traces -----------------------------------------------------------


def test_reference_figures_are_the_openbiomechanics_table():
    ref = sw.reference_table()
    assert len(ref) == 16 and set(ref.level) == {"high school", "college", "independent", "MiLB"}
    college_hand = ref[(ref.level == "college") & (ref.metric == "hand_peak_dps")].iloc[0]
    assert (college_hand["median"], college_hand.q1, college_hand.q3) == (1783, 1650, 1948)
    assert "Wasserberger" in sw.REFERENCE_SOURCE


def test_a_value_is_placed_against_each_level():
    mid = sw.place_against_reference("pelvis_peak_dps", 715)
    assert (mid.position == "within").all() and mid.percentile.between(35, 65).all()
    fast = sw.place_against_reference("bat_speed_mph", 75)
    assert (fast.position == "above").all() and (fast.percentile > 90).all()
    slow = sw.place_against_reference("hand_peak_dps", 1400)
    assert (slow.position == "below").all() and (slow.percentile < 25).all()
    assert (sw.place_against_reference("hand_peak_dps", math.nan).position == "unknown").all()
    with pytest.raises(ValueError, match="knee_dps"):
        sw.place_against_reference("knee_dps", 1.0)
    # one level's row, as the live pages show it: the same figures as the table's
    table = sw.place_against_reference("hand_peak_dps", 1700).set_index("level")
    for level in table.index:
        one = sw.placed_at("hand_peak_dps", 1700, level)
        assert one.position == table.loc[level, "position"]
        assert one.percentile == pytest.approx(table.loc[level, "percentile"])
        assert (one.median, one.q1, one.q3) == tuple(table.loc[level, ["median", "q1", "q3"]])
    with pytest.raises(ValueError, match="minor league"):
        sw.placed_at("hand_peak_dps", 1700, "minor league")


def test_traces_show_each_segment_around_its_swing():
    s = session("pelvis+wrist", 200, 0)
    table = sw.swings(s.frames, gyro_range_dps=4000)
    traces = sw.swing_traces(s.frames, table)
    assert set(traces.segment) == {"pelvis", "hand"} and set(traces.swing) == set(table.swing)
    for row in table.itertuples():
        pelvis = traces[(traces.swing == row.swing) & (traces.segment == "pelvis")]
        top = pelvis.loc[pelvis.omega_dps.idxmax()]
        assert top.omega_dps == pytest.approx(row.pelvis_peak_dps, rel=0.02)
        assert top.t_ms == pytest.approx(row.pelvis_peak_after_fp_ms, abs=5)
        # the hand's trace is what the watch felt: its largest reading is the forearm rolling
        # over after contact (a lead-wrist watch), after the hand peak the numbers give
        hand = traces[(traces.swing == row.swing) & (traces.segment == "hand")]
        top = hand.loc[hand.omega_dps.idxmax()]
        assert row.hand_peak_ns < row.rollover_ns <= top.time_ns + 10_000_000
        assert top.omega_dps > row.hand_peak_dps
        at_peak = hand.loc[(hand.time_ns - row.hand_peak_ns).abs().idxmin()]
        assert at_peak.t_ms == pytest.approx(row.hand_peak_after_fp_ms, abs=5)
        assert at_peak.omega_dps == pytest.approx(row.hand_peak_dps, rel=0.03)
    empty = sw.swing_traces(s.frames, table.iloc[:0])
    assert list(empty.columns) == ["swing", "segment", "time_ns", "t_ms", "omega_dps"]


def test_a_swing_row_is_typed_and_the_table_is_made_from_it():
    """The tracker gives SwingRow objects (every column a field, units in the names); the
    swing table has one column per field, in field order, typed by the field."""
    from dataclasses import fields

    s = session("pelvis+wrist", 100, 2)
    tracker = sw.SwingTracker("pelvis+wrist")
    for sensor, frame in s.frames.items():
        tracker.add(sensor, frame["time_ns"].to_numpy(), frame)
    rows = tracker.flush()
    assert rows and all(isinstance(r, sw.SwingRow) for r in rows)
    assert [r.swing for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].pelvis_peak_dps > 0 and rows[0].hand_peak_ns > rows[0].start_ns
    table = sw.swing_table(rows)
    assert list(table.columns) == [f.name for f in fields(sw.SwingRow)] == sw.COLUMNS
    dtypes = table.dtypes.astype(str)
    assert dtypes["swing"] == "int64" and dtypes["placement"] == "string"
    assert dtypes["pelvis_peak_ns"] == "Int64" and dtypes["hand_clipped"] == "boolean"
    assert dtypes["bat_speed_mph"] == "float64" and table["bat_speed_mph"].isna().all()
    # the same table from the rows as the live list carries them (plain mappings)
    pd.testing.assert_frame_equal(sw.swing_table([r.as_dict() for r in rows]), table)
