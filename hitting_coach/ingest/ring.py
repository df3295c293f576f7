"""A bounded ring buffer of one sensor's readings, with reader cursors.

It starts small and doubles as readings arrive, up to its capacity: memory follows the data,
so a device that sends one reading costs kilobytes, not the full window.

Not thread-safe by itself: the hub holds its lock around every call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer", "sort_by_time"]


#: Readings allocated at first; doubled as needed up to the capacity.
INITIAL_SIZE = 64


class RingBuffer:
    """The last ``capacity`` readings of one (device, sensor): int64 times, float64 columns.

    ``total`` counts every reading ever written; a reader's cursor is the ``total`` it has
    seen, so it gets exactly what is new, or learns how many it missed if it fell behind.
    Until it is full, reading ``i`` is at index ``i`` (no wrap), so growing is one copy.
    """

    def __init__(self, columns: list[str], capacity: int) -> None:
        self.columns = list(columns)
        self.capacity = capacity
        size = min(capacity, INITIAL_SIZE)
        self.time_ns = np.zeros(size, dtype=np.int64)
        self.values = np.full((len(self.columns), size), np.nan, dtype=np.float64)
        self.total = 0

    @property
    def allocated(self) -> int:
        """Readings the buffer has room for now (grows up to ``capacity``)."""
        return len(self.time_ns)

    def _grow(self, needed: int) -> None:
        size = self.allocated
        if needed <= size or size >= self.capacity:
            return
        while size < needed:
            size *= 2
        size = min(size, self.capacity)
        time_ns = np.zeros(size, dtype=np.int64)
        values = np.full((len(self.columns), size), np.nan, dtype=np.float64)
        time_ns[: self.total] = self.time_ns[: self.total]
        values[:, : self.total] = self.values[:, : self.total]
        self.time_ns, self.values = time_ns, values

    def append(self, time_ns: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Append readings; a value column we do not keep is ignored, a missing one is NaN."""
        n = len(time_ns)
        if n == 0:
            return
        if self.total + n > len(self.time_ns):
            self._grow(self.total + n)
        first = max(0, n - self.capacity)  # more than fits: only the newest are kept
        start = (self.total + first) % self.capacity
        # one or two contiguous slices of the ring (two when the write wraps around)
        split = min(n - first, self.capacity - start)
        if split == n:  # the usual case, one slice: no slice objects to make
            self._write(slice(start, start + n), time_ns, values)
        else:
            self._write(slice(start, start + split), time_ns[first : first + split],
                        {k: v[first : first + split] for k, v in values.items()})  # fmt: skip
            if first + split < n:
                self._write(slice(0, n - first - split), time_ns[first + split :],
                            {k: v[first + split :] for k, v in values.items()})  # fmt: skip
        self.total += n

    def _write(self, dst: slice, time_ns: np.ndarray, values: dict[str, np.ndarray]) -> None:
        self.time_ns[dst] = time_ns
        for row, name in enumerate(self.columns):
            column = values.get(name)
            if column is None or column.dtype.kind != "f":
                self.values[row, dst] = np.nan
            else:
                self.values[row, dst] = column

    def read(
        self, cursor: int = 0, last: int | None = None, until: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Readings after ``cursor`` and before ``until`` (a cursor; default: all written), at
        most the last ``last`` of them, sorted by time.

        Returns ``(time_ns, values[n_columns, n], new_cursor, missed)`` where ``missed`` counts
        readings that were overwritten before this reader got to them.
        """
        time_ns, values, stop, missed = self.copy(cursor, last, until)
        time_ns, values = sort_by_time(time_ns, values)
        return time_ns, values, stop, missed

    def copy(
        self, cursor: int = 0, last: int | None = None, until: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """:meth:`read` in arrival order: only copies (what a caller holding a lock does; it
        sorts with :func:`sort_by_time` once the lock is let go)."""
        if cursor > self.total:  # the buffer was replaced (its device left memory and came back)
            cursor = 0
        stop = self.total if until is None else max(0, min(until, self.total))
        start = max(cursor, self.total - self.capacity)
        missed = start - cursor if cursor < start else 0
        if last is not None:
            start = max(start, stop - last)
        start = min(start, stop)
        first, end = start % self.capacity, (stop - 1) % self.capacity + 1
        if stop - start == 0:
            time_ns, values = self.time_ns[:0].copy(), self.values[:, :0].copy()
        elif first < end:  # one slice of the ring
            time_ns, values = self.time_ns[first:end].copy(), self.values[:, first:end].copy()
        else:  # wrapped: the end of the ring, then its start
            time_ns = np.concatenate((self.time_ns[first:], self.time_ns[:end]))
            values = np.concatenate((self.values[:, first:], self.values[:, :end]), axis=1)
        return time_ns, values, stop, missed


def sort_by_time(time_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Readings in time order (stable: equal times keep their arrival order)."""
    if len(time_ns) > 1 and np.any(time_ns[1:] < time_ns[:-1]):
        order = np.argsort(time_ns, kind="stable")
        return time_ns[order], values[:, order]
    return time_ns, values
