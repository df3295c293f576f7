from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    """A running ``hitting-coach serve`` (HTTP only) with its own data dir; stopped cleanly."""
    proc = ServerProcess(tmp_path).start()
    yield proc
    code = proc.stop()
    assert code == 0, f"server exited with {code}:\n{proc.output()}"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()
