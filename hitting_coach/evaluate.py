"""``hitting-coach evaluate``: how well swing detection does on recordings with known swings.

Sources of recordings with their truth:

- a folder of labelled wrist recordings like ``../shared/realdata/utd-mhad-wrist`` (CSV files
  named ``<action>_s<subject>_t<trial>.csv``, turned into Apple Watch readings by
  :mod:`hitting_coach.evaluate_sets`, never by code found in the folder): the file name gives
  the action, a ``baseball_swing`` holds one swing (its time is not known), every other action
  none;
- a set of takes with truth like ``../shared/realdata/cmu-124-mocap`` (``truth.json`` beside
  Sensor Logger exports per take): swing times, foot plant and hand peak times from the truth;
- Sensor Logger exports (zip, folder of CSVs or JSON, or a folder of them) with a CSV of swing
  times (``--truth``: columns ``recording`` and ``time_s`` from the recording's first reading,
  or ``time_ns`` epoch; optional ``hand_peak_dps``, ``pelvis_peak_dps``, ``bat_peak_dps``; a
  row with no time says the recording has no swing);
- recorded sessions (``--session``), judged against the coach's marks: the swings the coach
  kept or added are the truth;
- the simulator (``--simulate N``): N sessions with swings and confusers, truth from the model.

For each recording: the swings in truth and found (full swings; checked, practice and
arms-only rows are counted apart), the matches (a found swing whose window, widened by
``--tolerance-s``, holds a true swing's time), recall, precision, the median timing error
(found peak - true time, ms), the median peak error (%), the foot-plant error (ms), the hand
peak's time against the truth's (signed, ms: negative is before it) and how many matched swings
have the pelvis peaking after foot plant, where the truth has them; then per data set and
overall. ``--mirror`` analyses every recording as a hitter of the other hand would make it.
``--summary`` adds the margins: how near the look-alikes and the swings came to each cut.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.analysis import swings as detector
from hitting_coach.analysis.swings import NOT_COUNTED, guess_placement
from hitting_coach.config import PLACEMENTS
from hitting_coach.errors import SessionError
from hitting_coach.evaluate_sets import labelled_wrist_frame, mirror_frames, truth_takes
from hitting_coach.sensors import WRIST_MOTION

__all__ = [
    "Recording",
    "evaluate",
    "labelled_folder",
    "margins",
    "truth_set",
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
    #: The data set it belongs to (a folder's name, "simulated", "exports", "sessions").
    dataset: str = ""
    #: Per true swing (as truth_ns): foot plant and the hand's largest reading, where known.
    truth_foot_plant_ns: list[int | None] = field(default_factory=list)
    truth_hand_peak_ns: list[int | None] = field(default_factory=list)


def is_labelled_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder of labelled recordings (``<action>_s<N>_t<N>.csv``)."""
    path = Path(path)
    return path.is_dir() and any(_LABELLED.match(p.stem) for p in path.glob("*.csv"))


def is_truth_set(path: str | Path) -> bool:
    """Whether ``path`` is a set of takes with a ``truth.json`` each."""
    path = Path(path)
    return path.is_dir() and bool(
        next(path.glob("*/truth.json"), None) or next(path.glob("virtual/*/truth.json"), None)
    )


def labelled_folder(folder: str | Path) -> list[Recording]:
    """The recordings of a labelled folder (module docstring), as watch readings. Raises
    SessionError when the folder has no labelled CSV or one cannot be read."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.csv") if _LABELLED.match(p.stem))
    if not files:
        raise SessionError(f"{folder}: no labelled recordings (<action>_s<N>_t<N>.csv)")
    out = []
    for k, path in enumerate(files):
        frame = labelled_wrist_frame(path, _START_NS + k * 10_000_000_000)
        action = _LABELLED.match(path.stem)["action"]
        n = 1 if action == _SWING_ACTION else 0
        rec = Recording(path.stem, {WRIST_MOTION: frame}, n, group=action, dataset=folder.name)
        out.append(rec)
    return out


def truth_set(folder: str | Path, max_bytes: int | None = None) -> list[Recording]:
    """The takes of a set with truth (module docstring): true swings at the hand's largest reading (else the pelvis peak), with
    their foot plants and hand peaks. Raises SessionError as
    :func:`~hitting_coach.evaluate_sets.truth_takes`."""
    folder = Path(folder)
    out = []
    for take in truth_takes(folder, max_bytes):
        # a swing's time: the hand's largest reading where known (the peak found first)
        times = [h or p for h, p in zip(take.hand_peak_ns, take.pelvis_peak_ns, strict=True)]
        rec = Recording(
            take.name,
            take.frames,
            len(times),
            times,
            dict(take.peaks),
            group="swings" if take.pelvis_peak_ns else "no swing",
            dataset=folder.name,
            truth_foot_plant_ns=list(take.foot_plant_ns),
            truth_hand_peak_ns=list(take.hand_peak_ns),
        )
        out.append(rec)
    return out


def mirrored(recordings: Iterable[Recording]) -> list[Recording]:
    """The recordings as a hitter of the other hand would make them (same truth)."""
    out = []
    for rec in recordings:
        copy = Recording(**{**vars(rec), "frames": mirror_frames(rec.frames)})
        copy.name = f"{rec.name} (mirrored)"
        out.append(copy)
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
        out.append(
            Recording(name, dict(session.frames), len(times), times, peaks, dataset="exports")
        )
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
        out.append(Recording(ref, frames, len(times), times, dataset="sessions"))
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
        rec = Recording(name, s.frames, len(times), times, peaks, placement, placement)
        rec.dataset = "simulated"
        rec.truth_foot_plant_ns = [_int_or_none(v) for v in s.truth["foot_plant_ns"]]
        rec.truth_hand_peak_ns = [_int_or_none(v) for v in s.truth["hand_peak_ns"]]
        out.append(rec)
    return out


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


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
    recordings: Iterable[Recording],
    placement: str | None = None,
    tolerance_s: float = 0.5,
    judged: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per recording: ``recording``, ``dataset``, ``group``, ``truth``, ``found``
    (full swings), ``checked``, ``practice``, ``arms_only``, ``speed_only`` (rows so marked),
    ``matched``, ``recall``, ``precision``, ``timing_ms`` (median |found peak - true time|),
    ``<segment>_peak_error_pct`` (median |found / true - 1|), ``fp_truth`` (matched swings
    whose foot plant the truth knows), ``fp_found`` (of those, with a foot plant found),
    ``fp_error_ms`` (median |found - true foot plant|), ``with_fp`` (matched swings with a foot
    plant found), ``pelvis_after_fp`` (of those, the ones whose pelvis peaked after it), ``hand_ms`` (median of found hand peak -
    the truth's, signed); NaN where not known. ``judged`` receives every window judged, each
    with ``recording``, ``dataset``, ``group`` and ``truth`` (the recording's)."""
    rows = []
    tol = round(tolerance_s * 1e9)
    for rec in recordings:
        windows: list[dict[str, Any]] = []
        try:
            where = placement or rec.placement or guess_placement(rec.frames)
            table = detector.swings(rec.frames, where, gyro_range_dps=4000.0, judged=windows)
        except ValueError as e:
            raise SessionError(f"cannot analyse {rec.name}: {e}") from None
        if judged is not None:
            meta = {"recording": rec.name, "dataset": rec.dataset, "group": rec.group}
            judged += [{**w, **meta, "truth": rec.n_truth} for w in windows]
        marks = {c: table[c].to_numpy(bool) for c in (*NOT_COUNTED, "speed_only")}
        full = table[~np.any([marks[c] for c in NOT_COUNTED], axis=0)].to_dict("records")
        row: dict[str, Any] = {
            "recording": rec.name,
            "dataset": rec.dataset,
            "group": rec.group,
            "truth": rec.n_truth,
            "found": len(full),
            **{c: int(m.sum()) for c, m in marks.items()},
        }
        errors: list[float] = []
        peak_errors: dict[str, list[float]] = {seg: [] for seg in _SEGMENTS}
        fp_errors: list[float] = []
        hand: list[float] = []
        fp_truth = fp_found = with_fp = after = 0
        if rec.truth_ns is None:
            row["matched"] = min(len(full), rec.n_truth)
        else:
            pairs = _match(full, rec.truth_ns, tol)
            row["matched"] = len(pairs)
            for f, t in pairs:
                found = full[f]
                errors.append(abs(_time_of(found) - rec.truth_ns[t]) / 1e6)
                for seg, values in rec.truth_peaks.items():
                    found_peak = found.get(f"{seg}_peak_dps")
                    if t < len(values) and found_peak is not None and not pd.isna(found_peak):
                        peak_errors[seg].append(abs(found_peak / values[t] - 1) * 100)
                fp = found.get("foot_plant_ns")
                has_fp = fp is not None and not pd.isna(fp)
                true_fp = _at(rec.truth_foot_plant_ns, t)
                if true_fp is not None and "pelvis" in str(found.get("placement")):
                    fp_truth += 1
                    if has_fp:
                        fp_found += 1
                        fp_errors.append(abs(int(fp) - true_fp) / 1e6)
                with_fp += has_fp
                after += bool(has_fp and found.get("pelvis_peak_after_fp_ms", math.nan) > 0)
                true_hand, hand_ns = _at(rec.truth_hand_peak_ns, t), found.get("hand_peak_ns")
                if true_hand is not None and hand_ns is not None and not pd.isna(hand_ns):
                    hand.append((int(hand_ns) - true_hand) / 1e6)
        row["timing_ms"] = _median(errors)
        for seg in _SEGMENTS:
            row[f"{seg}_peak_error_pct"] = _median(peak_errors[seg])
        row.update(fp_truth=fp_truth, fp_found=fp_found, with_fp=with_fp, pelvis_after_fp=after)
        row.update(fp_error_ms=_median(fp_errors), hand_ms=_median(hand))
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        raise SessionError("no recordings to evaluate")
    out["recall"] = _ratio(out["matched"], out["truth"])
    out["precision"] = _ratio(out["matched"], out["found"])
    return out


def _at(values: list[int | None], i: int) -> int | None:
    return values[i] if i < len(values) else None


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


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


_COUNTS = ("truth", "found", "checked", "practice", "arms_only", "speed_only", "matched")
_COUNTS += ("fp_truth", "fp_found", "with_fp", "pelvis_after_fp")


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Totals over all recordings: the counts, recall, precision and the median of the
    per-recording timing, peak, foot-plant and hand-peak figures."""
    out: dict[str, float] = {c: int(table[c].sum()) for c in _COUNTS if c in table}
    truth, found, matched = out["truth"], out["found"], out["matched"]
    out["recall"] = matched / truth if truth else math.nan
    out["precision"] = matched / found if found else math.nan
    medians = ("timing_ms", *(f"{seg}_peak_error_pct" for seg in _SEGMENTS), "fp_error_ms")
    for c in (*medians, "hand_ms"):
        out[c] = float(table[c].median()) if c in table and table[c].notna().any() else math.nan
    return out


def margins(judged: list[dict[str, Any]]) -> pd.DataFrame:
    """How near each group's windows came to the shape cuts (one row per data set and group):
    for groups of swings, the lowest ``vertical_share`` and ``turn_deg`` of a listed full swing
    and the lowest pelvis peak; for the others, the highest share of any window, the largest
    turn of a window level enough to pass the share cut, and the highest pelvis peak of a
    window listed. ``*_margin``: how far on the right side of the cut (negative: wrong side).
    """
    frame = pd.DataFrame(judged)
    cols = ["dataset", "group", "windows"]
    cols += [f"{c}{k}" for c in ("share", "turn", "pelvis_dps") for k in ("", "_margin")]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    share_cut, turn_cut = detector.VERTICAL_SHARE_MIN, detector.CHECKED_TURN_DEG
    pelvis_cut = detector.PELVIS_TURN_MIN_DPS
    out = []
    for (dataset, group), part in frame.groupby(["dataset", "group"], sort=True):
        share = part["vertical_share"].astype(float)
        turn = part["turn_deg"].astype(float)
        pelvis = part["pelvis_peak_measured_dps"].astype(float)
        row: dict[str, Any] = {"dataset": dataset, "group": group, "windows": len(part)}
        if (part["truth"] > 0).all():
            listed = part["reason"].isna() & ~part[list(NOT_COUNTED)].fillna(False).any(axis=1)
            s, t, p = share[listed].min(), turn[listed].min(), pelvis[listed].min()
            row.update(share=s, share_margin=s - share_cut, turn=t, turn_margin=t - turn_cut)
            row.update(pelvis_dps=p, pelvis_dps_margin=p - pelvis_cut)
        else:
            s = share.max()
            t = turn[share >= share_cut].max()
            p = pelvis[part["reason"].isna()].max()
            row.update(share=s, share_margin=share_cut - s, turn=t, turn_margin=turn_cut - t)
            row.update(pelvis_dps=p, pelvis_dps_margin=pelvis_cut - p)
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.0f}%"


def _num(x: float, fmt: str) -> str:
    return "-" if x is None or math.isnan(x) else format(x, fmt)


def _of(r: dict[str, Any], part: str, whole: str) -> str:
    return f"{int(r[part])}/{int(r[whole])}" if r[whole] else "-"


_HEAD = (
    f"{'recording':<44} {'truth':>5} {'found':>5} {'checked':>7} {'practice':>8} "
    f"{'arms':>4} {'matched':>7} {'recall':>6} {'precision':>9} {'timing_ms':>9} "
    + " ".join(f"{s + '%':>6}" for s in _SEGMENTS)
    + f" {'fp':>5} {'fp_ms':>5} {'pel>fp':>6} {'hand_ms':>7}"
)


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<44} {int(r['truth']):>5} {int(r['found']):>5} {int(r['checked']):>7} "
        f"{int(r['practice']):>8} {int(r['arms_only']):>4} "
        f"{int(r['matched']):>7} {_pct(r['recall']):>6} {_pct(r['precision']):>9} "
        f"{_num(r['timing_ms'], '.0f'):>9} "
        + " ".join(f"{_num(r[f'{s}_peak_error_pct'], '.1f'):>6}" for s in _SEGMENTS)
        + f" {_of(r, 'fp_found', 'fp_truth'):>5} {_num(r['fp_error_ms'], '.0f'):>5}"
        f" {_of(r, 'pelvis_after_fp', 'with_fp'):>6} {_num(r['hand_ms'], '+.0f'):>7}"
    )


def report_text(
    table: pd.DataFrame, per_file: bool = True, judged: list[dict[str, Any]] | None = None
) -> str:
    """The evaluation as text: one line per recording (when ``per_file``), per data set and
    group, per data set, and overall; with ``judged`` (see :func:`evaluate`), the margins."""
    lines = [_HEAD]
    if per_file:
        lines += [_line(r["recording"], r) for r in table.to_dict("records")]
    for dataset, part in table.groupby("dataset", sort=True):
        lines.append("")
        groups = part["group"].astype(str)
        if groups.astype(bool).any() and groups.nunique() > 1:
            for group, inner in part.groupby("group", sort=True):
                name = f"[{dataset}/{group}]" if dataset else f"[{group}]"
                lines.append(_line(name, summary(inner)))
        lines.append(_line(f"[{dataset or 'recordings'}]", summary(part)))
    lines += ["", _line("overall", summary(table))]
    if judged is not None:
        lines += ["", *margins_text(margins(judged))]
    return "\n".join(lines) + "\n"


def margins_text(table: pd.DataFrame) -> list[str]:
    """The margins (:func:`margins`) as lines of text."""
    lines = [
        f"margins: how near each group came to a cut (share >= "
        f"{detector.VERTICAL_SHARE_MIN:.2f}, turn >= {detector.CHECKED_TURN_DEG:.0f}°, "
        f"pelvis >= {detector.PELVIS_TURN_MIN_DPS:.0f} °/s with a belt phone; + is the right side)",
        f"{'group':<44} {'windows':>7} {'share':>6} {'margin':>7} {'turn°':>6} {'margin':>7} "
        f"{'pelvis':>6} {'margin':>7}",
    ]
    for r in table.to_dict("records"):
        lines.append(
            f"{'[' + str(r['dataset']) + '/' + str(r['group']) + ']':<44} {int(r['windows']):>7} "
            f"{_num(r['share'], '.2f'):>6} {_num(r['share_margin'], '+.2f'):>7} "
            f"{_num(r['turn'], '.0f'):>6} {_num(r['turn_margin'], '+.0f'):>7} "
            f"{_num(r['pelvis_dps'], '.0f'):>6} {_num(r['pelvis_dps_margin'], '+.0f'):>7}"
        )
    return lines


def evaluate_command(args: argparse.Namespace, settings: Any) -> int:
    recordings: list[Recording] = []
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise SessionError(f"no such file or folder: {', '.join(missing)}")
    labelled = [p for p in args.paths if is_labelled_folder(p)]
    takes = [p for p in args.paths if p not in labelled and is_truth_set(p)]
    exports = [p for p in args.paths if p not in labelled and p not in takes]
    for folder in labelled:
        recordings += labelled_folder(folder)
    for folder in takes:
        recordings += truth_set(folder, settings.import_max_bytes)
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
    if getattr(args, "mirror", False):
        recordings = mirrored(recordings)
    judged: list[dict[str, Any]] | None = [] if args.summary else None
    table = evaluate(recordings, args.placement, args.tolerance_s, judged)
    print(report_text(table, per_file=not args.summary, judged=judged), end="")
    return 0
