"""The wheel on its own: built, installed into a fresh virtualenv outside the checkout, and used
as a user would: serve (demo), report, broker --print-config and the notebooks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from support import ROOT, free_port, get_json, wait_for

pytestmark = pytest.mark.integration

UV = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A virtualenv outside the checkout with only the built wheel (and its dependencies)."""
    base = tmp_path_factory.mktemp("wheel")
    env = {  # the machine's environment (package index, certificates), not the project's
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HITTING_COACH_", "MQTT_", "VIRTUAL_ENV", "UV_PROJECT"))
    }
    env["PATH"] = f"{base / 'venv' / 'bin'}:{Path(UV).parent}:/usr/local/bin:/usr/bin:/bin"
    run([UV, "build", "--wheel", "-o", str(base / "dist"), str(ROOT)], base, env)
    wheels = list((base / "dist").glob("hitting_coach-*.whl"))
    assert len(wheels) == 1
    run([UV, "venv", "-q", str(base / "venv")], base, env)
    run(
        [UV, "pip", "install", "-q", "--python", str(base / "venv/bin/python"), str(wheels[0])],
        base,
        env,
    )
    work = base / "work"  # far from the checkout: nothing of the repository is reachable
    work.mkdir()
    env["HITTING_COACH_DATA_DIR"] = str(work / "data")
    env["HITTING_COACH_LOG_LEVEL"] = "warning"
    return work, env


def test_the_installed_package_is_not_the_checkout(installed):
    work, env = installed
    out = run(["python", "-c", "import hitting_coach; print(hitting_coach.__file__)"], work, env)
    assert "site-packages" in out and str(ROOT) not in out
    # the live plots' browser half is a file of the package, read from the wheel's copy
    script = "from hitting_coach.ui.dashboard import LIVE_PLOT_JS; print('live.ws' in LIVE_PLOT_JS)"
    assert run(["python", "-c", script], work, env).strip() == "True"


def test_broker_prints_its_config(installed):
    work, env = installed
    out = run(["hitting-coach", "broker", "--print-config"], work, env)
    settings = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    assert any(line.startswith("listener ") for line in settings)
    assert not [line for line in settings if "${" in line]  # every field filled in


def test_serve_demo_report_and_notebooks_from_the_wheel(installed):
    work, env = installed
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen(
        ["hitting-coach", "serve", "--demo", "--port", str(port), "--address", "127.0.0.1"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def demo_readings() -> int:
            if server.poll() is not None:
                raise AssertionError((work / "serve.log").read_text())
            try:
                return get_json(base + "/sensor/status.json")["readings"] > 2_000
            except httpx.HTTPError:
                return False

        wait_for(demo_readings, timeout=90, what="demo readings")
        page = subprocess.run(
            ["python", "-c", f"import httpx; print(httpx.get('{base}/sensor/', timeout=60).text)"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert "bokeh" in page.lower()

        # The notebooks come out of the wheel, and the live one runs against this server.
        out = run(["hitting-coach", "notebooks", "nb"], work, env)
        assert "01-live.ipynb" in out and "02-session-report.ipynb" in out
        assert "03-explore.ipynb" in out
        # and the environment's JupyterLab hands comms to the main shell (README, JupyterLab)
        settings = work.parent / "venv/share/jupyter/lab/settings/overrides.d/hitting-coach.json"
        kernels = json.loads(settings.read_text())[
            "@jupyterlab/apputils-extension:kernels-settings"
        ]
        assert kernels == {"commsOverSubshells": "disabled"}
        script = (
            "from hitting_coach.report import execute_notebook\n"
            f"nb = execute_notebook('nb/01-live.ipynb', {{'SERVER_URL': '{base}', 'WAIT_S': 60}})\n"
            "print([o.get('text', '') for c in nb.cells for o in c.get('outputs', [])])\n"
        )
        assert "receiving from" in run(["python", "-c", script], work, env)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0, (work / "serve.log").read_text()
        log.close()

    out = run(["hitting-coach", "report", "latest", "-o", "report.html"], work, env)
    assert "report.html" in out
    html = (work / "report.html").read_text()
    assert "Hitting Coach report" in html and "swing" in html
