"""Recording in a real ``hitting-coach serve``: killed mid-stream, stopped mid-stream."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

from hitting_coach.store.journal import read_tail
from hitting_coach.store.sessions import load_session
from support import ROOT, ServerProcess, message, wait_for, xyz_readings

pytestmark = pytest.mark.integration

T0 = (time.time_ns() // 10**9 - 600) * 10**9  # recent: live readings are checked (README)


class Streamer(threading.Thread):
    """Posts messages as fast as the server takes them until stopped or the server dies;
    keeps every message the server acknowledged with 200."""

    def __init__(self, server: ServerProcess, session: str, first_id: int = 0) -> None:
        super().__init__(daemon=True)
        self.server, self.session, self.next_id = server, session, first_id
        self.acked: list[dict] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            k = self.next_id
            t0 = T0 + k * 100_000_000
            payload = xyz_readings("gyroscope", t0, 50, 500, 30.0) + xyz_readings(
                "accelerometer", t0 + 777, 50, 500, 15.0
            )
            doc = message(k, payload, device="bat-phone", session=self.session)
            try:
                code, _ = self.server.post(doc)
            except httpx.HTTPError:  # the server is gone
                return
            if code == 200:
                self.acked.append(doc)
            self.next_id += 1


def expected_times(docs: list[dict], sensor: str) -> np.ndarray:
    return np.array(
        sorted(r["time"] for d in docs for r in d["payload"] if r["name"] == sensor), np.int64
    )


def assert_all_in_session(data_dir, session: str, acked: list[dict]) -> None:
    """Every acknowledged reading is in the session, once, in time order, with its values."""
    loaded = load_session(session, data_dir)
    for sensor in ("gyroscope", "accelerometer"):
        frame = loaded[sensor]
        times = frame["time_ns"].to_numpy()
        assert np.all(np.diff(times) > 0), f"{sensor}: not sorted or duplicated"
        want = expected_times(acked, sensor)
        missing = np.setdiff1d(want, times)
        assert len(missing) == 0, f"{sensor}: {len(missing)} acknowledged readings lost"
        by_time = frame.set_index("time_ns")
        first = acked[-1]["payload"]
        for r in (r for r in first if r["name"] == sensor):
            assert by_time.loc[r["time"], "x"] == r["values"]["x"]


def test_sigkill_while_streaming_loses_nothing_that_was_acknowledged(tmp_path):
    # A short Parquet interval, so the kill finds both converted parts and a journal tail.
    env = {"HITTING_COACH_PARQUET_INTERVAL_S": "0.3"}
    first = ServerProcess(tmp_path, env=env).start()
    streamer = Streamer(first, "killed")
    streamer.start()
    data = tmp_path / "data"
    wait_for(  # streaming, with some of it converted to Parquet already
        lambda: len(streamer.acked) > 50 and any(data.glob("sessions/**/part-*.parquet")),
        30,
        what="acknowledged messages and a Parquet part",
    )
    assert first.kill() == -9
    streamer.join(10)
    assert len(streamer.acked) > 50, first.output()
    # Journal lines reach the OS before the 200, so a killed process loses none of them;
    # only a power cut could lose the last fsync interval (1 s), which we cannot test here.
    assert_all_in_session(data, "killed", streamer.acked)  # readable before any restart

    second = ServerProcess(tmp_path, env=env).start()  # converts what the kill left
    resumed = Streamer(second, "killed", first_id=streamer.next_id + 1)
    resumed.start()
    wait_for(lambda: len(resumed.acked) >= 20, 30, what="messages to the restarted server")
    resumed.halt.set()
    resumed.join(10)
    assert second.stop() == 0, second.output()
    assert read_tail(data).batches == {}  # everything is in Parquet now
    assert_all_in_session(data, "killed", streamer.acked + resumed.acked)


def test_sigterm_while_streaming_stops_cleanly_and_loses_nothing(tmp_path):
    server = ServerProcess(tmp_path).start()
    streamer = Streamer(server, "stopped")
    streamer.start()
    wait_for(lambda: len(streamer.acked) >= 50, 30, what="acknowledged messages")
    assert server.stop() == 0, server.output()  # SIGTERM with messages in flight
    streamer.join(10)
    data = tmp_path / "data"
    assert read_tail(data).batches == {}  # close() converted everything before exiting
    assert_all_in_session(data, "stopped", streamer.acked)


def test_an_unwritable_data_dir_stops_serve_with_one_clear_line(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data directory should be")
    env = {"HITTING_COACH_DATA_DIR": str(blocker / "data")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hitting_coach.cli",
            "serve",
            "--port",
            "0",
            "--address",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**ServerProcess(tmp_path).env, **env},
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        f"hitting-coach: error: cannot use data directory {blocker / 'data'} "
        "(Not a directory); set HITTING_COACH_DATA_DIR to a writable directory"
    ]
