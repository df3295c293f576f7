from __future__ import annotations

import numpy as np
import pytest

from hitting_coach.ingest.ring import RingBuffer


@pytest.mark.parametrize("chunks", [[3, 4, 5, 1, 7], [10], [12], [25, 2], [9, 9, 9, 9]])
def test_ring_keeps_the_newest_capacity_readings_in_time_order(chunks):
    ring = RingBuffer(["x", "y"], capacity=10)
    t = 0
    for n in chunks:
        times = np.arange(t, t + n, dtype=np.int64)
        ring.append(times, {"x": times * 2.0, "y": times * 3.0})
        t += n
    time_ns, values, cursor, missed = ring.read(0)
    expected = np.arange(max(0, t - 10), t)
    assert cursor == t and missed == max(0, t - 10)
    assert time_ns.tolist() == expected.tolist()
    assert values[0].tolist() == (expected * 2.0).tolist()
    assert values[1].tolist() == (expected * 3.0).tolist()


def test_missing_and_text_columns_read_as_nan():
    ring = RingBuffer(["x", "y"], capacity=4)
    ring.append(np.array([1, 2]), {"x": np.array([1.0, 2.0]), "y": np.array(["a", "b"], object)})
    _, values, _, _ = ring.read(0)
    assert values[0].tolist() == [1.0, 2.0] and np.isnan(values[1]).all()


def test_a_read_until_a_cursor_stops_there_so_a_backlog_meets_a_reader_exactly():
    ring = RingBuffer(["x"], capacity=10)
    times = np.arange(0, 8, dtype=np.int64)
    ring.append(times, {"x": times * 1.0})
    shared_cursor = ring.read(0)[2]  # a reader that has seen all 8
    ring.append(np.arange(8, 12, dtype=np.int64), {"x": np.arange(8, 12) * 1.0})
    # a late joiner's backlog: the last 5 readings the shared reader had seen, no more
    time_ns, _, cursor, _ = ring.read(0, last=5, until=shared_cursor)
    assert time_ns.tolist() == [3, 4, 5, 6, 7] and cursor == shared_cursor
    # the shared reader's next read carries on from there: nothing twice, nothing lost
    assert ring.read(shared_cursor)[0].tolist() == [8, 9, 10, 11]
    # overwritten readings are not returned (capacity 10: 0 and 1 are gone)
    assert ring.read(0, until=shared_cursor)[0].tolist() == [2, 3, 4, 5, 6, 7]
