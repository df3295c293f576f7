"""A fixed-capacity ring buffer of one sensor's readings, with reader cursors.

Not thread-safe by itself: the hub holds its lock around every call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer"]


class RingBuffer:
    """The last ``capacity`` readings of one (device, sensor): int64 times, float64 columns.

    ``total`` counts every reading ever written; a reader's cursor is the ``total`` it has
    seen, so it gets exactly what is new, or learns how many it missed if it fell behind.
    """

    def __init__(self, columns: list[str], capacity: int) -> None:
        self.columns = list(columns)
        self.capacity = capacity
        self.time_ns = np.zeros(capacity, dtype=np.int64)
        self.values = np.full((len(self.columns), capacity), np.nan, dtype=np.float64)
        self.total = 0

    def append(self, time_ns: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Append readings; a value column we do not keep is ignored, a missing one is NaN."""
        n = len(time_ns)
        if n == 0:
            return
        first = max(0, n - self.capacity)  # more than fits: only the newest are kept
        start = (self.total + first) % self.capacity
        # one or two contiguous slices of the ring (two when the write wraps around)
        split = min(n - first, self.capacity - start)
        for src, dst in (
            (slice(first, first + split), slice(start, start + split)),
            (slice(first + split, n), slice(0, n - first - split)),
        ):
            if src.start == src.stop:
                continue
            self.time_ns[dst] = time_ns[src]
            for row, name in enumerate(self.columns):
                column = values.get(name)
                if column is None or column.dtype.kind != "f":
                    self.values[row, dst] = np.nan
                else:
                    self.values[row, dst] = column[src]
        self.total += n

    def read(
        self, cursor: int = 0, last: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Readings after ``cursor`` (at most the last ``last`` of them), sorted by time.

        Returns ``(time_ns, values[n_columns, n], new_cursor, missed)`` where ``missed`` counts
        readings that were overwritten before this reader got to them.
        """
        start = max(cursor, self.total - self.capacity)
        missed = start - cursor if cursor < start else 0
        if last is not None:
            start = max(start, self.total - last)
        idx = np.arange(start, self.total) % self.capacity
        time_ns = self.time_ns[idx]
        values = self.values[:, idx]
        if len(time_ns) > 1 and np.any(time_ns[1:] < time_ns[:-1]):
            order = np.argsort(time_ns, kind="stable")
            time_ns, values = time_ns[order], values[:, order]
        return time_ns, values, self.total, missed
