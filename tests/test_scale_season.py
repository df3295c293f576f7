"""The season table: every session's swings as Hive-partitioned Parquet, rebuilt when marks or
the detector change, asked the same question by DuckDB and by a local Dask cluster."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from hitting_coach.analysis import season
from hitting_coach.analysis.corrections import session_swings
from hitting_coach.analysis.swing_metrics import counted_swings
from hitting_coach.errors import SessionError
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.marks import new_mark, save_mark, swing_time_ns
from hitting_coach.store.recorder import Recorder
from hitting_coach.store.session_admin import delete_session

DAY_NS = 86_400 * 10**9
MONDAY_NS = 1_779_667_200 * 10**9  # 2026-05-25 00:00 UTC, a Monday
#: (device, session, day): two players, three weeks, two sessions in one week
SESSIONS = [("phone-1", "s0", 0), ("phone-1", "s1", 1), ("phone-1", "s2", 8), ("phone-2", "s3", 2)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data = tmp_path_factory.mktemp("season") / "data"
    recorder = Recorder(data)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for i, (device, session, day) in enumerate(SESSIONS):
            sim = simulate(
                "pelvis+wrist", duration_s=30, rate_hz=100, seed=i,
                start_ns=MONDAY_NS + day * DAY_NS + 9 * 3600 * 10**9,
            )  # fmt: skip
            for m in sim.messages(session_id=session, device_id=device):
                hub.ingest(orjson.dumps(m), source="replay")
    finally:
        recorder.close()
    return data


def _by_hand(data, metric="hand_peak_dps") -> pd.DataFrame:
    """The same question, answered from the swing tables themselves with pandas."""
    rows = []
    for device, session, _ in SESSIONS:
        try:
            counted = counted_swings(session_swings((device, session), data))
        except SessionError:
            continue  # deleted
        for _, swing in counted.iterrows():
            start = pd.Timestamp(int(swing["start_ns"]), unit="ns", tz="UTC")
            week = (start.normalize() - pd.Timedelta(days=start.day_of_week)).date()
            rows.append({"device_id": device, "week": week, "value": swing[metric]})
    frame = pd.DataFrame(rows)
    out = frame.groupby(["device_id", "week"])["value"].agg(["size", "median"]).reset_index()
    return out.rename(columns={"size": "swings"})


@pytest.mark.integration
def test_duckdb_and_dask_give_the_same_answer_as_the_swing_tables(store):
    from distributed import Client, LocalCluster

    done = season.build_season(store)
    assert (done.built, done.kept, done.problems) == (4, 0, {})
    duck = season.weekly_medians("hand_peak_dps", data_dir=store)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dask = season.weekly_medians(
            "hand_peak_dps", data_dir=store, engine="dask", scheduler=client
        )
    pd.testing.assert_frame_equal(duck, dask)
    expected = _by_hand(store)
    assert list(duck["week"].astype(str)) == ["2026-05-25", "2026-06-01", "2026-05-25"]
    assert list(duck["swings"]) == list(expected["swings"])
    assert list(duck["median"]) == pytest.approx(list(expected["median"]))
    # a player's trend: one device's weeks
    one = season.weekly_medians("hand_peak_dps", data_dir=store, device="phone-2", engine="dask")
    pd.testing.assert_frame_equal(one, duck[duck["device_id"] == "phone-2"].reset_index(drop=True))


def test_rebuilt_when_marks_or_the_detector_change_and_deleted_sessions_go(store, monkeypatch):
    season.build_season(store)
    again = season.build_season(store)
    assert (again.built, again.kept) == (0, 4)
    before = season.weekly_medians("hand_peak_dps", data_dir=store, device="phone-2")

    first = counted_swings(session_swings(("phone-2", "s3"), store)).iloc[0]
    save_mark(store, "phone-2", "s3", new_mark("not_swing", swing_time_ns(first)))
    changed = season.build_season(store)
    assert (changed.built, changed.kept) == (1, 3)
    after = season.weekly_medians("hand_peak_dps", data_dir=store, device="phone-2", engine="dask")
    assert after["swings"].iloc[0] == before["swings"].iloc[0] - 1

    monkeypatch.setattr(season, "detector_version", lambda: "another detector")
    assert season.build_season(store).built == 4

    delete_session(store, "phone-1", "s2")
    gone = season.build_season(store)
    assert gone.removed == 1
    weeks = season.weekly_medians("hand_peak_dps", data_dir=store, device="phone-1")
    assert list(weeks["week"].astype(str)) == ["2026-05-25"]
    pd.testing.assert_frame_equal(
        season.weekly_medians("hand_peak_dps", data_dir=store, engine="duckdb"),
        season.weekly_medians("hand_peak_dps", data_dir=store, engine="dask"),
    )


def test_bad_questions_are_refused_clearly(store, tmp_path):
    with pytest.raises(ValueError, match="metric 'speed'"):
        season.weekly_medians("speed", data_dir=store)
    with pytest.raises(ValueError, match="engine 'spark'"):
        season.weekly_medians(data_dir=store, engine="spark")
    with pytest.raises(SessionError, match="hitting-coach season build"):
        season.weekly_medians(data_dir=tmp_path)


def test_season_command(store, tmp_path, capsys):
    from hitting_coach.cli import main

    env = tmp_path / "none.env"
    assert main(["--env-file", str(env), "season", "build", "--data-dir", str(store)]) == 0
    assert "sessions written" in capsys.readouterr().out
    args = ["--env-file", str(env), "season", "medians", "--data-dir", str(store)]
    assert main([*args, "--engine", "dask", "--device", "phone-2"]) == 0
    out = capsys.readouterr().out
    assert "phone-2" in out and "phone-1" not in out
    assert main([*args, "--metric", "nope"]) == 1
    assert "metric 'nope'" in capsys.readouterr().err


def test_a_notebook_asks_the_configured_store(store, monkeypatch):
    import hitting_coach

    monkeypatch.setenv("HITTING_COACH_DATA_DIR", str(store))
    pd.testing.assert_frame_equal(
        hitting_coach.weekly_medians("bat_speed_mph", device="phone-1"),
        season.weekly_medians("bat_speed_mph", data_dir=store, device="phone-1"),
    )
