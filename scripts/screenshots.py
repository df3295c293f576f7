"""Screenshots for the README, made from the demo so they stay true.

Starts ``hitting-coach serve --demo`` (a free port, a fresh data folder), lets the demo swing
for a while, and with Chromium takes: the live view on a desktop (1280×900) and on a phone
(390×844), the sessions page and a player's page (desktop and phone), and the report of the demo
session. Writes PNGs to docs/images/::

    uv run python scripts/screenshots.py [--wait 40]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the demo server exited with {proc.returncode}")
        try:
            httpx.get(f"{base}/sensor/status.json", timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"the demo server did not answer in {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=40, help="seconds of demo before shooting")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hc-shots-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))},
            "HITTING_COACH_DATA_DIR": str(data),
            "HITTING_COACH_LOG_LEVEL": "warning",
            "HITTING_COACH_PARQUET_INTERVAL_S": "1",
        }
        cmd = [sys.executable, "-m", "hitting_coach.cli", "serve", "--demo"]
        cmd += ["--port", str(port), "--address", "127.0.0.1"]
        with open(Path(tmp) / "server.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until_up(base, proc)
                print(f"demo running at {base}; letting it swing for {args.wait:.0f} s")
                time.sleep(args.wait)
                shoot(base, data)
            finally:
                proc.terminate()
                code = proc.wait(60)
        if code != 0:
            print((Path(tmp) / "server.log").read_text()[-2000:], file=sys.stderr)
            return 1
    return 0


def shoot(base: str, data: Path) -> None:
    from hitting_coach.report import write_report

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for name, viewport, mobile in [
                ("live-desktop", {"width": 1280, "height": 900}, False),
                ("live-phone", {"width": 390, "height": 844}, True),
            ]:
                context = browser.new_context(
                    viewport=viewport, is_mobile=mobile, has_touch=mobile, device_scale_factor=1
                )
                page = context.new_page()
                page.goto(f"{base}/sensor/")
                page.wait_for_timeout(8000)  # a few swings arrive and the plots fill
                page.screenshot(path=str(OUT / f"{name}.png"))
                print(f"wrote {OUT / name}.png")
                context.close()
            report = Path(data.parent) / "report.html"
            write_report("latest", report, data_dir=data, progress=lambda t: print("report:", t))
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(report.as_uri())
            page.wait_for_timeout(5000)
            page.screenshot(path=str(OUT / "report.png"))
            print(f"wrote {OUT / 'report.png'}")
            page.goto(f"{base}/sensor/sessions")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(OUT / "sessions.png"))
            print(f"wrote {OUT / 'sessions.png'}")
            page.locator("a.hc-player").first.click()  # the player's page
            page.wait_for_timeout(4000)
            page.screenshot(path=str(OUT / "player.png"))
            print(f"wrote {OUT / 'player.png'}")
            player_url = page.url
            context.close()
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            for name, url in (
                ("sessions-phone", f"{base}/sensor/sessions"),
                ("player-phone", player_url),
            ):
                page.goto(url)
                page.wait_for_timeout(3000)
                page.screenshot(path=str(OUT / f"{name}.png"))
                print(f"wrote {OUT / name}.png")
            context.close()
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
