"""The sessions page's report jobs keep a kernel ready (issue 13): a report after the first is
made by the kernel kept, its content still that session's; a kept kernel that died is replaced;
closing stops the kernel kept."""

from __future__ import annotations

import os
import re
import signal

import pytest

from hitting_coach.report_jobs import ReportJobs
from hitting_coach.sim.simulate import simulate
from hitting_coach.store.sessions import session_summaries
from support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DEVICE = "phone-jobs"


@pytest.fixture
def sessions(tmp_path, record):
    """Two recorded sessions with no report yet (pelvis+wrist, 20 s, a swing every 6 s):
    ``(data dir, {session id: (end_ns, swings)})``."""
    data_dir = tmp_path / "data"
    truth = {}
    for seed, name in enumerate(["first", "second"], start=3):
        sim = simulate("pelvis+wrist", duration_s=20.0, swing_every_s=6.0, rate_hz=100, seed=seed)
        record(data_dir, sim.messages(device_id=DEVICE, session_id=name))
        truth[name] = len(sim.truth)
    ends = {s.session_id: int(s.end_ns) for s in session_summaries(data_dir)}
    return data_dir, {name: (ends[name], swings) for name, swings in truth.items()}


@pytest.fixture
def jobs():
    jobs = ReportJobs()
    yield jobs
    jobs.close(timeout_s=60)


def running(pid: int | None) -> bool:
    """Whether a process runs (a zombie counts as gone)."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kept_kernel(jobs: ReportJobs) -> int:
    """The pid of the kernel the jobs keep ready, once there is one."""
    return wait_for(lambda: jobs.spare and jobs.spare.pid, 60, what="a kernel kept ready")


def make(jobs: ReportJobs, data_dir, session: str, end_ns: int):
    job = jobs.start(data_dir, DEVICE, session, end_ns)
    wait_for(lambda: job.state in ("done", "failed"), 300, interval=0.2, what=f"report {session}")
    assert job.state == "done", job.error
    return job


def title_and_line(path) -> str:
    """The report's title and the line under it (a Panel HTML pane: escaped in its JSON)."""
    found = re.search(r"&lt;h2&gt;(.*?)&lt;/h2&gt;&lt;p&gt;(.*?)&lt;/p&gt;", path.read_text())
    assert found, "no heading in the report"
    return f"{found.group(1)}\n{found.group(2)}"


def assert_report_of(path, session: str, swings: int) -> None:
    html = path.read_text()
    title, line = title_and_line(path).splitlines()
    assert title == f"{session} ({DEVICE})"
    assert line.endswith(f" {swings} swings found"), line
    for heading in ("The session at a glance", "Raw signals", "Swings found", "Trends"):
        assert heading in html
    assert "swing-slider" in html and "Traceback (most recent call last)" not in html


def test_a_second_report_is_made_by_the_kernel_kept_ready(sessions, jobs):
    data_dir, truth = sessions
    jobs.prepare()
    first_kernel = kept_kernel(jobs)
    first = make(jobs, data_dir, "first", truth["first"][0])
    assert first.warm and first.kernel_pid == first_kernel
    assert_report_of(first.path, "first", truth["first"][1])
    # One report per kernel: the one used is gone, another is ready for the next report.
    wait_for(lambda: not running(first_kernel), 30, what="the first report's kernel to stop")
    second_kernel = kept_kernel(jobs)
    assert second_kernel != first_kernel and running(second_kernel)

    second = make(jobs, data_dir, "second", truth["second"][0])
    assert second.warm and second.kernel_pid == second_kernel
    assert_report_of(second.path, "second", truth["second"][1])


def test_a_kept_kernel_that_died_is_replaced(sessions, jobs):
    data_dir, truth = sessions
    jobs.prepare()
    dead = kept_kernel(jobs)
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: not running(dead), 30, what="the killed kernel to go")
    job = make(jobs, data_dir, "first", truth["first"][0])
    assert not job.warm and job.kernel_pid not in (None, dead)
    assert_report_of(job.path, "first", truth["first"][1])


def test_closing_stops_the_kernel_kept_ready():
    jobs = ReportJobs()
    jobs.prepare()
    pid = kept_kernel(jobs)
    jobs.close(timeout_s=60)
    jobs.close()  # twice is fine
    wait_for(lambda: not running(pid), 30, what="the kept kernel to stop")
    assert jobs.spare is None


def test_without_keep_warm_no_kernel_waits_between_reports(sessions):
    data_dir, truth = sessions
    jobs = ReportJobs(keep_warm=False)
    try:
        jobs.prepare()
        job = make(jobs, data_dir, "first", truth["first"][0])
        assert not job.warm and jobs.spare is None
    finally:
        jobs.close(timeout_s=60)
