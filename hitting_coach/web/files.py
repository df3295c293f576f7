"""Files the sessions page offers, behind the same login as the dashboard, from its own pages:

- ``POST /sensor/session_report.html`` (form fields ``device``, ``session``): the session's
  cached report (made from the sessions page; 404 until then);
- ``POST /sensor/session_export.zip`` (the same fields): the session in Sensor Logger's CSV
  layout (what ``hitting-coach import`` reads back), zipped, streamed to the browser as it is
  made; at most ``HITTING_COACH_MAX_EXPORTS`` at once, 503 with ``Retry-After`` beyond. The
  camera's video of the session is in it (``video/<id>/``) unless the form says ``video=0``.

Both are POSTs, checked as :class:`~hitting_coach.web.app.LoginRequired` checks (a page of
another site gets 403): a link or an ``<img>`` on another site cannot start an export nor read a
report (a GET gets 405). The sessions page's buttons are small forms.

The export is whatever :func:`open_export` returns: an iterable of the zip's bytes, piece by
piece, with ``name`` (the file name) and ``close()`` (frees its slot), raising
:class:`~hitting_coach.errors.ExportsBusy` when ``limit`` exports are being made already and
:class:`~hitting_coach.errors.SessionError` for a session it cannot read. Each piece is made on
a worker thread and written and flushed to the browser before the next is made, so the
response holds one piece at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import tornado.ioloop
import tornado.iostream

from hitting_coach.errors import ExportsBusy, SessionError
from hitting_coach.store.exports import ExportStream
from hitting_coach.store.layout import session_dir
from hitting_coach.store.session_admin import newest_report
from hitting_coach.web.app import LoginRequired

__all__ = ["Export", "ExportHandler", "ReportHandler", "open_export"]

#: Seconds a browser is asked to wait (``Retry-After``) when every export slot is taken.
RETRY_AFTER_S = 30


class Export(Protocol):
    """A session's export zip as it is made (``store.exports.ExportStream`` is one)."""

    name: str

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class _SessionFile(LoginRequired):
    """A session's file: ``device`` and ``session`` from the form (or the query)."""

    def session_key(self) -> tuple[Path, str, str] | None:
        device = self.get_argument("device", "")
        session = self.get_argument("session", "")
        data_dir = self.app.settings.data_path
        if not device or not session or not session_dir(data_dir, device, session).is_dir():
            self.reply(
                404,
                {"error": f"no session {device[:100]!r}/{session[:100]!r}", "field": "session"},
            )
            return None
        return data_dir, device, session

    def get(self) -> None:
        self.set_header("Allow", "POST")
        self.reply(405, {"error": "use the button on the sessions page (/sensor/sessions)"})


class ReportHandler(_SessionFile):
    def post(self) -> None:
        key = self.session_key()
        if key is None:
            return
        path = newest_report(*key)
        if path is None:
            self.reply(404, {"error": "no report yet: make it on the sessions page"})
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(path.read_bytes())


class ExportHandler(_SessionFile):
    async def post(self) -> None:
        key = self.session_key()
        if key is None:
            return
        loop = tornado.ioloop.IOLoop.current()
        limit = self.app.settings.max_exports
        try:
            # video=0 in the form: the readings only, not the camera's video
            only = {"video": False} if self.get_argument("video", "1") == "0" else {}
            export = await loop.run_in_executor(
                None, lambda: open_export(*key, limit=limit, **only)
            )
        except ExportsBusy as e:
            self.set_header("Retry-After", str(RETRY_AFTER_S))
            self.reply(503, {"error": str(e), "reason": "exports_busy"})
            return
        except SessionError as e:
            self.reply(404, {"error": str(e)})
            return
        sent = 0
        pieces = iter(export)
        try:
            while (piece := await loop.run_in_executor(None, next, pieces, None)) is not None:
                if not sent:
                    self.set_header("Content-Type", "application/zip")
                    self.set_header("Content-Disposition", f'attachment; filename="{export.name}"')
                    self.set_header("Cache-Control", "no-store")
                self.write(piece)
                await self.flush()  # on its way before the next piece is made
                sent += len(piece)
        except tornado.iostream.StreamClosedError:
            return  # the browser went away (download cancelled): stop making it
        except SessionError as e:
            if not sent:
                self.reply(404, {"error": str(e)})
                return
            raise  # half a zip went out: tornado closes the connection, the download fails
        finally:
            await loop.run_in_executor(None, _close, pieces, export)
        self.finish()


def _close(pieces: Iterator[bytes], export: Export) -> None:
    """Stop making the export (a generator's ``finally`` runs: its temporary files go) and
    free its slot."""
    close = getattr(pieces, "close", None)
    if close is not None:
        close()
    export.close()


def open_export(
    data_dir: Path, device_id: str, session_id: str, *, limit: int, video: bool = True
) -> Export:
    """The session's export, made as it is read (the store's :class:`ExportStream`: one
    sensor in memory at a time, nothing on disk). Raises :class:`ExportsBusy` when ``limit``
    exports are being made already, :class:`SessionError` for an unknown session."""
    return ExportStream(data_dir, device_id, session_id, limit=limit, video=video)
