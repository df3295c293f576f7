"""The recorder when things go wrong (issue 11): a session that cannot be converted, a journal
that cannot be written, a restart after a kill, a journal that would grow forever."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orjson
import pytest

from hitting_coach.config import Settings
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.parse import Batch, Message
from hitting_coach.runtime import Runtime
from hitting_coach.store import journal as journal_module
from hitting_coach.store.journal import read_checkpoint, read_tail, segments
from hitting_coach.store.recorder import DUPLICATE_WINDOW_S, Recorder
from hitting_coach.store.retention import prune_journal, verify_segment
from hitting_coach.store.sessions import list_sessions, load_session
from support import ROOT, InProcessServer, motion_messages, post, wait_for

T0 = 1_700_000_000_000_000_000


def parts(data_dir, device: str = "") -> list:
    return sorted((data_dir / "sessions").glob(f"device={device}*/*/*/*.parquet"))


def counts(data_dir) -> dict[str, int]:
    table = list_sessions(data_dir)
    return dict(zip(table["session_id"], table["readings"], strict=True))


# ------------------------------------------------------------------------ item 4: isolation
def test_a_session_that_cannot_be_converted_blocks_no_other_and_loses_nothing(tmp_path):
    good = motion_messages(20, start_ns=T0, device="phone-1", session="good")
    bad = motion_messages(10, start_ns=T0, device="phone-2", session="bad")
    # phone-2's session directory cannot be made (a file is in its place), as a name the
    # file system refuses or a column Arrow cannot write would make it fail.
    blocker = tmp_path / "sessions" / "device=phone-2"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for a, b in zip(good[:10], bad, strict=True):
            hub.ingest(orjson.dumps(a))
            hub.ingest(orjson.dumps(b))
        recorder.flush()
        for doc in good[10:]:  # written after the failure, into the same journal segment
            hub.ingest(orjson.dumps(doc))
        recorder.flush()
        status = recorder.status()
        assert "'phone-2'/'bad'" in status["parquet_error"]
        assert "journal" in status["parquet_error"]
        # Everything of phone-1 is in Parquet; phone-2 is read from the journal.
        assert set(read_tail(tmp_path).batches) == {("phone-2", "bad")}
        assert len(parts(tmp_path, "phone-1")) == 4
    finally:
        recorder.close()
    expected = {"good": 800, "bad": 400}
    assert counts(tmp_path) == expected

    for _ in range(2):  # restarts: the failure is tried again, nothing is deleted or doubled
        with Recorder(tmp_path) as again:
            again.flush()  # after its start-up conversion
            assert "'phone-2'/'bad'" in again.status()["parquet_error"]
        assert counts(tmp_path) == expected
        assert read_tail(tmp_path).batches.keys() == {("phone-2", "bad")}
        assert len(load_session("good", tmp_path)["gyroscope"]) == 400
        assert len(load_session("bad", tmp_path)["gyroscope"]) == 200

    blocker.unlink()  # fixed: the next start converts phone-2 too
    with Recorder(tmp_path):
        pass
    assert read_tail(tmp_path).batches == {}
    assert counts(tmp_path) == expected
    assert len(load_session("bad", tmp_path)["accelerometer"]) == 200


@pytest.mark.parametrize(
    ("device", "values", "error"),
    [
        ("phone-9", {"x": [1.0, 2.0], "time_ns": [5.0, 6.0]}, "a value named 'time_ns'"),
        ("d" * 300, {"x": [1.0, 2.0]}, "File name too long"),
    ],
    ids=["time_ns-value", "long-device-id"],
)
def test_a_session_the_store_cannot_take_fails_alone(tmp_path, device, values, error):
    # The parser refuses both (reserved key, name length); the store must not depend on it.
    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for doc in motion_messages(5, start_ns=T0, device="phone-1", session="good"):
            hub.ingest(orjson.dumps(doc))
        times = np.array([T0, T0 + 10**7], np.int64)
        arrays = {k: np.array(v) for k, v in values.items()}
        poison = Message(device, "poison", 1, {"gyroscope": Batch("gyroscope", times, arrays)})
        raw = orjson.dumps({"messageId": 1, "sessionId": "poison", "deviceId": device})
        recorder.append(poison, raw, "http", time.time_ns())
        later = motion_messages(5, start_ns=T0 + 10**9, session="good", first_id=5)
        for doc in later:
            hub.ingest(orjson.dumps(doc))
        recorder.flush()
        assert error in recorder.status()["parquet_error"]
        assert parts(tmp_path, device[:8]) == []
    finally:
        recorder.close()
    (segment,) = segments(tmp_path)
    assert read_checkpoint(segment) == segment.stat().st_size  # the others moved on
    assert counts(tmp_path)["good"] == 400
    with Recorder(tmp_path):  # a restart: the others' parts stay
        pass
    assert counts(tmp_path)["good"] == 400
    assert len(load_session("good", tmp_path)["gyroscope"]) == 200


def test_parts_a_crash_left_are_replaced_not_deleted_first_and_not_counted_twice(tmp_path):
    with Recorder(tmp_path, parquet_interval_s=3600) as recorder:
        hub = Hub(sink=recorder)
        for doc in motion_messages(10, start_ns=T0):
            hub.ingest(orjson.dumps(doc))
        recorder.flush()
        for doc in motion_messages(10, start_ns=T0 + 2 * 10**9, first_id=10):
            hub.ingest(orjson.dumps(doc))
    (segment,) = segments(tmp_path)
    # A crash after the parts were written, before the checkpoint moved: parts past it.
    segment.with_suffix(".done").write_text("0\n")
    assert counts(tmp_path) == {"session-1": 800}  # no double count while it waits
    with Recorder(tmp_path):
        pass
    assert counts(tmp_path) == {"session-1": 800}
    assert len(load_session("session-1", tmp_path)["gyroscope"]) == 400


# ----------------------------------------------------------- item 5: acknowledge only durable
def _fill_disk(recorder: Recorder) -> None:
    """Every journal write now fails with ENOSPC (tests run as root: permissions do not)."""
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, recorder.journal.fileno())
    os.close(full)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A Runtime (hub + recorder) behind our tornado routes in this process."""
    monkeypatch.setattr(journal_module, "_REOPEN_EVERY_S", 0.0)  # retry on a fresh segment
    settings = Settings.load(environ={}, env_file=None).replace(
        data_dir=str(tmp_path / "data"), address="127.0.0.1"
    )
    runtime = Runtime(settings).start()
    server = InProcessServer(runtime)
    yield runtime, f"{server.url}/data"
    server.stop()
    runtime.stop()


def test_a_post_the_journal_cannot_take_is_answered_503_and_its_retry_is_recorded(server):
    runtime, url = server
    docs = motion_messages(3)
    assert post(url, docs[0])[0] == 200
    _fill_disk(runtime.recorder)
    code, body = post(url, docs[1])
    assert code == 503, body
    assert "No space left on device" in orjson.loads(body)["error"]
    status = runtime.status()["recording"]
    assert status["ok"] is False and status["failures"] == 1
    assert runtime.hub.status()["readings"] == 40  # not shown either: the retry will be
    # The app sends it again; the disk has room again (a fresh segment): recorded, once.
    code, body = post(url, docs[1])
    assert (code, orjson.loads(body)["duplicate"]) == (200, False)
    assert post(url, docs[2])[0] == 200
    assert runtime.status()["recording"]["ok"] is True
    runtime.recorder.flush()
    session = load_session("session-1", runtime.settings.data_path)
    assert len(session["gyroscope"]) == 60  # every message once
    assert len(np.unique(session["gyroscope"]["time_ns"])) == 60


@pytest.mark.integration
def test_an_mqtt_message_the_journal_cannot_take_is_not_acknowledged_and_comes_again(
    mosquitto, tmp_path, monkeypatch
):
    from hitting_coach.ingest.mqtt_consumer import MqttConsumer

    monkeypatch.setattr(journal_module, "_REOPEN_EVERY_S", 3600.0)  # stays failed until told
    recorder = Recorder(tmp_path / "data")
    hub = Hub(sink=recorder)
    recorder.open()
    consumer = MqttConsumer(mosquitto.settings(), hub).start()
    publisher = mosquitto.publisher(transport="tcp").wait_connected()
    try:
        assert consumer.wait_subscribed(15)
        docs = motion_messages(2)
        publisher.publish(docs[0])
        wait_for(lambda: hub.status()["messages"] == 1, what="the first message")
        _fill_disk(recorder)
        publisher.publish(docs[1])
        wait_for(lambda: hub.status()["recording"]["failures"] >= 1, what="the failure")
        assert hub.status()["messages"] == 1
        recorder.journal._torn, recorder.journal._failed_at = True, 0.0
        monkeypatch.setattr(journal_module, "_REOPEN_EVERY_S", 0.0)  # the disk has room again
        # Not acknowledged, so the broker sends it again when the consumer reconnects.
        wait_for(lambda: hub.status()["messages"] == 2, timeout=30, what="the redelivery")
    finally:
        publisher.close()
        consumer.stop()
        recorder.close()
    assert hub.status()["recording"]["ok"] is True
    assert len(load_session("session-1", tmp_path / "data")["gyroscope"]) == 40


# ------------------------------------------------------------ item 13: duplicates after a kill
KILLED = """
import sys, time, orjson
sys.path.insert(0, {tests!r})
from hitting_coach.ingest.hub import Hub
from hitting_coach.store.recorder import Recorder
from support import motion_messages
recorder = Recorder({data!r}, parquet_interval_s=3600)
hub = Hub(sink=recorder)
recorder.open()
for doc in motion_messages({count}, rate_hz=500, first_id=0):
    hub.ingest(orjson.dumps(doc))
print("journaled", flush=True)
time.sleep(3600)
"""


@pytest.mark.integration
def test_a_message_journaled_long_before_a_kill_is_still_a_duplicate_after_it(tmp_path):
    data = tmp_path / "data"
    count = 4000  # 100 readings each: about 60 MB of journal
    script = KILLED.format(tests=str(ROOT / "tests"), data=str(data), count=count)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == b"journaled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.stdout.close()
        assert proc.wait(30) == -signal.SIGKILL
    (segment,) = segments(data)
    assert segment.stat().st_size > 48 << 20
    recorder = Recorder(data)
    hub = Hub(sink=recorder)
    for key in recorder.open():
        hub.remember(key)
    try:
        for first in (0, count // 2, count - 1):  # early, middle, last: sent again
            (doc,) = motion_messages(1, rate_hz=500, first_id=first)
            assert hub.ingest(orjson.dumps(doc)).duplicate, first
        (new,) = motion_messages(1, rate_hz=500, first_id=count)
        assert not hub.ingest(orjson.dumps(new)).duplicate
    finally:
        recorder.close()


# ------------------------------------------------------------------ item 16: journal retention
def test_journal_segments_are_removed_once_verified_in_parquet(tmp_path, monkeypatch):
    for session in ("a", "b"):  # two runs of the server: two segments
        with Recorder(tmp_path) as recorder:
            hub = Hub(sink=recorder)
            for doc in motion_messages(10, start_ns=T0, session=session):
                hub.ingest(orjson.dumps(doc))
    first, second = segments(tmp_path)
    # The second run's Parquet lost a part: its segment must stay.
    (lost,) = (tmp_path / "sessions").glob("device=phone-1/session=b/sensor=gyroscope/*")
    lost.rename(tmp_path / "elsewhere.parquet")
    counters: collections.Counter[str] = collections.Counter()
    assert prune_journal(tmp_path, None, DUPLICATE_WINDOW_S, counters) == []  # too recent
    assert prune_journal(tmp_path, None, 0, counters) == [first]
    assert segments(tmp_path) == [second]  # kept: 200 of its readings are in no part
    assert verify_segment(tmp_path, second) == 200
    assert not first.with_suffix(".done").exists()
    assert counters["journal_unverified"] == 1
    assert len(load_session("a", tmp_path)["gyroscope"]) == 200  # from Parquet alone


def test_the_server_prunes_its_journal_on_its_own(tmp_path):
    with Recorder(tmp_path) as recorder:
        hub = Hub(sink=recorder)
        for doc in motion_messages(10, start_ns=T0, session="old"):
            hub.ingest(orjson.dumps(doc))
    (old,) = segments(tmp_path)
    long_ago = time.time() - DUPLICATE_WINDOW_S - 60
    os.utime(old, (long_ago, long_ago))
    recorder = Recorder(tmp_path, parquet_interval_s=0.1, journal_retention_s=0)
    recorder.open()
    try:
        hub = Hub(sink=recorder)
        hub.ingest(orjson.dumps(motion_messages(1, start_ns=T0, session="new")[0]))
        wait_for(lambda: not old.exists(), what="the verified segment to be removed")
        assert recorder.status()["journal_segments_removed"] == 1
    finally:
        recorder.close()
    assert counts(tmp_path) == {"old": 400, "new": 40}


def test_a_full_disk_while_converting_is_retried_without_doubles(tmp_path, monkeypatch):
    import errno

    from hitting_coach.store import parts as parts_module

    real, calls = parts_module.write_table, []

    def full_on_the_second_part(path, table):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, table)

    recorder = Recorder(tmp_path, parquet_interval_s=3600)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for doc in motion_messages(10, start_ns=T0):
            hub.ingest(orjson.dumps(doc))
        monkeypatch.setattr(parts_module, "write_table", full_on_the_second_part)
        recorder.flush()
        assert "No space left on device" in recorder.status()["parquet_error"]
        assert parts(tmp_path) == []  # the first part of the attempt is gone again
        assert counts(tmp_path) == {"session-1": 400}  # read from the journal meanwhile
        monkeypatch.setattr(parts_module, "write_table", real)
        for doc in motion_messages(5, start_ns=T0 + 2 * 10**9, first_id=10):
            hub.ingest(orjson.dumps(doc))
        recorder.flush()  # the retry takes what waited and what came since
        assert recorder.status()["parquet_error"] is None
        assert len(parts(tmp_path)) == 2 and read_tail(tmp_path).batches == {}
    finally:
        recorder.close()
    assert counts(tmp_path) == {"session-1": 600}
