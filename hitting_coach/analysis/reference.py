"""OpenBiomechanics reference figures for swing metrics, by playing level (pure pandas).

:func:`reference_table` gives the group medians and quartiles (:data:`REFERENCE_SOURCE`) of
pelvis, torso and hand peak angular speed and bat speed; :func:`place_against_reference` says
where one value of a swing table column sits against them, and :func:`placed_at` the same for
one level without pandas (what a live page shows for every swing).
:mod:`hitting_coach.analysis.swings` re-exports all four names.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import pandas as pd

from hitting_coach.values import against_reference, present

__all__ = [
    "REFERENCE_SOURCE",
    "Placement",
    "place_against_reference",
    "placed_at",
    "reference_table",
    "versus_reference",
]

#: Where the reference figures come from.
REFERENCE_SOURCE = (
    "OpenBiomechanics Project baseball hitting data (Wasserberger et al., 2022): marker motion "
    "capture at 360 Hz, 677 swings off a ~65 mph machine; per-swing median [IQR]"
)
_REF_METRICS = ("pelvis_peak_dps", "torso_peak_dps", "hand_peak_dps", "bat_speed_mph")
_REF = (
    ("high school", 83, (726, 617, 781), (895, 833, 971), (1814, 1636, 2007), (65.0, 61.9, 67.2)),
    ("college", 517, (713, 657, 749), (925, 863, 962), (1783, 1650, 1948), (66.4, 63.0, 69.1)),
    ("independent", 30, (728, 704, 769), (968, 922, 1000), (1937, 1673, 2034), (68.9, 67.9, 70.1)),
    ("MiLB", 47, (714, 679, 738), (890, 865, 927), (1808, 1781, 1847), (68.6, 67.2, 70.4)),
)


def reference_table() -> pd.DataFrame:
    """Reference figures by level (:data:`REFERENCE_SOURCE`): ``level``, ``swings``,
    ``metric`` (pelvis_peak_dps, torso_peak_dps, hand_peak_dps, bat_speed_mph), ``median``,
    ``q1``, ``q3``. Group figures for comparison, not per-hitter truth."""
    rows = [
        (level, n, metric, *map(float, fig))
        for level, n, *figs in _REF
        for metric, fig in zip(_REF_METRICS, figs, strict=True)
    ]
    return pd.DataFrame(rows, columns=["level", "swings", "metric", "median", "q1", "q3"])


class Placement(NamedTuple):
    """Where one value sits against one level's figures (see :func:`place_against_reference`)."""

    level: str
    swings: int
    median: float
    q1: float
    q3: float
    position: str
    percentile: float


def _placements(metric: str, value: float) -> list[Placement]:
    if metric not in _REF_METRICS:
        raise ValueError(f"no reference figures for {metric!r}; known: {', '.join(_REF_METRICS)}")
    column = _REF_METRICS.index(metric)
    value = float(value)
    out = []
    for level, swings, *figs in _REF:
        median, q1, q3 = map(float, figs[column])
        if math.isnan(value):
            position, percentile = "unknown", math.nan
        else:
            spread = median - q1 if value < median else q3 - median
            z = (value - median) / (spread / 0.6744897501960817)
            percentile = 50.0 * (1.0 + math.erf(z / math.sqrt(2.0)))
            position = "below" if value < q1 else "above" if value > q3 else "within"
        out.append(Placement(level, swings, median, q1, q3, position, percentile))
    return out


def place_against_reference(metric: str, value: float) -> pd.DataFrame:
    """Where ``value`` of ``metric`` (a column name such as ``pelvis_peak_dps``) sits per level.

    Adds ``position`` ("below", "within" or "above" the IQR; "unknown" for NaN) and
    ``percentile``, approximate: a normal on each side of the median, scaled to its quartile.
    Raises ValueError for a metric without reference figures.
    """
    return pd.DataFrame(_placements(metric, value), columns=Placement._fields)


def placed_at(metric: str, value: float, level: str = "college") -> Placement:
    """One level's row of :func:`place_against_reference`, without building a table.
    Raises ValueError for a metric without reference figures or an unknown level."""
    for placement in _placements(metric, value):
        if placement.level == level:
            return placement
    raise ValueError(f"no reference level {level!r}; known: {', '.join(r[0] for r in _REF)}")


def versus_reference(metric: str, value: Any, level: str = "college") -> str:
    """Where ``value`` sits against ``level``, in words (:func:`hitting_coach.values.against_reference`):
    ``above the college middle half 657–749 °/s``; "" for a value not measured."""
    if not present(value):
        return ""
    placed = placed_at(metric, float(value), level)
    return against_reference(metric, level, placed.q1, placed.q3, placed.position)
