"""The numbers a coach reads, on real swings (../shared/realdata), through the live ingest path.

- CMU motion capture (a belt phone and a lead-wrist watch, one phone relaying both): both swings
  found, foot plant from the stride's end near the foot's landing with the pelvis peaking after
  it, the hand peak before the forearm's roll-over, the bunt not counted as a swing.
- UTD wrist recordings as one continuous session with rest between swings: three hard swings
  then eight slow ones, all listed (a slow one at most marked practice).
- The UTD swings mirrored (a left-handed hitter): the same swings, the same numbers.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import orjson
import pandas as pd
import pytest
from test_realdata_swings import REALDATA as UTD

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.swings import angular_speed_dps
from hitting_coach.evaluate_sets import labelled_wrist_frame, mirror_frames, truth_takes
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import to_messages

CMU = UTD.parent / "cmu-124-mocap"
START_NS = 1_750_000_000_000_000_000


def live_rows(frames: dict[str, pd.DataFrame], device: str, **live_args) -> list[dict]:
    """``frames`` sent as one phone's push messages (0.2 s each, sensors interleaved, in
    random order within a message as Android sends them), polled like the worker thread."""
    hub = Hub()
    live = LiveSwings(hub, **live_args)
    for i, message in enumerate(
        to_messages(frames, device_id=device, session_id="s", shuffle=True)
    ):
        hub.ingest(orjson.dumps(message))
        if i % 2 == 0:
            live.poll()
    live.poll()
    return live.rows(device)


@functools.cache
def cmu(take: str) -> tuple[list[dict], dict]:
    (found,) = [t for t in truth_takes(CMU) if t.name == take]
    truth = json.loads((CMU / "virtual" / take / "truth.json").read_text())
    return live_rows(found.frames, take), truth


def ns(truth: dict, seconds: float) -> int:
    return truth["start_ns"] + round(seconds * 1e9)


def test_both_cmu_swings_are_found_with_their_foot_plant_before_the_pelvis_peak():
    rows, truth = cmu("cmu_124_07")
    counted = [r for r in rows if not (r["practice"] or r["arms_only"] or r["checked"])]
    assert len(rows) == len(counted) == len(truth["swings"]) == 2
    for row, true in zip(counted, truth["swings"], strict=True):
        assert row["placement"] == "pelvis+wrist"
        assert abs(row["pelvis_peak_ns"] - ns(truth, true["pelvis_peak_s"])) <= 10e6
        # foot plant from the stride's end, not the jolt that comes with the rotation peak
        assert row["stride"] is True
        assert abs(row["foot_plant_ns"] - ns(truth, true["foot_plant_kinematic_s"])) <= 40e6
        assert row["foot_plant_ns"] < row["pelvis_peak_ns"]
        assert row["pelvis_peak_after_fp_ms"] > 0
    # the first swing has the clear stride (the lead foot lifts 12 cm): its foot plant is close
    first = counted[0]
    assert (
        abs(first["foot_plant_ns"] - ns(truth, truth["swings"][0]["foot_plant_kinematic_s"]))
        <= 25e6
    )


def test_the_hand_peak_is_the_speed_into_contact_not_the_forearm_rolling_over():
    rows, truth = cmu("cmu_124_07")
    (found,) = [t for t in truth_takes(CMU) if t.name == "cmu_124_07"]
    watch = found.frames["wrist motion"]
    t = watch["time_ns"].to_numpy()
    w = angular_speed_dps(watch[[f"rotationRate{a}" for a in "XYZ"]].to_numpy())
    for row in rows:
        assert row["rollover_ns"] is not None
        assert row["hand_peak_ns"] < row["rollover_ns"]
        # the watch's largest reading in the swing is the roll-over, after the hand peak
        inside = (t >= row["start_ns"]) & (t <= row["end_ns"])
        largest = t[inside][np.argmax(w[inside])]
        assert largest >= row["rollover_ns"]
        assert row["hand_peak_measured_dps"] < 0.85 * w[inside].max()
        assert row["sequence_ok"] and row["peak_gap_ms"] > 0


def test_the_bunt_moves_the_hands_without_turning_the_pelvis_and_is_not_counted():
    rows, truth = cmu("cmu_124_08")
    assert truth["swings"] == []
    assert [r for r in rows if not (r["arms_only"] or r["checked"] or r["practice"])] == []
    assert all(r["pelvis_peak_measured_dps"] < 100 for r in rows)  # the hips stayed still


def speeded(frame: pd.DataFrame, k: float) -> pd.DataFrame:
    """The same motion ``k`` times as fast (under 1: slower), sampled at the same rate."""
    t = frame["time_ns"].to_numpy()
    n = int((len(t) - 1) / k) + 1
    new = t[0] + np.arange(n, dtype=np.int64) * 20_000_000
    src = t[0] + (new - t[0]) * k
    out = {"time_ns": new}
    for c in frame.columns[1:]:
        v = np.interp(src, t, frame[c].to_numpy(float))
        out[c] = v * k if c.startswith("rotationRate") else v
    return pd.DataFrame(out)


def rest(frame: pd.DataFrame, start_ns: int, seconds: float) -> pd.DataFrame:
    """The watch held still (the first reading of ``frame``, no rotation) for ``seconds``."""
    n = round(seconds * 50)
    still = pd.DataFrame([frame.iloc[0]] * n).reset_index(drop=True)
    still["time_ns"] = start_ns + np.arange(n, dtype=np.int64) * 20_000_000
    for a in "XYZ":
        still[f"rotationRate{a}"] = 0.0
    return still


def utd_swings() -> dict[str, float]:
    """The UTD swings' peaks (°/s) from the watch's readings."""
    out = {}
    for path in sorted(UTD.glob("baseball_swing_*.csv")):
        f = labelled_wrist_frame(path, 0)
        out[path.stem] = float(
            angular_speed_dps(f[[f"rotationRate{a}" for a in "XYZ"]].to_numpy()).max()
        )
    return out


def session_of(swings: list[tuple[str, float]], pause_s: float = 5.0) -> pd.DataFrame:
    """UTD swings (name, peak wanted °/s) as one continuous watch recording, the watch held
    still ``pause_s`` before each swing and after the last."""
    peaks = utd_swings()
    parts, now = [], START_NS
    for name, peak in swings:
        frame = speeded(labelled_wrist_frame(UTD / f"{name}.csv", now), peak / peaks[name])
        parts += [rest(frame, now - round(pause_s * 1e9), pause_s), frame]
        now = int(frame["time_ns"].iloc[-1]) + round(pause_s * 1e9) + 20_000_000
    parts.append(rest(parts[-1], now - round(pause_s * 1e9), pause_s))
    return pd.concat(parts, ignore_index=True)


def test_easy_swings_after_hard_ones_are_all_listed_the_slow_ones_at_most_marked_practice():
    peaks = utd_swings()
    names = sorted(peaks)
    # real swings sped up to ~1100 °/s, then eight at 485-611 °/s (as a hitter easing off)
    hard = [(n, 1100.0) for n in names[:3]]
    slow = list(zip(names[3:11], np.linspace(485, 611, 8), strict=True))
    rows = live_rows({"wrist motion": session_of(hard + slow)}, "watch")
    full = [r for r in rows if not r["checked"]]
    assert len(full) == 11, [round(r["hand_peak_measured_dps"]) for r in rows]
    practice = [r["practice"] for r in full]
    assert practice[:3] == [False] * 3
    assert any(practice[3:])  # marked, not lost: listed against the hitter's level
    # the level follows the hitter down: the last slow swings count again
    assert practice[-4:] == [False] * 4
    assert not any(r["arms_only"] for r in rows)


def test_a_new_player_on_a_shared_device_starts_from_a_fresh_level():
    names = sorted(utd_swings())
    hard = [(n, 1100.0) for n in names[:3]]
    session = session_of([*hard, (names[3], 500.0)])
    players = {"watch": "Ana"}
    hub = Hub()
    live = LiveSwings(hub, players=lambda: players)
    for message in to_messages({"wrist motion": session}, device_id="watch", session_id="s"):
        hub.ingest(orjson.dumps(message))
        live.poll()
        if len([r for r in live.rows("watch") if not r["checked"]]) == 3:
            players["watch"] = "Ben"  # the watch changes hands before the slow swing
    rows = [r for r in live.rows("watch") if not r["checked"]]
    assert len(rows) == 4 and not any(r["practice"] for r in rows)
    # the same four swings by one player: the slow one is practice
    rows = [r for r in live_rows({"wrist motion": session}, "watch") if not r["checked"]]
    assert [r["practice"] for r in rows] == [False, False, False, True]


def comparable(row: dict) -> dict:
    keep = ("start_ns", "end_ns", "hand_peak_ns", "rollover_ns", "checked", "practice")
    out = {k: row[k] for k in keep}
    for k in ("hand_peak_dps", "hand_peak_measured_dps", "turn_deg", "vertical_share"):
        out[k] = round(row[k], 6) if not math.isnan(row[k]) else None
    return out


@pytest.mark.parametrize("subject", ["s1", "s2", "s3", "s4"])
def test_the_utd_swings_mirrored_give_the_same_swings_and_numbers(subject):
    for path in sorted(UTD.glob(f"baseball_swing_{subject}_t*.csv")):
        frames = {"wrist motion": labelled_wrist_frame(path, START_NS)}
        right = live_rows(frames, "right")
        left = live_rows(mirror_frames(frames), "left")
        assert len([r for r in right if not r["checked"]]) == 1
        assert [comparable(r) for r in left] == [comparable(r) for r in right]
        # mirrored for real: the rotation about the forearm turns the other way
        assert (
            mirror_frames(frames)["wrist motion"]["rotationRateX"]
            == -frames["wrist motion"]["rotationRateX"]
        ).all()


def test_the_cmu_swings_mirrored_give_the_same_foot_plant_and_peaks():
    (take,) = [t for t in truth_takes(CMU) if t.name == "cmu_124_07"]
    right, _ = cmu("cmu_124_07")
    left = live_rows(mirror_frames(take.frames), "left")
    assert len(left) == len(right) == 2
    for a, b in zip(left, right, strict=True):
        for key in ("foot_plant_ns", "pelvis_peak_ns", "hand_peak_ns", "rollover_ns"):
            assert a[key] == b[key]
        assert a["pelvis_peak_dps"] == pytest.approx(b["pelvis_peak_dps"])
        assert a["vertical_share"] == pytest.approx(b["vertical_share"])
