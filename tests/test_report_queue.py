"""Issue 29, finding 8: one report per session waits in the queue (a new request replaces a
waiting one), the queue is bounded, and a session keeps only its newest reports. The report
itself is stood in for (these are about the queue, not about notebooks)."""

from __future__ import annotations

import threading

import pytest

import hitting_coach.report_jobs as report_jobs
from hitting_coach.errors import HittingCoachError
from hitting_coach.report_jobs import ReportJobs
from hitting_coach.store.session_admin import session_reports
from support import wait_for


@pytest.fixture
def made(monkeypatch):
    """Stand in for the report: each one waits for ``release`` and then writes a file naming
    its session; ``made`` lists them in order."""
    release = threading.Event()
    log: list[tuple[str, str]] = []

    def write_report(key, out, **kw):
        release.wait(30)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"report of {key[0]}/{key[1]}")
        log.append(key)

    monkeypatch.setattr(report_jobs, "write_report", write_report)
    return release, log


def test_a_new_request_replaces_the_waiting_one_of_the_same_session(tmp_path, made):
    release, log = made
    jobs = ReportJobs(keep_warm=False, max_waiting=8, keep_reports=2)
    try:
        running = jobs.start(tmp_path, "d", "busy", 1)
        wait_for(lambda: running.state == "running", 10, what="the first report to start")
        waiting = [jobs.start(tmp_path, "d", "s", end) for end in range(100, 106)]
        assert len({id(j) for j in waiting}) == 1  # six rounds of Make report: one job
        assert waiting[0].path.name.startswith("report-105-")  # the newest readings
        release.set()
        wait_for(lambda: waiting[0].state == "done", 20, what="the waiting report")
        assert log == [("d", "busy"), ("d", "s")]  # made once, superseded ones never run
    finally:
        release.set()
        jobs.close()


def test_the_queue_is_bounded(tmp_path, made):
    release, _ = made
    jobs = ReportJobs(keep_warm=False, max_waiting=3, keep_reports=2)
    try:
        first = jobs.start(tmp_path, "d", "running", 1)
        wait_for(lambda: first.state == "running", 10, what="the first report to start")
        for n in range(3):
            jobs.start(tmp_path, "d", f"s{n}", 1)
        with pytest.raises(HittingCoachError, match="3 reports are waiting to be made"):
            jobs.start(tmp_path, "d", "one-too-many", 1)
        assert jobs.status(tmp_path, "d", "one-too-many") is None
        jobs.start(tmp_path, "d", "s1", 2)  # the same session again: replaces, not refused
    finally:
        release.set()
        jobs.close()


def test_a_session_keeps_only_its_newest_reports(tmp_path, made):
    release, _ = made
    release.set()
    jobs = ReportJobs(keep_warm=False, max_waiting=8, keep_reports=2)
    try:
        for end in (10, 20, 30, 40):
            job = jobs.start(tmp_path, "d", "s", end)
            wait_for(lambda job=job: job.state == "done", 20, what="a report")
        kept = session_reports(tmp_path, "d", "s")
        assert [p.name.split("-")[1] for p in kept] == ["30", "40"]
        assert jobs.start(tmp_path, "d", "s", 40).state == "done"  # the newest is still there
    finally:
        jobs.close()
