"""Journal retention: a segment is removed once its readings are safely in Parquet.

A segment qualifies when no process writes it, it is converted to its end with no failed
range, it was last written more than ``keep_s`` ago (never less than the duplicate window,
whose keys are read from the journal at start), and a check finds every reading it holds in
the session's Parquet files: for each session and sensor, the number of distinct reading
times in the journal equals the number of them found in Parquet.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hitting_coach.errors import MessageError
from hitting_coach.store.journal import decode_line, iter_lines, read_checkpoint, read_failures
from hitting_coach.store.layout import (
    SessionKey,
    list_parts,
    read_deleted,
    session_dir,
    was_deleted,
)
from hitting_coach.store.recovery import dead_segments

__all__ = ["prune_journal", "verify_segment"]

log = logging.getLogger(__name__)


def prune_journal(
    data_dir: Path,
    current: Path | None,
    keep_s: float,
    counters: Counter[str],
    unverified: set[Path] | None = None,
) -> list[Path]:
    """Remove the segments that qualify (see the module docstring); returns them. A segment
    that fails the check is added to ``unverified`` and not checked again from there."""
    unverified = set() if unverified is None else unverified
    removed: list[Path] = []
    cutoff = time.time() - keep_s
    for segment in dead_segments(data_dir, current):
        if segment in unverified:
            continue
        try:
            stat = segment.stat()
            if stat.st_mtime > cutoff or read_checkpoint(segment) < stat.st_size:
                continue
            deleted = read_deleted(data_dir)
            mtime_ns = stat.st_mtime_ns
            if any(not was_deleted(deleted, f.key, mtime_ns) for f in read_failures(segment)):
                continue  # a failed range of a session still there
            missing = verify_segment(data_dir, segment)
            if missing:
                unverified.add(segment)
                counters["journal_unverified"] += 1
                log.warning(
                    "journal %s kept: %d of its readings are not in Parquet",
                    segment.name,
                    missing,
                )
                continue
            for suffix in (".done", ".jsonl"):
                segment.with_suffix(suffix).unlink(missing_ok=True)
        except OSError as e:
            log.error("cannot remove journal %s: %s", segment.name, e)
            continue
        counters["journal_segments_removed"] += 1
        removed.append(segment)
        log.info("removed journal %s (%.1f MB, all in Parquet)", segment.name, stat.st_size / 1e6)
    return removed


def verify_segment(data_dir: Path, segment: Path) -> int:
    """How many distinct readings (session, sensor, time) of ``segment`` are not in Parquet
    (0: all are). Damaged lines hold nothing readable and are not counted, nor do the lines of
    a session deleted after they were received (:func:`~hitting_coach.store.layout.add_deleted`).
    """
    times: dict[tuple[SessionKey, str], list[np.ndarray]] = {}
    deleted = read_deleted(data_dir)
    for _, line in iter_lines(segment):
        if not line.strip():
            continue
        try:
            decoded = decode_line(line)
        except MessageError:
            continue
        message = decoded.message
        if was_deleted(deleted, (message.device_id, message.session_id), decoded.received_ns):
            continue
        for batch in message.batches.values():
            key = ((message.device_id, message.session_id), batch.sensor)
            times.setdefault(key, []).append(batch.time_ns)
    missing = 0
    stored: dict[SessionKey, dict[str, list[Path]]] = {}
    for (session, sensor), arrays in times.items():
        wanted = np.unique(np.concatenate(arrays))
        if session not in stored:
            stored[session] = list_parts(session_dir(data_dir, *session))
        parts = stored[session].get(sensor, [])
        have = [pq.read_table(p, columns=["time_ns"])["time_ns"].to_numpy() for p in parts]
        found = np.isin(wanted, np.concatenate(have)) if have else np.zeros(len(wanted), bool)
        missing += len(wanted) - int(found.sum())
    return missing
