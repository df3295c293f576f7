"""Reports made on demand for the sessions page: one background thread per report, one report
at a time (a report runs a Jupyter kernel; the machine serves the live page too), the file
cached beside the session (:func:`hitting_coach.store.session_admin.report_path`).

A page asks :meth:`ReportJobs.start` and polls :meth:`ReportJobs.status` from its own
periodic callback; the thread never touches a page.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hitting_coach.errors import HittingCoachError
from hitting_coach.report import write_report
from hitting_coach.store.session_admin import report_path

__all__ = ["ReportJob", "ReportJobs", "report_jobs"]

log = logging.getLogger(__name__)


@dataclass
class ReportJob:
    """A report being made: ``state`` is ``queued``, ``running``, ``done`` or ``failed``;
    ``progress`` the last line the report wrote; ``path`` the file when done."""

    device_id: str
    session_id: str
    path: Path
    state: str = "queued"
    progress: str = "waiting for the report before it"
    error: str = ""
    steps: list[str] = field(default_factory=list)


class ReportJobs:
    """The reports being made in this process, by session and its last reading time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._jobs: dict[tuple[str, str, str], ReportJob] = {}

    def start(self, data_dir: Path, device_id: str, session_id: str, end_ns: int) -> ReportJob:
        """The job making this report (started now unless it is running or done already)."""
        path = report_path(data_dir, device_id, session_id, end_ns)
        key = (str(data_dir), device_id, session_id)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.path == path and job.state in ("queued", "running"):
                return job
            job = ReportJob(device_id, session_id, path)
            if path.is_file():
                job.state, job.progress = "done", "ready"
                return job
            self._jobs[key] = job
        thread = threading.Thread(
            target=self._run, args=(job, Path(data_dir)), name="report", daemon=True
        )
        thread.start()
        return job

    def status(self, data_dir: Path, device_id: str, session_id: str) -> ReportJob | None:
        with self._lock:
            return self._jobs.get((str(data_dir), device_id, session_id))

    def _run(self, job: ReportJob, data_dir: Path) -> None:
        def say(text: str) -> None:
            job.progress = text
            job.steps.append(text)

        with self._one_at_a_time:
            job.state = "running"
            tmp = job.path.with_name(f".{job.path.name}.{os.getpid()}.tmp.html")
            try:
                write_report((job.device_id, job.session_id), tmp, data_dir=data_dir, progress=say)
                os.replace(tmp, job.path)
            except HittingCoachError as e:
                job.state, job.error = "failed", str(e)
                log.warning("report of %s/%s failed: %s", job.device_id, job.session_id, e)
            except Exception as e:  # a page must hear of it; the server keeps running
                job.state, job.error = "failed", f"{type(e).__name__}: {e}"
                log.exception("report of %s/%s failed", job.device_id, job.session_id)
            else:
                job.state, job.progress = "done", "ready"
            finally:
                tmp.unlink(missing_ok=True)


#: The process's report jobs (the sessions page of every browser shares them).
report_jobs = ReportJobs()
