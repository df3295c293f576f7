"""Files the sessions page links to, behind the same login as the dashboard:

- ``GET /sensor/session_report.html?device=D&session=S``: the session's cached report (made
  from the sessions page; 404 until then);
- ``GET /sensor/session_export.zip?device=D&session=S``: the session in Sensor Logger's CSV
  layout (what ``hitting-coach import`` reads back), zipped, made on request.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import tornado.ioloop

from hitting_coach.errors import SessionError
from hitting_coach.store.exports import export_session, safe_file_stem
from hitting_coach.store.layout import session_dir
from hitting_coach.store.session_admin import newest_report
from hitting_coach.web.app import LoginRequired

__all__ = ["ExportHandler", "ReportHandler", "export_zip"]


class _SessionFile(LoginRequired):
    """A session's file: behind the dashboard login; ``device`` and ``session`` from the query."""

    def session_key(self) -> tuple[Path, str, str] | None:
        device = self.get_query_argument("device", "")
        session = self.get_query_argument("session", "")
        data_dir = self.app.settings.data_path
        if not device or not session or not session_dir(data_dir, device, session).is_dir():
            self.reply(
                404,
                {"error": f"no session {device[:100]!r}/{session[:100]!r}", "field": "session"},
            )
            return None
        return data_dir, device, session


class ReportHandler(_SessionFile):
    def get(self) -> None:
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
    async def get(self) -> None:
        key = self.session_key()
        if key is None:
            return
        loop = tornado.ioloop.IOLoop.current()
        try:
            name, data = await loop.run_in_executor(None, export_zip, *key)
        except SessionError as e:
            self.reply(404, {"error": str(e)})
            return
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.set_header("Cache-Control", "no-store")
        self.finish(data)


def export_zip(data_dir: Path, device_id: str, session_id: str) -> tuple[str, bytes]:
    """``(file name, zip bytes)`` of a session's CSV export. Raises SessionError."""
    with tempfile.TemporaryDirectory(prefix="hc-export-") as tmp:
        folder = export_session(
            (device_id, session_id), Path(tmp) / "export", format="csv", data_dir=data_dir
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(folder).as_posix())
    stem = safe_file_stem(session_id, "session")
    return f"{stem}.zip", buffer.getvalue()
