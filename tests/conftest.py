from __future__ import annotations

import _posixsubprocess
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from support import CHROMIUM, CHROMIUM_ARGS, PHONE_SCREEN, ServerProcess

# -- Tests that start a process say so ------------------------------------------------------------
# While a test without the ``integration`` marker runs (its fixtures included, whatever their
# scope), every way of starting a process raises, and the test fails even if the caller swallowed
# the error. So ``pytest -m "not integration"`` stays an in-process, fast run, by construction.

_unmarked: list[str] = []  # the node id of the running test, if it has no integration marker
_started: list[str] = []  # what the running unmarked test tried to start


class StartsAProcess(RuntimeError):
    """Raised in a test without the ``integration`` marker that starts a process."""


def _refuse(what: str, original):
    def guarded(*args, **kwargs):
        if _unmarked:
            _started.append(what)
            raise StartsAProcess(
                f"{_unmarked[0]} starts a process ({what}): mark it integration "
                "(pytestmark = pytest.mark.integration, or @pytest.mark.integration)"
            )
        return original(*args, **kwargs)

    return guarded


_GUARDED = [
    # Where Popen (so also subprocess.run and asyncio's subprocesses) starts the child: after
    # __init__ has set up the object, so the error unwinds through Popen's own cleanup.
    (subprocess.Popen, "_execute_child", "subprocess.Popen"),
    (os, "fork", "os.fork"),
    (os, "forkpty", "os.forkpty"),
    (os, "posix_spawn", "os.posix_spawn"),
    (os, "posix_spawnp", "os.posix_spawnp"),
    (os, "system", "os.system"),
    (_posixsubprocess, "fork_exec", "multiprocessing"),
]


def pytest_configure(config: pytest.Config) -> None:
    config._process_guard = pytest.MonkeyPatch()
    for owner, name, what in _GUARDED:
        config._process_guard.setattr(owner, name, _refuse(what, getattr(owner, name)))


def pytest_unconfigure(config: pytest.Config) -> None:
    config._process_guard.undo()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if item.get_closest_marker("integration") is None:
        _unmarked.append(item.nodeid)
    try:
        return (yield)
    finally:
        _unmarked.clear()
        _started.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """A test phase that tried to start a process fails, even when the code under test caught
    the error."""
    report = yield
    if _unmarked and _started:
        message = f"{_unmarked[0]} starts a process ({', '.join(_started)}): mark it integration"
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message + " (the error was caught by the code under test)"
        elif not (call.excinfo and call.excinfo.errisinstance(StartsAProcess)):
            report.sections.append(("process guard", message))  # it failed for another reason
        _started.clear()
    return report


# -- Timing-sensitive tests share one worker ----------------------------------------------------
# ``make test`` runs the suite on pytest-xdist workers (``-n auto --dist loadgroup``). The modules
# whose tests measure real time (timeouts, pacing, live windows, restarts) are one group, so they
# run one after another on one worker and never compete with each other for the CPU.
TIMING_MODULES = frozenset(
    {
        "test_connections",
        "test_dashboard_browser",
        "test_live_feed",
        "test_mqtt_server",
        "test_notebooks",
        "test_recorder_server",
        "test_replay",
        "test_serve",
    }
)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__ in TIMING_MODULES:
            item.add_marker(pytest.mark.xdist_group("timing"))
        if getattr(config.option, "loadgroup", False) and not hasattr(item, "_nodeid"):
            _name_group(item)


def _name_group(item: pytest.Item) -> None:
    """Put a test's ``xdist_group`` in its node id (``...::test@timing``), which is how
    ``--dist loadgroup`` tells the groups apart. pytest-xdist 3.8 does it by setting
    ``item._nodeid``, which pytest 9 no longer reads (its node id is ``item._id``), so without
    this every group would be spread over all workers."""
    from _pytest.nodeid import coerce_node_id

    groups = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    if groups and "@" not in item.nodeid:
        item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(groups))}")


@pytest.fixture(autouse=True)
def _panel_state_reset() -> Iterator[None]:
    """Panel keeps state between tests (servers, periodic callbacks, the current document,
    caches): reset it after each test that has imported panel, as Panel's own tests do."""
    yield
    pn = sys.modules.get("panel")
    if pn is not None:
        pn.state.reset()
        pn.state.clear_caches()


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


def _page(browser, **context_options):
    """A page of a new browser context; ``page.errors`` collects the page's script errors."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return context, page


@pytest.fixture
def page(browser):
    """A desktop browser tab (1280x900)."""
    context, page = _page(browser, viewport={"width": 1280, "height": 900})
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A phone's browser tab (390x844, touch)."""
    context, page = _page(browser, viewport=PHONE_SCREEN, is_mobile=True, has_touch=True)
    yield page
    context.close()


@pytest.fixture
def mosquitto(tmp_path):
    """A running Mosquitto (TLS on TCP and WebSockets, passwords, persistence) from
    deploy/mosquitto on free ports; stopped cleanly (exit code checked)."""
    from services import Mosquitto

    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def record():
    """``record(data_dir, messages, **recorder_options)``: push Sensor Logger messages (dicts
    or raw bytes) through a hub into a recorder in this process, and close it."""
    import orjson

    from hitting_coach.ingest.hub import Hub
    from hitting_coach.store.recorder import Recorder

    def record(data_dir, messages, **options) -> None:
        with Recorder(data_dir, **options) as recorder:
            hub = Hub(sink=recorder)
            for m in messages:
                hub.ingest(m if isinstance(m, bytes) else orjson.dumps(m))

    return record


@pytest.fixture
def varied_messages():
    """``varied_messages(count, start_ns, session=...)``: messages like a real Android phone's:
    accelerometer and gyroscope at 200 Hz, orientation at 50 Hz, ``accuracy`` on some
    readings, and an annotation (text with a comma) now and then; 0.2 s per message."""
    from support import message, xyz_readings

    def build(count: int, start_ns: int, session: str = "varied", device: str = "pixel-8"):
        out = []
        for k in range(count):
            t0 = start_ns + k * 200_000_000
            payload = xyz_readings("accelerometer", t0, 40, 200, 20.0)
            payload += xyz_readings("gyroscope", t0 + 1_234, 40, 200, 10.0, 0.5)
            for r in payload[40:]:
                r["accuracy"] = 3
            for i in range(10):
                t = t0 + i * 20_000_000 + 777
                payload.append(
                    {
                        "name": "orientation",
                        "time": t,
                        "values": {
                            "qw": 1.0 - i / 100,
                            "qx": 0.1 * k,
                            "qy": -0.2,
                            "qz": i / 3,
                            "roll": 0.5 + 1e-9 * k,
                            "pitch": -1.25,
                            "yaw": 3.0 / (k + 1),
                        },
                    }
                )
            if k % 5 == 2:
                payload.append(
                    {
                        "name": "annotation",
                        "time": t0 + 55_555,
                        "values": {"text": f"swing {k}, good", "millisecond_press_duration": 120},
                    }
                )
            out.append(message(k, payload, device=device, session=session))
        return out

    return build


@pytest.fixture(scope="session")
def recorded_swings(tmp_path_factory):
    """A data dir holding one recorded session: a simulated phone on the belt relaying a watch
    (pelvis+wrist), 60 s at 200 Hz, 10 swings, pushed through the hub and the recorder.
    Returns ``(data_dir, simulated)``; the session is ``phone-1/sim-swings``."""
    import orjson

    from hitting_coach.ingest.hub import Hub
    from hitting_coach.sim.simulate import simulate
    from hitting_coach.store.recorder import Recorder

    data_dir = tmp_path_factory.mktemp("recorded") / "data"
    sim = simulate("pelvis+wrist", duration_s=60, rate_hz=200, seed=3)
    recorder = Recorder(data_dir)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        for m in sim.messages(session_id="sim-swings", device_id="phone-1"):
            hub.ingest(orjson.dumps(m), source="replay")
    finally:
        recorder.close()
    return data_dir, sim
