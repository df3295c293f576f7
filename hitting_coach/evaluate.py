"""``hitting-coach evaluate``: how well swing detection does on recordings with known swings.

Sources of recordings with their truth:

- a folder of labelled wrist recordings like ``../shared/realdata/utd-mhad-wrist`` (CSV files
  named ``<action>_s<subject>_t<trial>.csv`` beside a ``to_sensor_logger.py`` that turns one
  into Apple Watch readings): the file name gives the action, a ``baseball_swing`` holds one
  swing (its time is not known), every other action none;
- Sensor Logger exports (zip, folder of CSVs or JSON, or a folder of them) with a CSV of swing
  times (``--truth``: columns ``recording`` and ``time_s`` from the recording's first reading,
  or ``time_ns`` epoch; optional ``hand_peak_dps``, ``pelvis_peak_dps``, ``bat_peak_dps``; a
  row with no time says the recording has no swing);
- recorded sessions (``--session``), judged against the coach's marks: the swings the coach
  kept or added are the truth;
- the simulator (``--simulate N``): N sessions with swings and confusers, truth from the model.

For each recording: the swings in truth and found (full swings; checked ones are counted apart),
the matches (a found swing whose window, widened by ``--tolerance-s``, holds a true swing's
time), recall, precision, the median timing error (found peak - true time, ms) and the median
peak error (%) where the truth has them; then the same over all recordings.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.analysis.swings import guess_placement, swings
from hitting_coach.config import PLACEMENTS
from hitting_coach.errors import SessionError
from hitting_coach.sensors import WRIST_MOTION

__all__ = [
    "Recording",
    "evaluate",
    "labelled_folder",
    "report_text",
    "sensor_logger_exports",
    "simulated",
    "summary",
]

_LABELLED = re.compile(r"^(?P<action>[a-z_]+)_s\d+_t\d+$")
_SWING_ACTION = "baseball_swing"
_SEGMENTS = ("hand", "pelvis", "bat")
_START_NS = 1_750_000_000_000_000_000


@dataclass
class Recording:
    """One recording with its truth: ``truth_ns`` the true swings' times (epoch ns), or None
    with ``n_truth`` when only their number is known; ``truth_peaks`` per segment (°/s)."""

    name: str
    frames: dict[str, pd.DataFrame]
    n_truth: int
    truth_ns: list[int] | None = None
    truth_peaks: dict[str, list[float]] = field(default_factory=dict)
    placement: str | None = None
    group: str = ""


def _converter(folder: Path) -> Any:
    script = folder / "to_sensor_logger.py"
    if not script.is_file():
        raise SessionError(f"{folder}: no to_sensor_logger.py beside the labelled recordings")
    spec = importlib.util.spec_from_file_location("to_sensor_logger", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def labelled_folder(folder: str | Path) -> list[Recording]:
    """The recordings of a labelled folder (module docstring), as watch readings. Raises
    SessionError when the folder has no labelled CSV or no converter."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.csv") if _LABELLED.match(p.stem))
    if not files:
        raise SessionError(f"{folder}: no labelled recordings (<action>_s<N>_t<N>.csv)")
    convert = _converter(folder)
    out = []
    for k, path in enumerate(files):
        try:
            readings = convert.readings(str(path), _START_NS + k * 10_000_000_000)
        except (ValueError, IndexError, OSError) as e:
            raise SessionError(f"{path}: cannot read it as a labelled recording: {e}") from None
        frame = pd.DataFrame([r["values"] for r in readings])
        frame.insert(0, "time_ns", np.array([r["time"] for r in readings], dtype=np.int64))
        action = _LABELLED.match(path.stem)["action"]
        n = 1 if action == _SWING_ACTION else 0
        out.append(Recording(path.stem, {WRIST_MOTION: frame}, n, group=action))
    return out


def _read_truth(path: Path) -> pd.DataFrame:
    try:
        truth = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise SessionError(f"cannot read the truth CSV {path}: {e}") from None
    if "recording" not in truth or not {"time_s", "time_ns"} & set(truth.columns):
        raise SessionError(f"{path}: the truth CSV needs columns recording and time_s or time_ns")
    return truth


def sensor_logger_exports(
    paths: Sequence[str | Path], truth_csv: str | Path, max_bytes: int | None = None
) -> list[Recording]:
    """Sensor Logger exports (each a zip, CSV folder or JSON; a folder holding several is
    opened) with their swings from ``truth_csv``. Raises SessionError for an unreadable export,
    a recording missing from the truth, or a bad truth value."""
    from hitting_coach.store.exports import read_export

    truth = _read_truth(Path(truth_csv))
    exports: list[Path] = []
    for p in map(Path, paths):
        inner = sorted(c for c in p.iterdir() if c.suffix in (".zip", ".json") or c.is_dir())
        exports += inner if p.is_dir() and not list(p.glob("*.csv")) and inner else [p]
    out = []
    for path in exports:
        session = read_export(path, max_bytes=max_bytes)
        name = path.stem if path.is_file() else path.name
        rows = truth[truth["recording"].astype(str) == name]
        if rows.empty:
            raise SessionError(f"{truth_csv}: no truth for the recording {name!r}")
        first = min(int(f["time_ns"].min()) for f in session.frames.values() if len(f))
        times = []
        for row in rows.itertuples(index=False):
            t = _truth_time(row, first, truth_csv, name)
            if t is not None:
                times.append(t)
        peaks = {
            seg: rows[f"{seg}_peak_dps"].dropna().astype(float).tolist()
            for seg in _SEGMENTS
            if f"{seg}_peak_dps" in rows
        }
        out.append(Recording(name, dict(session.frames), len(times), times, peaks))
    return out


def _truth_time(row: Any, first_ns: int, where: Any, name: str) -> int | None:
    ns = getattr(row, "time_ns", math.nan)
    s = getattr(row, "time_s", math.nan)
    try:
        if not pd.isna(ns):
            return int(ns)
        if not pd.isna(s):
            return first_ns + round(float(s) * 1e9)
    except (TypeError, ValueError):
        raise SessionError(f"{where}: a time of {name!r} is not a number") from None
    return None


def sessions_with_marks(refs: Sequence[str], data_dir: str | Path | None) -> list[Recording]:
    """Recorded sessions judged against the coach's marks: the swings kept or added by the
    coach are the truth. Raises SessionError for a missing session."""
    from hitting_coach.analysis.corrections import session_swings
    from hitting_coach.store.sessions import load_session

    out = []
    for ref in refs:
        corrected = session_swings(ref, data_dir)
        frames = dict(load_session(ref, data_dir).frames)
        times = [int(_time_of(row)) for row in corrected.to_dict("records")]
        out.append(Recording(ref, frames, len(times), times))
    return out


def simulated(n: int, seed: int = 0) -> list[Recording]:
    """``n`` simulated sessions, placements in turn, each with three swings by one hitter (at
    60-100% of today's speeds) and then two confusers."""
    from hitting_coach.sim.confusers import CONFUSERS
    from hitting_coach.sim.simulate import random_hitter, random_swing, simulate

    rng = np.random.default_rng([seed, 9])
    out = []
    for i in range(n):
        placement = PLACEMENTS[i % len(PLACEMENTS)]
        hitter = random_hitter(rng, float(rng.uniform(0.6, 1.0)))
        specs = [random_swing(rng, t, **hitter) for t in (2.5, 11.5, 20.5)]
        kinds = [str(k) for k in rng.choice(CONFUSERS, 2, replace=False)]
        s = simulate(
            placement,
            duration_s=48.0,
            swings=specs,
            confusers=[(kinds[0], 29.5), (kinds[1], 38.5)],
            seed=int(rng.integers(2**31)),
            gyro_range_dps=4000.0,
        )
        times = [int(t) for t in _truth_peak_ns(s.truth)]
        peaks = {seg: s.truth[f"{seg}_peak_dps"].dropna().tolist() for seg in _SEGMENTS}
        name = f"sim-{i}-{placement}-{'+'.join(kinds)}"
        out.append(Recording(name, s.frames, len(times), times, peaks, placement, placement))
    return out


def _truth_peak_ns(truth: pd.DataFrame) -> list[int]:
    cols = [f"{seg}_peak_ns" for seg in _SEGMENTS]
    return [int(max(v for v in row if not pd.isna(v))) for row in truth[cols].itertuples(False)]


def _time_of(row: dict[str, Any]) -> float:
    for seg in _SEGMENTS:
        v = row.get(f"{seg}_peak_ns")
        if v is not None and not pd.isna(v):
            return float(v)
    return (float(row["start_ns"]) + float(row["end_ns"])) / 2


def evaluate(
    recordings: Iterable[Recording], placement: str | None = None, tolerance_s: float = 0.5
) -> pd.DataFrame:
    """One row per recording: ``recording``, ``group``, ``truth``, ``found``, ``checked``,
    ``matched``, ``recall``, ``precision``, ``timing_ms`` (median |found peak - true time|) and
    ``<segment>_peak_error_pct`` (median |found / true - 1|), NaN where not known."""
    rows = []
    tol = round(tolerance_s * 1e9)
    for rec in recordings:
        try:
            where = placement or rec.placement or guess_placement(rec.frames)
            table = swings(rec.frames, where, gyro_range_dps=4000.0)
        except ValueError as e:
            raise SessionError(f"cannot analyse {rec.name}: {e}") from None
        checked = table["checked"].to_numpy(bool)
        full = table[~checked].to_dict("records")
        row: dict[str, Any] = {
            "recording": rec.name,
            "group": rec.group,
            "truth": rec.n_truth,
            "found": len(full),
            "checked": int(checked.sum()),
        }
        errors: list[float] = []
        peak_errors: dict[str, list[float]] = {seg: [] for seg in _SEGMENTS}
        if rec.truth_ns is None:
            row["matched"] = min(len(full), rec.n_truth)
        else:
            pairs = _match(full, rec.truth_ns, tol)
            row["matched"] = len(pairs)
            for f, t in pairs:
                errors.append(abs(_time_of(full[f]) - rec.truth_ns[t]) / 1e6)
                for seg, values in rec.truth_peaks.items():
                    found_peak = full[f].get(f"{seg}_peak_dps")
                    if t < len(values) and found_peak is not None and not pd.isna(found_peak):
                        peak_errors[seg].append(abs(found_peak / values[t] - 1) * 100)
        row["timing_ms"] = float(np.median(errors)) if errors else math.nan
        for seg in _SEGMENTS:
            e = peak_errors[seg]
            row[f"{seg}_peak_error_pct"] = float(np.median(e)) if e else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        raise SessionError("no recordings to evaluate")
    out["recall"] = _ratio(out["matched"], out["truth"])
    out["precision"] = _ratio(out["matched"], out["found"])
    return out


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a / b.where(b > 0)).astype(float)


def _match(found: list[dict[str, Any]], truth_ns: list[int], tol_ns: int) -> list[tuple[int, int]]:
    """Pairs (found index, truth index): nearest first, each used once, a true time within the
    found window widened by the tolerance."""
    cands = []
    for i, f in enumerate(found):
        lo, hi = int(f["start_ns"]) - tol_ns, int(f["end_ns"]) + tol_ns
        for j, t in enumerate(truth_ns):
            if lo <= t <= hi:
                cands.append((abs(_time_of(f) - t), i, j))
    used_f, used_t, pairs = set(), set(), []
    for _, i, j in sorted(cands):
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Totals over all recordings: truth, found, checked, matched, recall, precision and the
    median of the per-recording timing and peak errors."""
    truth, found, matched = (int(table[c].sum()) for c in ("truth", "found", "matched"))
    out: dict[str, float] = {
        "truth": truth,
        "found": found,
        "checked": int(table["checked"].sum()),
        "matched": matched,
        "recall": matched / truth if truth else math.nan,
        "precision": matched / found if found else math.nan,
    }
    for c in ("timing_ms", *(f"{seg}_peak_error_pct" for seg in _SEGMENTS)):
        out[c] = float(table[c].median()) if table[c].notna().any() else math.nan
    return out


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def _num(x: float, fmt: str) -> str:
    return "-" if math.isnan(x) else format(x, fmt)


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<44} {int(r['truth']):>5} {int(r['found']):>5} {int(r['checked']):>7} "
        f"{int(r['matched']):>7} {_pct(r['recall']):>6} {_pct(r['precision']):>9} "
        f"{_num(r['timing_ms'], '.0f'):>9} "
        + " ".join(f"{_num(r[f'{s}_peak_error_pct'], '.1f'):>6}" for s in _SEGMENTS)
    )


def report_text(table: pd.DataFrame, per_file: bool = True) -> str:
    """The evaluation as text: one line per recording (when ``per_file``), per group, and
    overall."""
    head = (
        f"{'recording':<44} {'truth':>5} {'found':>5} {'checked':>7} {'matched':>7} "
        f"{'recall':>6} {'precision':>9} {'timing_ms':>9} "
        + " ".join(f"{s + '%':>6}" for s in _SEGMENTS)
    )
    lines = [head]
    if per_file:
        lines += [_line(r["recording"], r) for r in table.to_dict("records")]
    if table["group"].astype(bool).any():
        lines.append("")
        for group, part in table.groupby("group", sort=True):
            lines.append(_line(f"[{group}]", summary(part)))
    lines += ["", _line("overall", summary(table))]
    return "\n".join(lines) + "\n"


def evaluate_command(args: argparse.Namespace, settings: Any) -> int:
    recordings: list[Recording] = []
    labelled = [p for p in args.paths if Path(p, "to_sensor_logger.py").is_file()]
    exports = [p for p in args.paths if p not in labelled]
    for folder in labelled:
        recordings += labelled_folder(folder)
    if exports:
        if not args.truth:
            raise SessionError("Sensor Logger exports need --truth, a CSV of swing times")
        recordings += sensor_logger_exports(exports, args.truth, settings.import_max_bytes)
    if args.session:
        recordings += sessions_with_marks(args.session, settings.data_path)
    if args.simulate:
        recordings += simulated(args.simulate, args.seed)
    if not recordings:
        raise SessionError("nothing to evaluate: give a folder, exports, --session or --simulate")
    table = evaluate(recordings, args.placement, args.tolerance_s)
    print(report_text(table, per_file=not args.summary), end="")
    return 0
