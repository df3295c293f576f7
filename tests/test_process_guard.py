"""tests/conftest.py refuses a process to a test without the ``integration`` marker, so
``pytest -m "not integration"`` stays in-process: checked on a small test file run by pytest
with our conftest."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from support import ROOT

pytestmark = pytest.mark.integration  # it runs pytest in a process

TESTS = """
import asyncio
import multiprocessing
import subprocess

import pytest


def test_runs_a_command():
    subprocess.run(["true"], check=True)


def test_hides_the_error():
    try:
        subprocess.run(["true"])
    except Exception:
        pass


def test_asyncio_subprocess():
    asyncio.run(asyncio.create_subprocess_exec("true"))


def test_multiprocessing():
    multiprocessing.get_context("spawn").Process(target=print).start()


@pytest.fixture(scope="module")
def started():
    return subprocess.run(["true"])


def test_a_module_fixture_starts_one(started):
    pass


@pytest.mark.integration
def test_marked():
    assert subprocess.run(["true"]).returncode == 0


def test_in_process():
    assert sum([1, 2]) == 3
"""


def test_an_unmarked_test_that_starts_a_process_fails_and_says_why(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_guarded.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\npythonpath = {ROOT / 'tests'}\nmarkers =\n    integration: starts a process\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert out.splitlines()[-1].startswith("4 failed, 2 passed, 1 error"), out
    assert "ERROR test_guarded.py::test_a_module_fixture_starts_one" in out
    for name in (
        "test_runs_a_command",
        "test_hides_the_error",
        "test_asyncio_subprocess",
        "test_multiprocessing",
    ):
        assert f"FAILED test_guarded.py::{name}" in out
    message = "test_guarded.py::test_runs_a_command starts a process (subprocess.Popen): "
    assert message + "mark it integration" in out
    assert "test_hides_the_error starts a process (subprocess.Popen): mark it integration" in out
    assert "test_multiprocessing starts a process (multiprocessing)" in out
