"""Messages other writers of the same store journaled: duplicate checks across workers.

Several ``hitting-coach serve --worker`` processes record one topic into one store, each into
its own journal segment. A broker hands a message to one worker; it hands it again (to the
same worker, or to another: brokers differ) when it was not acknowledged: the worker died
between journaling it and acknowledging it. At start a worker reads the keys of every
segment's recent lines (:func:`~hitting_coach.store.recovery.recent_keys`); while it runs,
:class:`PeerKeys` follows the other live segments, so a message one worker journaled is a
duplicate for every other one within the de-duplication window.

A segment another worker opened is found when the journal folder is next listed (every
second), so a duplicate that reaches this worker in the first second of another's new segment
is not caught here (it is recorded twice, and dropped when the session is read).

The cost is reading what the other workers append (the message ids, before the readings; a
line whose ids come after its readings is parsed whole), only when a message is new to this
worker, and at most the bytes appended since the last look.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import orjson

from hitting_coach.store.journal import received_offset

__all__ = ["PeerKeys", "line_key"]

MessageKey = tuple[str, str, int]

_RESCAN_S = 1.0  # how often the journal folder is listed for new segments
_VALUE = rb'\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)'
_FIELDS = {
    name: re.compile(b'"' + name.encode() + b'"' + _VALUE)
    for name in ("deviceId", "sessionId", "messageId")
}
_RECEIVED = re.compile(rb'^\{"received_ns":(\d+),')
_PAYLOAD = b'"payload"'


def line_key(line: bytes) -> tuple[int, MessageKey] | None:
    """``(received_ns, (device, session, messageId))`` of a journal line, or None if it is
    damaged. The ids are found before the payload when they are there (Sensor Logger's order),
    so the readings are not parsed."""
    received = _RECEIVED.match(line)
    if received is None:
        return None
    head = line[: line.find(_PAYLOAD)] if _PAYLOAD in line else line
    found = {}
    for name, pattern in _FIELDS.items():
        match = pattern.search(head)
        if match is None:
            break
        found[name] = match.group(1)
    try:
        if len(found) < 3:
            message = orjson.loads(line)["message"]
            found = {name: message[name] for name in _FIELDS}
        else:
            found = {name: orjson.loads(value) for name, value in found.items()}
        key = (str(found["deviceId"]), str(found["sessionId"]), int(found["messageId"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return int(received.group(1)), key


class _Follow:
    __slots__ = ("fd", "offset", "rest")

    def __init__(self, fd: int, offset: int) -> None:
        self.fd, self.offset, self.rest = fd, offset, b""


class PeerKeys:
    """Keys of the messages other writers journaled in the last ``window_s`` seconds.

    ``own()`` is this process's current segment (not followed: its keys are the hub's). Call
    it with a key: True if another writer journaled that message. Not thread-safe (the hub
    calls it under its lock).
    """

    def __init__(self, journal_dir: Path, own: Callable[[], Path | None], window_s: float) -> None:
        self.journal_dir = journal_dir
        self.own = own
        self.window_ns = int(window_s * 1e9)
        self._follow: dict[Path, _Follow] = {}
        self._keys: OrderedDict[MessageKey, int] = OrderedDict()
        self._scanned = 0.0
        self.lines_read = 0

    def __call__(self, key: MessageKey) -> bool:
        self.refresh()
        return key in self._keys

    def refresh(self) -> None:
        """Read what the followed segments gained; list the folder again now and then."""
        now = time.monotonic()
        if now - self._scanned >= _RESCAN_S:
            self._scanned = now
            self._rescan()
        for follow in self._follow.values():
            self._read(follow)
        cutoff = time.time_ns() - self.window_ns
        while self._keys:
            key, received = next(iter(self._keys.items()))
            if received >= cutoff:
                break
            self._keys.popitem(last=False)

    def _rescan(self) -> None:
        own = self.own()
        present = {p for p in self.journal_dir.glob("*.jsonl") if p != own}
        for gone in set(self._follow) - present:
            os.close(self._follow.pop(gone).fd)
        cutoff = time.time_ns() - self.window_ns
        for path in present - set(self._follow):
            try:
                if path.stat().st_mtime_ns < cutoff:
                    continue  # nothing in it is recent
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            self._follow[path] = _Follow(fd, received_offset(path, cutoff - 60 * 10**9))

    def _read(self, follow: _Follow) -> None:
        size = os.fstat(follow.fd).st_size
        if size <= follow.offset:
            return
        data = follow.rest + os.pread(follow.fd, size - follow.offset, follow.offset)
        follow.offset = size
        lines = data.split(b"\n")
        follow.rest = lines.pop()  # a line still being written
        for line in lines:
            found = line_key(line) if line else None
            if found is not None:
                self._keys[found[1]] = found[0]
                self.lines_read += 1

    def close(self) -> None:
        for follow in self._follow.values():
            with contextlib.suppress(OSError):
                os.close(follow.fd)
        self._follow.clear()
