"""After the README's two commands, its `uv run ...` commands work in a new shell as written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hitting_coach import __version__
from support import ROOT

pytestmark = pytest.mark.integration


def test_a_new_login_shell_runs_a_readme_uv_command():
    # `make test` ran scripts/bootstrap.sh before this suite: uv must be on a new login
    # shell's PATH (the user's own uv, or one bootstrap installed and added to ~/.profile),
    # not only on the Makefile's.
    proc = subprocess.run(
        [
            "env",
            "-i",
            f"HOME={Path.home()}",
            "bash",
            "-lc",
            f"cd {ROOT} && uv run hitting-coach --version",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == __version__
