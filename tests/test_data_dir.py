"""``--data-dir`` means the same for every command: relative to the project directory (the
nearest folder holding a ``.env`` or ``pyproject.toml``), whatever folder of the project the
command runs in. And the store reads no settings: its caller passes the data directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import hitting_coach
from hitting_coach.cli import main
from hitting_coach.store.sessions import list_sessions
from support import motion_messages

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def project(tmp_path, record, monkeypatch):
    """A project with a session in ``xdata/``, the shell in its ``notes/`` folder, and no
    data directory in the environment."""
    for name in list(os.environ):
        if name.startswith(("HITTING_COACH_", "MQTT_")):
            monkeypatch.delenv(name)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'practice'\n")
    record(tmp_path / "xdata", motion_messages(5, start_ns=T0, session="a1b2c3-morning"))
    (tmp_path / "notes").mkdir()
    monkeypatch.chdir(tmp_path / "notes")
    return tmp_path


def test_sessions_takes_the_data_dir_relative_to_the_project(project, capsys):
    assert main(["sessions", "--data-dir", "xdata"]) == 0
    assert "a1b2c3-morning" in capsys.readouterr().out
    assert not (project / "notes" / "xdata").exists()


@pytest.mark.integration
def test_report_takes_the_data_dir_relative_to_the_project(project):
    """The same session is found from the project's subfolder (the take it lacks is named:
    the session itself was found, so no kernel runs a notebook)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITTING_COACH_", "MQTT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "hitting_coach.cli", "report", "a1b2", "--take", "nope"]
        + ["--data-dir", "xdata", "-o", "r.html"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project / "notes",
        env=env,
    )
    assert done.returncode == 1
    expected = "no take 'nope' in session a1b2c3-morning (takes: none)"
    assert done.stderr == f"hitting-coach: error: {expected}\n"
    assert not (project / "notes" / "r.html").exists()


def test_the_store_needs_its_data_dir_from_the_caller(project):
    with pytest.raises(TypeError, match="no data directory given"):
        list_sessions()
    assert list(list_sessions(project / "xdata")["session_id"]) == ["a1b2c3-morning"]


def test_the_notebook_functions_use_the_data_dir_setting(project, monkeypatch):
    monkeypatch.setenv("HITTING_COACH_DATA_DIR", "xdata")  # relative to the project
    assert list(hitting_coach.list_sessions()["session_id"]) == ["a1b2c3-morning"]
    assert len(hitting_coach.load_session("latest")["gyroscope"]) == 100
    assert hitting_coach.list_marks("latest").empty
