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
    assert (
        [r["swing"] for r in rows]
        == list(range(1, len(rows) + 1))
        == list(batch["swing"])[: len(rows)]
    )


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


def test_a_devices_new_session_restarts_at_swing_1_as_its_report_does(tmp_path):
    """Live numbers count per session: the device's second session (same server run) starts
    again at #1, its swings named with their session; a swing the coach adds is numbered
    after the last detected one of its session (not None)."""
    from hitting_coach.analysis.corrections import MarkedLiveSwings
    from hitting_coach.store.marks import new_mark, save_mark

    first = simulate("pelvis+wrist", duration_s=20.0, rate_hz=100, seed=5)
    second = simulate(
        "pelvis+wrist", duration_s=20.0, rate_hz=100, seed=6, start_ns=first.start_ns + 30 * 10**9
    )
    hub = Hub()
    current = {"d": "s-1"}
    live = LiveSwings(hub, session_of=current.get)
    marked = MarkedLiveSwings(live, tmp_path, current.get)
    for k, message in enumerate(first.messages(device_id="d", session_id="s-1")):
        hub.ingest(orjson.dumps(message))
        if k % 3 == 0:
            live.poll()
    live.poll()
    n1 = len(live.rows("d"))
    assert n1 >= 2
    current["d"] = "s-2"
    for k, message in enumerate(second.messages(device_id="d", session_id="s-2")):
        hub.ingest(orjson.dumps(message))
        if k % 3 == 0:
            live.poll()
    live.poll()
    rows = live.rows("d")
    numbers = [(r["session_id"], r["swing"]) for r in rows]
    n2 = len(rows) - n1
    assert n2 >= 2
    assert numbers == [("s-1", i) for i in range(1, n1 + 1)] + [
        ("s-2", i) for i in range(1, n2 + 1)
    ]
    assert [r["swing"] for r in rows[n1:]] == list(swings(second.frames)["swing"])[:n2]
    # the coach adds a swing to the first session, after its last swing
    quiet = int(first.frames["gyroscope"]["time_ns"].iloc[-1]) - 200_000_000
    save_mark(tmp_path, "d", "s-1", new_mark("add_swing", quiet, source="test"))
    listed = marked.rows("d")
    added = [r for r in listed if r["added_by_coach"]]
    assert [(r["session_id"], r["swing"]) for r in added] == [("s-1", n1 + 1)]
    # "not a swing" on #1 of the current session marks that one, not the first session's #1
    mark = marked.mark_not_swing("d", 1)
    after = [(r["session_id"], r["swing"]) for r in marked.rows("d") if not r["added_by_coach"]]
    assert ("s-2", 1) not in after and ("s-1", 1) in after
    assert mark.time_ns >= second.start_ns


def test_a_server_restarted_mid_session_numbers_on_from_what_it_recorded(tmp_path):
    """The server stops after the session's first swings and starts again while the phone
    keeps sending the same session: the next swing is numbered after the recorded ones, as
    the session's report numbers it (it was #1 again)."""
    from functools import partial

    from hitting_coach.analysis.corrections import stored_swing_count
    from hitting_coach.store.recorder import Recorder

    sim = simulate("pelvis+wrist", duration_s=20.0, rate_hz=100, seed=5)
    messages = list(sim.messages(device_id="d", session_id="s"))
    report = list(swings(sim.frames)["swing"])
    assert report == [1, 2, 3]
    cut = int(sim.truth["end_ns"].iloc[1]) + 1_000_000_000  # after the second swing
    data = tmp_path / "data"

    def run(part: list[dict]) -> list[int]:
        recorder = Recorder(data)
        hub = Hub(sink=recorder)
        recorder.open()
        live = LiveSwings(
            hub, session_of={"d": "s"}.get, stored_swings=partial(stored_swing_count, data)
        )
        try:
            for k, message in enumerate(part):
                hub.ingest(orjson.dumps(message), source="replay")
                if k % 3 == 0:
                    live.poll()
            live.poll()
        finally:
            recorder.close()
        return [r["swing"] for r in live.rows("d")]

    def first_time(message: dict) -> int:
        return min(int(r["time"]) for r in message["payload"])

    before = run([m for m in messages if first_time(m) < cut])
    after = run([m for m in messages if first_time(m) >= cut])
    assert before == [1, 2]
    assert after == [3]
