"""Issue 27: video counts against a per-session and a total budget; going over removes the
oldest video first, and never a sensor reading."""

from __future__ import annotations

import time

import pytest

from hitting_coach.store.sessions import load_session
from hitting_coach.store.video import VideoError, VideoStore, read_videos
from support import motion_messages

WEBM = b"\x1a\x45\xdf\xa3"
CHUNK = 3000


def chunk(seq: int) -> bytes:
    body = bytes([seq % 251]) * CHUNK
    return WEBM + body[4:] if seq == 0 else body


def readings(data_dir) -> dict:
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted((data_dir / "sessions").glob("*/*/sensor=*/*"))
    }


def test_over_the_budgets_the_oldest_video_goes_first_and_never_a_reading(tmp_path, record):
    data_dir = tmp_path / "data"
    t0 = time.time_ns() - 600 * 10**9
    record(
        data_dir,
        motion_messages(20, start_ns=t0, device="d", session="old")
        + motion_messages(20, start_ns=t0 + 60 * 10**9, device="d", session="new", first_id=100),
    )
    sensors = readings(data_dir)
    assert len(sensors) >= 4
    store = VideoStore(
        data_dir, session_budget_bytes=10_000, total_budget_bytes=12_000, max_chunk_bytes=CHUNK
    )

    def video(session: str, started_s: int, chunks: int):
        v = store.create("d", session, "video/webm", t0 + started_s * 10**9, {}, {})
        for seq in range(chunks):
            store.append(v.video_id, session, seq, "video/webm", chunk(seq), t0 + seq)
        return v.video_id

    first = video("old", 0, 3)  # 9000 bytes
    second = video("new", 100, 1)  # 12000 in all: at the total budget
    store.append(second, "new", 1, "video/webm", chunk(1), t0)  # over: the oldest goes
    assert store.pruned == [first]
    assert [v.video_id for v in read_videos(data_dir)] == [second]
    third = video("new", 200, 1)  # the session holds 9000 of its 10000
    store.append(third, "new", 1, "video/webm", chunk(1), t0)  # over the session's budget
    assert store.pruned == [first, second]
    # a recording alone over the session's budget is refused, and kept as it was
    store.append(third, "new", 2, "video/webm", chunk(2), t0)
    with pytest.raises(VideoError, match="session video budget") as refused:
        store.append(third, "new", 3, "video/webm", chunk(3), t0)
    assert refused.value.status == 507
    (kept,) = read_videos(data_dir)
    assert (kept.video_id, kept.size, kept.chunks) == (third, 3 * CHUNK, 3)
    assert kept.file.stat().st_size == 3 * CHUNK
    # not one sensor reading was touched
    assert readings(data_dir) == sensors
    for session in ("old", "new"):  # "new" still has a video folder beside its sensors
        assert len(load_session(("d", session), data_dir).frames["gyroscope"]) == 20 * 20


def test_export_holds_the_video_unless_asked_not_to_and_delete_removes_it(tmp_path, record):
    import io
    import zipfile

    from hitting_coach.store.exports import ExportStream, import_export
    from hitting_coach.store.session_admin import delete_session

    data_dir = tmp_path / "data"
    t0 = time.time_ns() - 600 * 10**9
    record(data_dir, motion_messages(10, start_ns=t0, device="d", session="s"))
    store = VideoStore(
        data_dir, session_budget_bytes=10**6, total_budget_bytes=10**6, max_chunk_bytes=CHUNK
    )
    v = store.create("d", "s", "video/webm;codecs=vp8", t0, {"offset_ms": 1.0}, {})
    for seq in range(3):
        store.append(v.video_id, "s", seq, "video/webm", chunk(seq), t0 + seq)
    recorded = v.file.read_bytes()

    def export(**kw) -> zipfile.ZipFile:
        with ExportStream(data_dir, "d", "s", chunk_bytes=1000, limit=1, **kw) as stream:
            return zipfile.ZipFile(io.BytesIO(b"".join(stream)))

    with_video = export()
    assert with_video.read(f"video/{v.video_id}/video.webm") == recorded
    assert b'"offset_ms"' in with_video.read(f"video/{v.video_id}/meta.json")
    assert len(with_video.read(f"video/{v.video_id}/chunks.jsonl").splitlines()) == 3
    without = export(video=False)
    assert not [n for n in without.namelist() if n.startswith("video/")]
    assert sorted(without.namelist()) == sorted(
        n for n in with_video.namelist() if not n.startswith("video/")
    )
    # the export with its video still imports (the video is left out of the readings)
    (tmp_path / "export.zip").write_bytes(b"".join(ExportStream(data_dir, "d", "s", limit=1)))
    imported = import_export(tmp_path / "export.zip", tmp_path / "other")
    assert imported.counts == {"accelerometer": 200, "gyroscope": 200}
    # deleting the session deletes its video
    delete_session(data_dir, "d", "s")
    assert not v.path.exists() and read_videos(data_dir) == []
    assert store.find(v.video_id) is None


def test_the_sessions_page_export_leaves_the_video_out_when_the_form_says_video_0(tmp_path):
    import io
    import zipfile

    import httpx

    from hitting_coach.store.layout import session_dir
    from support import post, serve_runtimes, wait_for

    served = serve_runtimes(tmp_path / "data")
    start = next(served)
    try:
        runtime, url = start(parquet_interval_s=0.1)
        t0 = time.time_ns() - 60 * 10**9
        for doc in motion_messages(3, start_ns=t0, device="d", session="s"):
            assert post(url + "/data", doc)[0] == 200
        data_dir = runtime.settings.data_path
        wait_for(lambda: session_dir(data_dir, "d", "s").is_dir(), 10, what="the session")
        store = VideoStore(
            data_dir, session_budget_bytes=10**6, total_budget_bytes=10**6, max_chunk_bytes=CHUNK
        )
        v = store.create("d", "s", "video/webm", t0, {}, {})
        store.append(v.video_id, "s", 0, "video/webm", chunk(0), t0)

        def names(**form: str) -> list[str]:
            answer = httpx.post(
                url + "/session_export.zip", data={"device": "d", "session": "s", **form}
            )
            assert answer.status_code == 200, answer.text
            return zipfile.ZipFile(io.BytesIO(answer.content)).namelist()

        assert f"video/{v.video_id}/video.webm" in names()
        assert not [n for n in names(video="0") if n.startswith("video/")]
    finally:
        served.close()


def test_each_live_swing_gets_its_clip_and_a_swing_marked_not_a_swing_loses_it(tmp_path):
    from hitting_coach.sim.devices import SwingSpec
    from hitting_coach.sim.simulate import simulate
    from support import get_json, post, serve_runtimes, wait_for

    served = serve_runtimes(tmp_path / "data")
    start = next(served)
    try:
        runtime, url = start()
        t0 = time.time_ns() - 60 * 10**9
        sim = simulate(
            "pelvis+wrist",
            duration_s=20.0,
            swings=[SwingSpec(4.0), SwingSpec(10.0), SwingSpec(16.0)],
            rate_hz=100,
            seed=4,
            start_ns=t0,
        )
        for doc in sim.messages(device_id="d", session_id="s"):
            assert post(url + "/data", doc)[0] == 200
        wait_for(lambda: len(runtime.live_swings("d")) == 3, 30, what="three live swings")
        # a camera recording from 1 s into the take to its end
        store = VideoStore(
            runtime.settings.data_path,
            session_budget_bytes=10**6,
            total_budget_bytes=10**6,
            max_chunk_bytes=CHUNK,
        )
        v = store.create("d", "s", "video/webm", t0 + 10**9, {}, {})
        store.append(v.video_id, "s", 0, "video/webm", chunk(0), t0 + 20 * 10**9)

        def clips() -> dict[int, dict]:
            doc = get_json(f"{url}/clips.json?device=d")
            assert (doc["before_s"], doc["after_s"]) == (1.5, 1.0)
            return {s["swing"]: s for s in doc["swings"]}

        swings = clips()
        assert sorted(swings) == [1, 2, 3]
        for number, swing in swings.items():
            clip = swing["clip"]
            peak_s = (swing["peak_ns"] - (t0 + 10**9)) / 1e9
            assert clip["peak_s"] == pytest.approx(peak_s, abs=0.001)
            assert (clip["start_s"], clip["end_s"]) == pytest.approx(
                (peak_s - 1.5, peak_s + 1.0), abs=0.001
            )
            assert clip["video"] == f"video/{v.video_id}?upto={CHUNK}"
            assert 0 < clip["marks"]["pelvis"] < clip["marks"]["hand"] <= peak_s + 0.001
            assert clip["start_s"] == pytest.approx(3.0 + 6.0 * (number - 1) - 1.5, abs=0.5)
        runtime.marked_swings.mark_not_swing("d", 2)
        assert sorted(clips()) == [1, 3]  # as on the dashboard: the others keep their numbers
        assert clips()[3]["peak_ns"] == swings[3]["peak_ns"]
        # a swing before the video started has no clip
        before = store.create("d", "s", "video/webm", t0 + 9 * 10**9, {}, {})
        store.append(before.video_id, "s", 0, "video/webm", chunk(0), t0 + 20 * 10**9)
        assert clips()[1]["clip"]["video_id"] == v.video_id  # the video that shows it
        store.remove(v, "test")
        assert clips()[1]["clip"] is None and clips()[3]["clip"]["video_id"] == before.video_id
    finally:
        served.close()
