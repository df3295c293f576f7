"""Issue 25 item 9: a `uv run` says nothing of its own (no "Bytecode compiled N files" each
time), and scripts/bootstrap.sh, with uv already on PATH, touches nothing outside the project."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from support import ROOT

pytestmark = pytest.mark.integration


def test_uv_run_prints_only_what_the_command_prints():
    uv = shutil.which("uv")
    assert uv, "uv is on PATH (make test's bootstrap)"
    for _ in range(2):  # the second run is the everyday one
        done = subprocess.run(
            [uv, "run", "--frozen", "python", "-c", "print('ok')"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert "Bytecode compiled" not in done.stderr, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_bootstrap_with_uv_on_path_changes_nothing_outside_the_project(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # uv's own cache stays where it is (it is uv's, made by any uv command, not bootstrap's)
    cache = subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True, check=True)
    env = {**os.environ, "HOME": str(home), "UV_CACHE_DIR": cache.stdout.strip()}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert list(home.iterdir()) == [], list(home.iterdir())  # no ~/.profile line, nothing
    assert "/usr/local/bin" not in done.stderr and "installing uv" not in done.stderr
    assert (ROOT / ".venv" / ".bytecode-compiled").exists()  # compiled once, for this lock
