"""Keeping sessions tidy from the sessions page: rename one, delete one, and where its
derived files (the cached report, the swing summary) live.

Derived files live under ``DATA_DIR/derived/device=<d>/session=<s>/`` (the same encoded
names as the session's own folder), so deleting a session deletes them too, and a session
that grows gets new ones (their names carry the session's last reading time).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import orjson

from hitting_coach.errors import SessionError
from hitting_coach.store.journal import read_tail
from hitting_coach.store.layout import AUDIT, add_deleted, read_meta, session_dir, write_json
from hitting_coach.store.marks import marks_stamp
from hitting_coach.store.players import clean_name
from hitting_coach.store.sessions import refresh_index

__all__ = [
    "DERIVED",
    "delete_session",
    "derived_dir",
    "newest_report",
    "prune_reports",
    "report_is_stale",
    "report_key",
    "session_reports",
    "read_derived_json",
    "rename_session",
    "report_clips_dir",
    "report_path",
    "write_derived_json",
]

log = logging.getLogger(__name__)

DERIVED = "derived"


def derived_dir(data_dir: Path, device_id: str, session_id: str) -> Path:
    """Where a session's derived files (report, swing summary) are kept."""
    return (
        Path(data_dir) / DERIVED / f"device={quote(device_id, safe='')}"
        f"/session={quote(session_id, safe='')}"
    )


def read_derived_json(path: Path) -> dict | None:
    """A derived JSON file, or None if it is missing or damaged (it is made again)."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def write_derived_json(path: Path, doc: dict) -> None:
    """Write a derived JSON file; a failure is logged (the page works without the cache)."""
    try:
        write_json(path, doc)
    except OSError as e:
        log.warning("cannot cache %s: %s", path, e.strerror)


def _existing(data_dir: Path, device_id: str, session_id: str) -> Path:
    sdir = session_dir(Path(data_dir), device_id, session_id)
    if not sdir.is_dir():
        raise SessionError(f"no session {device_id}/{session_id} on disk")
    return sdir


def rename_session(data_dir: Path, device_id: str, session_id: str, name: str) -> str:
    """Give a session a name (an empty name removes it); returns the name stored. The name is
    kept in the session's ``meta.json`` (its folder is made if its readings are still only
    in the journal). Raises :class:`SessionError` for a bad name or an unknown session."""
    name = clean_name(name, "a session's name")
    sdir = session_dir(Path(data_dir), device_id, session_id)
    if not sdir.is_dir():
        if not read_tail(Path(data_dir), only=(device_id, session_id)).batches:
            raise SessionError(f"no session {device_id}/{session_id}")
        sdir.mkdir(parents=True, exist_ok=True)
    meta = read_meta(sdir)
    if name:
        meta["name"] = name
    else:
        meta.pop("name", None)
    try:
        write_json(sdir / "meta.json", meta)
    except OSError as e:
        raise SessionError(f"cannot rename {session_id}: {e.strerror}") from None
    log.info("session %s/%s renamed to %r", device_id, session_id, name, extra=AUDIT)
    return name


def delete_session(
    data_dir: Path,
    device_id: str,
    session_id: str,
    recording: Callable[[str, str], bool] = lambda device, session: False,
) -> None:
    """Delete a session's folder (its readings, marks and meta) and its derived files.

    Refuses (:class:`SessionError`) a session that ``recording(device, session)`` says is
    being recorded right now, and one whose readings are not all in its folder yet (some are
    still only in the journal: they would come back)."""
    data_dir = Path(data_dir)
    if recording(device_id, session_id):
        raise SessionError(
            f"session {session_id} is being recorded right now; stop the phone first"
        )
    sdir = _existing(data_dir, device_id, session_id)
    if read_tail(data_dir, only=(device_id, session_id), failed=False).batches:
        raise SessionError(
            f"session {session_id} is still being written to disk; try again in a minute"
        )
    try:  # its journal lines are no longer pending: the segments holding them can go
        add_deleted(data_dir, device_id, session_id, time.time_ns())
    except OSError as e:
        raise SessionError(f"cannot delete {session_id}: {e.strerror}") from None
    trash = data_dir / DERIVED / f".deleting-{os.getpid()}-{abs(hash(sdir))}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(sdir, trash)  # gone from every listing at once, then removed
    except OSError as e:
        raise SessionError(f"cannot delete {session_id}: {e.strerror}") from None
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(derived_dir(data_dir, device_id, session_id), ignore_errors=True)
    refresh_index(data_dir, only=[(device_id, session_id)])
    log.info("session %s/%s deleted", device_id, session_id, extra=AUDIT)


def report_path(
    data_dir: Path, device_id: str, session_id: str, end_ns: int, marks: int | None = None
) -> Path:
    """Where the cached report of a session up to its reading at ``end_ns``, made with its
    marks as they are now (``marks``: a :func:`~hitting_coach.store.marks.marks_stamp`), is
    kept: a change of marks asks for a new report."""
    if marks is None:
        marks = marks_stamp(data_dir, device_id, session_id)
    name = f"report-{int(end_ns)}-m{int(marks)}.html"
    return derived_dir(data_dir, device_id, session_id) / name


def report_clips_dir(report: Path) -> Path:
    """The folder beside a report holding its swings' clips (a session with video)."""
    return report.with_name(f"{report.stem}-clips")


def report_key(path: Path) -> tuple[int, int]:
    """``(end_ns, marks stamp)`` of a report file (older names carry no stamp: 0)."""
    end, _, marks = path.stem[len("report-") :].partition("-m")
    try:
        return int(end), int(marks or 0)
    except ValueError:
        return -1, -1


def session_reports(data_dir: Path, device_id: str, session_id: str) -> list[Path]:
    """The session's cached reports, oldest first (by the readings they cover, then marks)."""
    found = derived_dir(data_dir, device_id, session_id).glob("report-*.html")
    return sorted((p for p in found if report_key(p)[0] >= 0), key=report_key)


def newest_report(data_dir: Path, device_id: str, session_id: str) -> Path | None:
    """The session's most recent cached report, or None."""
    found = session_reports(data_dir, device_id, session_id)
    return found[-1] if found else None


def report_is_stale(data_dir: Path, device_id: str, session_id: str) -> bool:
    """Whether the session's newest report was made before its marks last changed."""
    newest = newest_report(data_dir, device_id, session_id)
    if newest is None:
        return False
    return report_key(newest)[1] != marks_stamp(data_dir, device_id, session_id)


def prune_reports(data_dir: Path, device_id: str, session_id: str, keep: int) -> int:
    """Remove all but the newest ``keep`` reports of a session; returns how many went."""
    found = session_reports(data_dir, device_id, session_id)
    gone = found[: max(0, len(found) - keep)]
    for path in gone:
        path.unlink(missing_ok=True)
        shutil.rmtree(report_clips_dir(path), ignore_errors=True)
    return len(gone)
