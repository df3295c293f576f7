from __future__ import annotations

import threading

import orjson
import pytest

from hitting_coach.errors import MessageError, RecordingError
from hitting_coach.ingest.hub import Hub
from support import message, motion_messages, xyz_readings

T0 = 1_700_000_000_000_000_000


def raw(doc) -> bytes:
    return orjson.dumps(doc)


def test_duplicates_are_dropped_and_counted():
    hub = Hub()
    doc = motion_messages(1, start_ns=T0)[0]
    assert hub.ingest(raw(doc)).readings == 40
    again = hub.ingest(raw(doc))
    assert again.duplicate and again.readings == 0
    assert hub.status()["duplicates"] == 1 and hub.status()["readings"] == 40
    assert len(hub.frame("phone-1", "gyroscope")) == 20
    # same messageId in another session is a different message
    hub.ingest(raw(dict(doc, sessionId="other")))
    assert hub.status()["messages"] == 2


def test_out_of_order_messages_read_back_in_time_order():
    hub = Hub()
    docs = motion_messages(6, start_ns=T0)
    for doc in reversed(docs):
        hub.ingest(raw(doc))
    t = hub.frame("phone-1", "accelerometer")["time_ns"]
    assert t.is_monotonic_increasing and len(t) == 120


def test_readers_get_only_what_is_new_with_their_own_cursor():
    hub = Hub()
    docs = motion_messages(4, start_ns=T0)
    hub.ingest(raw(docs[0]))
    a = hub.reader("phone-1", "gyroscope", backlog=5)
    b = hub.reader("phone-1", "gyroscope")
    assert len(a.read()) == 5 and len(b.read()) == 0
    hub.ingest(raw(docs[1]))
    assert len(a.read()) == 20
    hub.ingest(raw(docs[2]))
    assert len(a.read()) == 20 and len(b.read()) == 40
    assert len(a.read()) == 0


def test_a_slow_reader_learns_what_it_missed():
    hub = Hub(capacity=50)
    r = hub.reader("phone-1", "gyroscope")
    for doc in motion_messages(5, start_ns=T0):
        hub.ingest(raw(doc))
    frame = r.read()
    assert len(frame) == 50 and r.missed == 50
    assert frame["time_ns"].iloc[-1] == hub.frame("phone-1", "gyroscope")["time_ns"].iloc[-1]


def test_a_rejection_changes_nothing_accepted():
    hub = Hub(max_message_bytes=8000)
    hub.ingest(raw(motion_messages(1, start_ns=T0)[0]))
    before = hub.frame("phone-1", "gyroscope")
    status = hub.status()
    bad = message(9, xyz_readings("gyroscope", T0, 3, 100) + [{"name": "gyroscope", "time": "x"}])
    with pytest.raises(MessageError, match=r"payload\[\d\]\.time"):
        hub.ingest(raw(bad))
    with pytest.raises(MessageError, match="over the limit of 8000"):
        hub.ingest(b" " * 8001)
    after = hub.status()
    assert after["rejected_by_reason"] == {"bad_reading": 1, "too_large": 1}
    for key in ("messages", "readings", "duplicates"):
        assert after[key] == status[key]
    assert hub.frame("phone-1", "gyroscope").equals(before)
    # the rejected message was not remembered: a corrected one with its id is accepted
    assert not hub.ingest(raw(message(9, xyz_readings("gyroscope", T0, 3, 100)))).duplicate


def test_recorder_sees_every_message_first_and_what_it_cannot_record_is_refused():
    seen = []

    class Sink:
        fail = False

        def append(self, message, raw, source, received_ns):
            # called before the message is counted or shown (the hub lock is held: no reads)
            assert hub.counters["messages"] == len(seen)
            if self.fail:
                raise RecordingError("disk full")
            seen.append((message.key, source))

    sink = Sink()
    hub = Hub(sink=sink)
    docs = motion_messages(3, start_ns=T0)
    hub.ingest(raw(docs[0]), source="mqtt")
    assert seen == [(("phone-1", "session-1", 0), "mqtt")]
    sink.fail = True
    with pytest.raises(RecordingError, match="disk full"):
        hub.ingest(raw(docs[1]))
    rec = hub.status()["recording"]
    assert rec == {"enabled": True, "ok": False, "failures": 1, "error": "disk full"}
    assert len(hub.frame("phone-1", "gyroscope")) == 20  # not shown, not remembered
    sink.fail = False
    assert not hub.ingest(raw(docs[1])).duplicate  # the sender's retry is recorded
    assert hub.status()["recording"]["ok"] and len(hub.frame("phone-1", "gyroscope")) == 40


def test_concurrent_producers_lose_nothing():
    hub = Hub()
    docs = motion_messages(400, start_ns=T0)

    def produce(part):
        for doc in part:
            hub.ingest(raw(doc), source="mqtt" if part is a else "http")

    a, b = docs[::2], docs[1::2]
    threads = [threading.Thread(target=produce, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = hub.status()
    assert s["messages"] == 400 and s["readings"] == 400 * 40
    assert s["messages_by_source"] == {"mqtt": 200, "http": 200}
    assert len(hub.frame("phone-1", "accelerometer")) == 8000


def test_subscriber_errors_are_counted_not_raised():
    hub = Hub()
    got = []
    hub.subscribe(lambda m: got.append(m.message_id))
    hub.subscribe(lambda m: 1 / 0)
    hub.ingest(raw(motion_messages(1, start_ns=T0)[0]))
    assert got == [0] and hub.status()["subscriber_errors"] == 1


def test_devices_and_status_rates():
    hub = Hub()
    for doc in motion_messages(3, start_ns=T0, rate_hz=200, device="watch"):
        hub.ingest(raw(doc))
    hub.ingest(raw(motion_messages(1, start_ns=T0, device="bat")[0]))
    assert hub.devices() == ["watch", "bat"]
    status = hub.status()
    assert status["devices"]["watch"]["gyroscope"]["rate_hz"] == pytest.approx(200, rel=0.01)
    assert status["last_message_age_s"] < 5
