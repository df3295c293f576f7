"""Start-up recovery: convert what dead processes left in the journal, and find the keys of
recently received messages so their redelivery is dropped as a duplicate.

Recovery is idempotent: parts are named after the journal range they hold, a part past a
segment's checkpoint is replaced only after its range has been written again (never deleted
first), and one session or segment that cannot be converted is recorded and skipped, never
blocking the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson

from hitting_coach.errors import MessageError
from hitting_coach.store.journal import (
    Failure,
    add_failures,
    decode_line,
    iter_lines,
    read_checkpoint,
    read_failures,
    received_offset,
    segments,
    write_checkpoint,
    write_failures,
)
from hitting_coach.store.layout import (
    SessionKey,
    part_origin,
    read_deleted,
    segment_parts,
    was_deleted,
)
from hitting_coach.store.parts import DiskError, Pending, write_session_parts

__all__ = ["dead_segments", "recent_keys", "recover"]

log = logging.getLogger(__name__)

_CHUNK_READINGS = 1_000_000  # readings converted per part during recovery
_ORDER_SLACK_NS = 60 * 10**9  # lines are in receive order, give or take this


@contextlib.contextmanager
def _owned(segment: Path) -> Iterator[bool]:
    """True while we hold ``segment``'s lock (no live process writes it)."""
    try:
        fd = os.open(segment, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        os.close(fd)


def dead_segments(data_dir: Path, current: Path | None) -> Iterator[Path]:
    """Segments no live process writes, each locked while the caller works on it."""
    for segment in segments(data_dir):
        if segment == current:
            continue
        with _owned(segment) as owned:
            if owned:
                yield segment


def recover(data_dir: Path, current: Path | None, counters: Counter[str]) -> dict[SessionKey, str]:
    """Convert every dead segment's unconverted lines and retry its failed ranges; returns the
    sessions that still cannot be converted, with why. A segment that fails is logged and left
    as it is (the journal keeps it readable); the next one is converted anyway."""
    failed: dict[SessionKey, str] = {}
    for segment in dead_segments(data_dir, current):
        try:
            failed.update((f.key, f.error) for f in retry_failures(data_dir, segment))
            start = read_checkpoint(segment)
            if segment.stat().st_size > start:
                failed.update(convert(data_dir, segment, start))
                counters["recovered_segments"] += 1
        except DiskError as e:
            log.error("cannot convert journal %s (%s); it stays readable", segment.name, e)
        except Exception:
            log.exception("cannot convert journal %s; it stays readable", segment.name)
    return failed


def convert(data_dir: Path, segment: Path, start: int) -> dict[SessionKey, str]:
    """Convert ``segment`` from byte ``start`` into parts, in chunks, moving its checkpoint.

    Parts a crashed writer left past the checkpoint are removed only once the lines they hold
    have been written again (or recorded as failed), so at no moment is a reading neither in
    Parquet nor readable from the journal."""
    leftovers = segment_parts(data_dir, segment.stem, start)
    failed_keys: dict[SessionKey, str] = {}
    pending: Pending = {}
    readings, chunk_start, end, damaged = 0, start, start, 0

    def write_chunk() -> None:
        nonlocal pending, readings, chunk_start
        written, failed = write_session_parts(data_dir, segment.stem, end, pending)
        add_failures(segment, [Failure(*k, chunk_start, end, e) for k, e in failed.items()])
        failed_keys.update(failed)
        for key, parts in leftovers.items():
            for part in list(parts):
                if int(part_origin(part)[1]) <= end and key not in failed_keys:
                    if part not in written:
                        part.unlink(missing_ok=True)
                    parts.remove(part)
        write_checkpoint(segment, end)
        pending, readings, chunk_start = {}, 0, end

    deleted = read_deleted(data_dir)
    for offset, line in iter_lines(segment, start):
        end = offset
        if not line.strip():
            continue
        try:
            decoded = decode_line(line)
        except MessageError:
            damaged += 1
            continue
        message = decoded.message
        if was_deleted(deleted, (message.device_id, message.session_id), decoded.received_ns):
            continue  # a deleted session: converting it would bring it back
        sensors = pending.setdefault((message.device_id, message.session_id), {})
        for batch in message.batches.values():
            sensors.setdefault(batch.sensor, []).append(batch)
        readings += message.n_readings
        if readings >= _CHUNK_READINGS:
            write_chunk()
    write_chunk()
    log.info(
        "converted journal %s from byte %d to %d%s%s",
        segment.name,
        start,
        end,
        f" ({damaged} damaged lines skipped)" if damaged else "",
        f"; {len(failed_keys)} sessions could not be converted" if failed_keys else "",
    )
    return failed_keys


def retry_failures(data_dir: Path, segment: Path) -> list[Failure]:
    """Try the segment's failed ranges again; a range that converts is no longer failed.
    Returns the ranges that still fail."""
    failures = read_failures(segment)
    if not failures:
        return []
    kept: list[Failure] = []
    deleted = read_deleted(data_dir)
    for failure in failures:
        pending: Pending = {}
        for _, line in iter_lines(segment, failure.start, failure.end):
            try:
                decoded = decode_line(line)
            except MessageError:
                continue
            message = decoded.message
            if was_deleted(deleted, failure.key, decoded.received_ns):
                continue
            if (message.device_id, message.session_id) == failure.key:
                sensors = pending.setdefault(failure.key, {})
                for batch in message.batches.values():
                    sensors.setdefault(batch.sensor, []).append(batch)
        if not pending:
            continue
        _, failed = write_session_parts(data_dir, segment.stem, failure.end, pending)
        if failed:
            kept.append(replace(failure, error=failed[failure.key]))
        else:
            log.info("converted %s/%s from journal %s", *failure.key, segment.name)
    write_failures(segment, kept)
    return kept


# --------------------------------------------------------------------------- recent keys
def recent_keys(
    data_dir: Path, current: Path | None, max_age_s: float
) -> list[tuple[str, str, int]]:
    """``(device, session, messageId)`` of every message journaled in the last ``max_age_s``
    seconds, from every segment (read from the first line of the window, found by binary
    search, to the end)."""
    cutoff = time.time_ns() - int(max_age_s * 1e9)
    keys: list[tuple[str, str, int]] = []
    for segment in segments(data_dir):
        if segment == current:
            continue
        try:
            stat = segment.stat()
        except FileNotFoundError:
            continue
        if stat.st_mtime_ns < cutoff or stat.st_size == 0:
            continue
        start = received_offset(segment, cutoff - _ORDER_SLACK_NS)
        for _, line in iter_lines(segment, start):
            key = _line_key(line, cutoff)
            if key is not None:
                keys.append(key)
    return keys


def _line_key(line: bytes, cutoff_ns: int) -> tuple[str, str, int] | None:
    """The (device, session, messageId) of a journal line received after ``cutoff_ns``."""
    try:
        doc = orjson.loads(line)
        if doc["received_ns"] < cutoff_ns:
            return None
        message = doc["message"]
        return str(message["deviceId"]), str(message["sessionId"]), int(message["messageId"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
