"""Reports made on demand for the sessions page: one named worker thread, fed by a queue, makes
them one at a time (a report runs a Jupyter kernel; the machine serves the live page too) and
caches each file beside its session (:func:`hitting_coach.store.session_admin.report_path`).

Between reports the worker keeps a kernel ready (:class:`hitting_coach.report.WarmKernel`:
started, the report's libraries imported), so a report skips kernel start-up and imports, most
of a cold report's time (docs/benchmarks.md). Each kernel makes one report and is shut down; the worker
starts the next one as soon as a report is written, and replaces one that died while it waited.
:meth:`ReportJobs.prepare` (a sessions page opening) has the first one ready before a report
is asked for.

A page asks :meth:`ReportJobs.start` and polls :meth:`ReportJobs.status` from its own
periodic callback; the worker never touches a page. The server's runtime owns the process's
one :class:`ReportJobs` (``Runtime.reports``) and closes it when it stops:
:meth:`ReportJobs.close` stops the worker and its kernel; it is safe to call twice.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hitting_coach.errors import HittingCoachError
from hitting_coach.report import REPORT_NOTEBOOK, WarmKernel, close_event_loop, write_report
from hitting_coach.store.session_admin import prune_reports, report_clips_dir, report_path

__all__ = ["ReportJob", "ReportJobs"]

log = logging.getLogger(__name__)

_PREPARE = "prepare"  # a queue item: have a kernel ready
#: The report kernel runs this much nicer than the server: its start-up and reports yield the
#: CPU to the phones' POSTs and the pages (a report waits a little on a busy machine instead).
KERNEL_NICE = 10
_STOP = None  # the sentinel that stops the worker


@dataclass
class ReportJob:
    """A report being made: ``state`` is ``queued``, ``running``, ``done`` or ``failed``;
    ``progress`` the last line the report wrote; ``path`` the file when done; ``warm``
    whether it ran in the kernel kept ready (started before the report was asked for), and
    ``kernel_pid`` that kernel's process."""

    device_id: str
    session_id: str
    path: Path
    state: str = "queued"
    progress: str = "waiting for the report before it"
    error: str = ""
    steps: list[str] = field(default_factory=list)
    warm: bool = False
    kernel_pid: int | None = None


def _default(name: str) -> int:
    """A setting's default (Runtime passes the settings' values)."""
    import dataclasses

    from hitting_coach.config import Settings

    return next(f.default for f in dataclasses.fields(Settings) if f.name == name)


class ReportJobs:
    """The reports being made in this process, by session and its last reading time.

    ``keep_warm=False`` starts each report's kernel when the report starts, keeping none
    between reports (no process and memory held while nobody asks for reports)."""

    def __init__(
        self,
        keep_warm: bool = True,
        notebook: Path = REPORT_NOTEBOOK,
        *,
        max_waiting: int | None = None,
        keep_reports: int | None = None,
    ) -> None:
        self.keep_warm = keep_warm
        self.notebook = Path(notebook)
        #: Reports waiting at once (one per session), and reports kept per session: the
        #: HITTING_COACH_REPORT_QUEUE_MAX and HITTING_COACH_REPORTS_KEPT settings by default.
        self.max_waiting = max_waiting
        self.keep_reports = keep_reports
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str], ReportJob] = {}
        self._queue: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closed = False
        #: The kernel kept ready; only the worker thread touches it.
        self.spare: WarmKernel | None = None

    def start(self, data_dir: Path, device_id: str, session_id: str, end_ns: int) -> ReportJob:
        """The job making this report (queued now unless it is queued, running or done).

        One report per session waits: a request for a session whose report is still waiting
        replaces that one (it will cover the newest readings and marks). Raises
        :class:`HittingCoachError` when ``max_waiting`` reports of other sessions wait."""
        path = report_path(data_dir, device_id, session_id, end_ns)
        key = (str(data_dir), device_id, session_id)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.path == path and job.state in ("queued", "running"):
                return job
            if job is not None and job.state == "queued":
                job.path = path  # the waiting one makes this report instead
                return job
            if path.is_file():
                done = ReportJob(device_id, session_id, path)
                done.state, done.progress = "done", "ready"
                return done
            waiting = sum(j.state == "queued" for j in self._jobs.values())
            limit = self._max_waiting()
            if waiting >= limit:
                raise HittingCoachError(
                    f"{waiting} reports are waiting to be made (at most {limit}, "
                    "HITTING_COACH_REPORT_QUEUE_MAX); try again when one is done"
                )
            job = ReportJob(device_id, session_id, path)
            self._jobs[key] = job
            self._put((job, Path(data_dir)))
        return job

    def _max_waiting(self) -> int:
        return self.max_waiting if self.max_waiting is not None else _default("report_queue_max")

    def _keep_reports(self) -> int:
        return self.keep_reports if self.keep_reports is not None else _default("reports_kept")

    def prepare(self) -> None:
        """Have a kernel ready for the next report (started in the worker; returns now)."""
        if self.keep_warm:
            with self._lock:
                self._put(_PREPARE)

    def status(self, data_dir: Path, device_id: str, session_id: str) -> ReportJob | None:
        with self._lock:
            return self._jobs.get((str(data_dir), device_id, session_id))

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker after the report it is making, and the kernel it keeps."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
            if worker is not None:
                self._queue.put(_STOP)
        if worker is not None:
            worker.join(timeout_s)

    # -------------------------------------------------------------------------- worker
    def _put(self, item: object) -> None:
        """Queue an item, starting the worker on the first one. Call with the lock held."""
        if self._closed:
            raise HittingCoachError("reports are closed in this process (it is stopping)")
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="report-worker", daemon=True)
            self._worker.start()
        self._queue.put(item)

    def _work(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                if item == _PREPARE:
                    self._ready_kernel()
                else:
                    job, data_dir = item
                    self._run(job, data_dir)
                    if self.keep_warm:
                        self._ready_kernel()
        finally:
            if self.spare is not None:
                self.spare.shutdown()
                self.spare = None
            close_event_loop()

    def _ready_kernel(self) -> WarmKernel | None:
        """The kernel kept ready: started if there is none, replaced if it died."""
        if self.spare is not None and not self.spare.alive():
            log.warning("the report kernel kept ready died; starting a new one")
            self.spare.shutdown()
            self.spare = None
        if self.spare is None:
            try:
                self.spare = WarmKernel(self.notebook.parent, nice=KERNEL_NICE)
            except Exception:  # the report then starts its own and says what fails
                log.exception("cannot start a report kernel ahead")
        return self.spare

    def _run(self, job: ReportJob, data_dir: Path) -> None:
        def say(text: str) -> None:
            job.progress = text
            job.steps.append(text)

        kept = self.spare
        kernel = self._ready_kernel() if self.keep_warm else None
        self.spare = None  # this report's now; write_report shuts it down
        with self._lock:
            job.state = "running"  # from here a new request queues a new job
        job.warm = kernel is not None and kernel is kept
        job.kernel_pid = kernel.pid if kernel is not None else None
        tmp = job.path.with_name(f".{job.path.name}.{os.getpid()}.tmp.html")
        try:
            write_report(
                (job.device_id, job.session_id),
                tmp,
                data_dir=data_dir,
                progress=say,
                notebook=self.notebook,
                kernel=kernel,
                clips_dir=report_clips_dir(job.path),
            )
            os.replace(tmp, job.path)
        except HittingCoachError as e:
            job.state, job.error = "failed", str(e)
            log.warning("report of %s/%s failed: %s", job.device_id, job.session_id, e)
        except Exception as e:  # a page must hear of it; the server keeps running
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"
            log.exception("report of %s/%s failed", job.device_id, job.session_id)
        else:
            job.state, job.progress = "done", "ready"
            try:
                prune_reports(data_dir, job.device_id, job.session_id, self._keep_reports())
            except OSError as e:
                log.warning("cannot remove old reports of %s: %s", job.session_id, e.strerror)
        finally:
            tmp.unlink(missing_ok=True)
