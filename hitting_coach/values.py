"""How a swing's value is shown, defined once for every place that shows one: the live page's
headline and swing list, the phone card, ``hitting-coach swings`` and the report.

- :func:`show_value`: a swing table column as text, with its unit when asked. A peak whose
  sensor clipped has no exact value, only a lower bound: it is shown ``≥2492`` (never as
  exact); a value not measured is ``–``.
- :func:`reference_range` and :func:`against_reference`: a level's reference figures in words
  a coach reads without a manual ("college middle half 657–749 °/s": the middle half of that
  level's swings lies there).
- :func:`rate_hz`: a stream's sampling rate from its median interval, so pauses between
  batches (a watch that stops sending for a while) do not lower it.

This module sits in the lowest layer (pyproject's import-linter contract): every layer that
shows a value may import it. It knows nothing of pandas; the reference figures themselves are
:mod:`hitting_coach.analysis.reference`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "COLUMNS",
    "MISSING",
    "Column",
    "against_reference",
    "is_set",
    "plural",
    "present",
    "rate_hz",
    "reference_range",
    "segment_flags",
    "show_value",
    "swing_flags",
]

#: What a value not measured is shown as.
MISSING = "–"


class Column(NamedTuple):
    """How a swing table column is shown: its label, unit, number format, and for a peak that
    is NaN when its sensor clipped, the segment and the column holding its lower bound."""

    label: str
    unit: str
    fmt: str
    segment: str | None = None
    bound: str | None = None


COLUMNS: dict[str, Column] = {
    "pelvis_peak_dps": Column("pelvis peak", "°/s", "{:.0f}", "pelvis", "pelvis_peak_measured_dps"),
    "hand_peak_dps": Column("hand peak", "°/s", "{:.0f}", "hand", "hand_peak_measured_dps"),
    "bat_peak_dps": Column("bat peak", "°/s", "{:.0f}", "bat", "bat_peak_measured_dps"),
    "bat_speed_mph": Column("bat speed", "mph", "{:.1f}", "bat", "bat_speed_measured_mph"),
    "peak_gap_ms": Column("pelvis → hand", "ms", "{:.0f}"),
    "time_to_contact_ms": Column("time to contact", "ms", "{:.0f}"),
    "rot_accel_g": Column("rotational acceleration", "g", "{:.1f}"),
    "foot_plant_g": Column("foot plant", "g", "{:.1f}"),
    "pelvis_peak_after_fp_ms": Column("pelvis peak after foot plant", "ms", "{:.0f}"),
    "hand_peak_after_fp_ms": Column("hand peak after foot plant", "ms", "{:.0f}"),
    "speed_gain": Column("speed gain", "×", "{:.2f}"),
    "duration_ms": Column("duration", "ms", "{:.0f}"),
}


def present(value: Any) -> bool:
    """A value that was measured: not None, not NaN, not pandas' NA."""
    if value is None:
        return False
    try:
        return bool(value == value)  # NaN is the one value unequal to itself
    except TypeError:  # pandas' NA: its comparison has no truth value
        return False


def is_set(value: Any) -> bool:
    """A yes/no flag that is set (not missing)."""
    return present(value) and bool(value)


def _number(value: Any, fmt: str) -> str:
    return fmt.format(float(value))


def show_value(row: Mapping[str, Any], column: str, *, unit: bool = False) -> str:
    """``row[column]`` as a coach reads it: ``712`` (``712 °/s`` with ``unit``), ``≥2492`` when
    the sensor clipped (only a lower bound is known; ``clipped`` when not even that is),
    :data:`MISSING` when not measured. A column not in :data:`COLUMNS` is shown to 0 digits
    without a unit."""
    spec = COLUMNS.get(column, Column(column, "", "{:.0f}"))
    suffix = f" {spec.unit}" if unit and spec.unit else ""
    value = row.get(column)
    if present(value):
        return _number(value, spec.fmt) + suffix
    if spec.segment is not None and is_set(row.get(f"{spec.segment}_clipped")):
        bound = row.get(spec.bound) if spec.bound else None
        return f"≥{_number(bound, spec.fmt)}{suffix}" if present(bound) else "clipped"
    if column == "speed_gain" and is_set(row.get("hand_clipped")):
        hand, pelvis = row.get("hand_peak_measured_dps"), row.get("pelvis_peak_dps")
        if present(hand) and present(pelvis) and float(pelvis) > 0:
            return f"≥{_number(float(hand) / float(pelvis), spec.fmt)}{suffix}"
    return MISSING


def reference_range(column: str, level: str, q1: float, q3: float) -> str:
    """A level's reference figures in words: ``college middle half 657–749 °/s`` (the middle
    half of that level's swings lie in the range: its quartiles)."""
    spec = COLUMNS.get(column, Column(column, "", "{:.0f}"))
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{level} middle half {_number(q1, spec.fmt)}–{_number(q3, spec.fmt)}{unit}"


_WHERE = {"below": "below the", "within": "in the", "above": "above the"}


def against_reference(column: str, level: str, q1: float, q3: float, position: str) -> str:
    """Where a value sits against a level: ``above the college middle half 657–749 °/s``."""
    where = _WHERE.get(position)
    shown = reference_range(column, level, q1, q3)
    return f"{where} {shown}" if where else shown


#: Under this rate (Hz) a segment's peak is flagged "low rate": it may fall between samples.
LOW_RATE_HZ = 80.0
#: Row marks shown first among the flags, in this order.
_MARK_FLAGS = (("practice", "practice"), ("arms_only", "arms only"), ("speed_only", "speed only"))


def segment_flags(row: Mapping[str, Any], segment: str) -> list[str]:
    """A segment's (pelvis, hand, bat) data-quality flags in words: gyro clipped, low rate
    (with the rate), sampling gap."""
    flags = []
    if is_set(row.get(f"{segment}_clipped")):
        flags.append("gyro clipped")
    rate = row.get(f"{segment}_rate_hz")
    if present(rate) and rate < LOW_RATE_HZ:
        flags.append(f"low rate {rate:.0f} Hz")
    if is_set(row.get(f"{segment}_gap")):
        flags.append("sampling gap")
    return flags


def swing_flags(row: Mapping[str, Any]) -> list[str]:
    """The swing's data-quality flags (gyro clipped, low rate, sampling gap), sorted, after
    what it is: "practice" or "arms only" (listed, not counted), "speed only" (judged without
    gravity)."""
    marks = [label for key, label in _MARK_FLAGS if is_set(row.get(key))]
    return marks + sorted({f for s in ("pelvis", "hand", "bat") for f in segment_flags(row, s)})


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 swing``, ``2 swings``, ``0 swings`` (``many`` when the plural is not ``word + s``)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def rate_hz(time_ns: Any) -> float | None:
    """The sampling rate of a stream (times in ns, any order): readings per second while it
    streams, pauses left out: 50 Hz for a watch sending 50 Hz with pauses between its batches,
    where readings over the whole span would say less. A pause is an interval over three
    times the median; the rest are averaged (the median alone reads jittered 200 Hz as 200.2).
    None with fewer than two distinct times."""
    t = np.sort(np.asarray(time_ns, dtype=np.int64))
    if len(t) < 2:
        return None
    steps = np.diff(t)
    steps = steps[steps > 0]
    if not len(steps):
        return None
    streaming = steps[steps <= 3 * np.median(steps)]
    mean = float(streaming.mean())
    return 1e9 / mean if mean > 0 and math.isfinite(mean) else None
