"""Issue 29, finding 5: deleting a session removes its data. Its lines in journal segments no
longer count as pending or as missing from Parquet, so a segment whose only unconverted or
unverified lines are a deleted session's is pruned; the deleted readings never come back
(not from the journal, not at a restart); a new message for the same ids starts it anew."""

from __future__ import annotations

import time
from collections import Counter

from hitting_coach.store.journal import Failure, add_failures, read_tail, segments
from hitting_coach.store.retention import prune_journal, verify_segment
from hitting_coach.store.session_admin import delete_session
from hitting_coach.store.sessions import list_sessions
from support import motion_messages


def _two_sessions(data, record):
    start = time.time_ns() - 120 * 10**9
    record(data, motion_messages(20, start, device="d", session="keep"))
    record(data, motion_messages(20, start + 10**10, device="d", session="gone", first_id=100))
    return start


def test_a_segment_holding_a_deleted_session_is_pruned(tmp_path, record):
    data = tmp_path / "data"
    _two_sessions(data, record)
    [segment] = [s for s in segments(data) if "gone" in s.read_text()]
    delete_session(data, "d", "gone")
    assert verify_segment(data, segment) == 0  # its readings are not "missing" any more
    counters: Counter[str] = Counter()
    removed = prune_journal(data, None, 0.0, counters)
    assert segment in removed and not segment.exists()
    assert counters["journal_unverified"] == 0
    assert list(list_sessions(data)["session_id"]) == ["keep"]


def test_a_deleted_session_with_a_failed_range_does_not_keep_its_segment(tmp_path, record):
    data = tmp_path / "data"
    _two_sessions(data, record)
    [segment] = [s for s in segments(data) if "gone" in s.read_text()]
    size = segment.stat().st_size
    add_failures(segment, [Failure("d", "gone", 0, size, "disk full")])  # never converted
    assert read_tail(data, only=("d", "gone")).batches  # pending: read from the journal
    delete_session(data, "d", "gone")
    assert not read_tail(data, only=("d", "gone")).batches  # not pending any more
    assert "gone" not in set(list_sessions(data)["session_id"])
    assert segment in prune_journal(data, None, 0.0, Counter())


def test_a_deleted_session_does_not_come_back_and_new_messages_start_it_anew(tmp_path, record):
    data = tmp_path / "data"
    start = _two_sessions(data, record)
    delete_session(data, "d", "gone")
    record(data, [])  # a restart converts what the journal holds: not the deleted readings
    assert "gone" not in set(list_sessions(data)["session_id"])
    later = motion_messages(5, start + 100 * 10**9, device="d", session="gone", first_id=500)
    record(data, later)
    again = list_sessions(data).set_index("session_id").loc["gone"]
    assert again["readings"] == 5 * 40  # only the new ones
