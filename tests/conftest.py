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
