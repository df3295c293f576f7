"""One server per data folder, and a busy port is one clear line (issue 11, item 16)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from support import ServerProcess, free_port, motion_messages

pytestmark = pytest.mark.integration


def serve(workdir, data_dir, port: int) -> tuple[int, subprocess.CompletedProcess]:
    """Run ``hitting-coach serve`` to its end (it is expected to refuse to start): its pid
    and what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))}
    env.update(HITTING_COACH_DATA_DIR=str(data_dir), HITTING_COACH_LOG_LEVEL="info")
    cmd = [sys.executable, "-m", "hitting_coach.cli", "serve", "--port", str(port)]
    with subprocess.Popen(
        [*cmd, "--address", "127.0.0.1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    return proc.pid, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_a_second_server_on_the_same_data_folder_names_the_first_and_touches_nothing(tmp_path):
    first = ServerProcess(tmp_path).start()
    try:
        data = tmp_path / "data"
        for m in motion_messages(3):
            assert first.post(m)[0] == 200
        # A crashed earlier run's journal is waiting: the second server must not recover it.
        dead = data / "journal" / "20240101T000000000000-1-abcdef.jsonl"
        dead.write_bytes(next((data / "journal").glob("*.jsonl")).read_bytes())
        lock = (data / "server.lock").read_text()

        pid, second = serve(tmp_path, data, free_port())
        assert second.returncode == 1, second.stdout + second.stderr
        assert second.stderr.strip() == (
            f"hitting-coach: error: data directory {data} is in use by another hitting-coach "
            f"serve (pid {first.proc.pid}); stop it first, or set HITTING_COACH_DATA_DIR to "
            "another folder"
        )
        assert second.stdout == ""  # no URLs printed, nothing started
        # Nothing of the second server's on disk, the crashed run's journal untouched.
        assert not [p for p in data.rglob(f"*-{pid}-*")]
        assert sorted(p.name for p in data.glob("journal/20240101T*")) == [dead.name]
        assert (data / "server.lock").read_text() == lock
        assert first.status()["recording"]["ok"] is True
    finally:
        assert first.kill() == -9

    # The OS drops the lock with the process, even on SIGKILL: the next server starts,
    # recovers what the killed one journalled and takes the folder.
    third = ServerProcess(tmp_path).start()
    try:
        assert (data / "server.lock").read_text().strip() == str(third.proc.pid)
        assert third.status()["recording"]["ok"] is True
    finally:
        assert third.stop() == 0, third.output()


def test_a_busy_port_is_one_clear_line_and_the_data_folder_is_not_recorded_into(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _, result = serve(tmp_path, tmp_path / "data", port)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"hitting-coach: error: port {port} on 127.0.0.1 is in use by another program; "
        "choose another with --port or HITTING_COACH_PORT"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "data" / "journal").exists()
