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
