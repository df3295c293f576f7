"""The README's troubleshooting checks, run as written against a server with the default
settings (off the loopback: an ingest token is required), and what they answer compared with
what the README says they answer."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from support import ROOT, ServerProcess

pytestmark = pytest.mark.integration


def _troubleshooting() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Troubleshooting")
    return text[start : text.index("\n## ", start + 1)]


def _said_answers() -> list[tuple[str, int, str]]:
    """``(command, status, text)`` for each "`curl ...` ... answers NNN with `text`"."""
    found = re.findall(
        r"`(curl [^`]+)`[^`]*?(?:`[^`]*`[^`]*?)*?answers (\d{3}) with\s+`([^`]+)`",
        " ".join(_troubleshooting().split()),
    )
    return [(cmd, int(code), said) for cmd, code, said in found]


def _run(command: str, server: ServerProcess, token: str) -> tuple[int, str]:
    command = command.replace("HOST:8000", f"127.0.0.1:{server.port}").replace("TOKEN", token)
    args = shlex.split(command)
    assert args[0] == "curl"
    done = subprocess.run(
        [*args, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30
    )
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


def test_the_troubleshooting_commands_answer_what_the_readme_says(tmp_path):
    said = _said_answers()
    assert len(said) == 2, said  # with the token, and without it
    server = ServerProcess(tmp_path, args=["--address", "0.0.0.0"]).start()
    try:
        token = (tmp_path / "data" / "secrets" / "ingest-token").read_text().strip()
        assert token
        for command, code, text in said:
            got_code, body = _run(command, server, token)
            assert (got_code, text in body) == (code, True), (command, got_code, body)
        # "... status.json shows every refusal by reason and the last one"
        status_cmd = re.search(r"`(curl http://HOST:8000/sensor/status\.json)`", _troubleshooting())
        assert status_cmd, "the README names its status.json check"
        code, body = _run(status_cmd.group(1), server, token)
        status = json.loads(body)
        assert code == 200
        assert status["rejected_by_reason"] == {"missing_field": 1, "bad_token": 1}
        assert status["last_rejection"]
    finally:
        assert server.stop() == 0, server.output()
