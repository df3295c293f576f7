"""Real wrist recordings (UTD-MHAD, ../shared/realdata) through the live ingest path.

Each recording is turned into the push messages an Apple Watch sends through Sensor Logger
(by the package's own reader, :mod:`hitting_coach.evaluate_sets`), ingested by the hub and
analysed by LiveSwings, as the server does. What the detector must show: every baseball swing found once, no throw, bowling
delivery or tennis serve counted. Tennis forehands are not counted either (their racket path
rises steeply, so most of the rotation is about a tilted axis): asserted as documented.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.evaluate_sets import labelled_wrist_frame
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import to_messages

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "utd-mhad-wrist"
ACTIONS = ("baseball_swing", "throw", "bowling", "tennis_serve", "tennis_forehand")
START_NS = 1_750_000_000_000_000_000


def messages(path: Path, start_ns: int, device: str, session: str = "utd") -> list[dict]:
    """A recording as the watch's push messages, 0.2 s (10 readings) each."""
    frames = {"wrist motion": labelled_wrist_frame(path, start_ns)}
    return to_messages(frames, device_id=device, session_id=session, t0_ns=start_ns)


def recordings() -> list[Path]:
    files = sorted(REALDATA.glob("*.csv"))
    assert len(files) == 80, f"expected the 80 UTD-MHAD recordings in {REALDATA}"
    return files


def live_swings(paths: list[Path]) -> dict[str, list[dict]]:
    """Every recording as its own device (a fresh hitter), fed message by message to the hub;
    LiveSwings polls every few messages like its worker thread. Full and checked rows per file."""
    hub = Hub()
    live = LiveSwings(hub)
    for k, path in enumerate(paths):
        for i, message in enumerate(messages(path, START_NS + k * 10_000_000_000, path.stem)):
            hub.ingest(orjson.dumps(message))
            if i % 2 == 0:
                live.poll()
        live.poll()
    return {p.stem: live.rows(p.stem) for p in paths}


@pytest.fixture(scope="module")
def found() -> dict[str, list[dict]]:
    return live_swings(recordings())


def test_every_baseball_swing_is_found_exactly_once(found):
    swings = {name: rows for name, rows in found.items() if name.startswith("baseball_swing")}
    assert len(swings) == 16
    for name, rows in swings.items():
        full = [r for r in rows if not r["checked"]]
        assert len(full) == 1, (name, len(full))
        assert len(rows) == 1, (name, "a checked swing reported beside the swing")
        row = full[0]
        assert row["placement"] == "wrist"
        # the hands went round the body, about a near-vertical axis, at the speed measured
        assert row["turn_deg"] > 150 and row["vertical_share"] > 0.5
        assert 450 < row["hand_peak_measured_dps"] < 1100


@pytest.mark.parametrize("action", ["throw", "bowling", "tennis_serve", "tennis_forehand"])
def test_no_other_action_is_counted_as_a_swing(found, action):
    rows = {name: rows for name, rows in found.items() if name.startswith(action)}
    assert len(rows) == 16
    counted = {name: len(r) for name, r in rows.items() if r}
    assert counted == {}, f"{action} reported as swings (or checked swings): {counted}"


def test_recall_and_precision_are_100_percent_against_throws_bowling_and_serves(found):
    negatives = ("throw", "bowling", "tennis_serve")
    tp = sum(1 for n, rows in found.items() if n.startswith("baseball_swing") and len(rows) == 1)
    fp = sum(len(rows) for n, rows in found.items() if n.startswith(negatives))
    fp += sum(max(len(r) - 1, 0) for n, r in found.items() if n.startswith("baseball_swing"))
    assert tp / 16 == 1.0 and tp / (tp + fp) == 1.0
