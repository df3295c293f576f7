"""Per-swing metrics: one row of the swing table from the readings around a swing window.

:func:`swing_row` measures one window found by :class:`hitting_coach.analysis.swings.SwingDetector`:
peaks of |ω| refined between samples, the foot plant, bat contact and bat metrics, and the
sampling quality near each event, as a :class:`SwingRow` (a typed row: every column a field,
its unit in its name). :func:`swing_table` turns rows into the swing table (a DataFrame, one
column per field, in field order) at the edges: reports, the CLI, notebooks. Pure
numpy/pandas; :mod:`hitting_coach.analysis.swings` runs these for the live tracker and re-exports the
public names.

Swing table columns (units in the names; ``*_ns`` epoch ns, nullable Int64):

- ``swing`` (0, 1, ...), ``placement``, ``start_ns``, ``end_ns``, ``duration_ms``: the window.
- ``foot_plant_ns``: the lead foot's landing, from the stride's end as the belt phone feels it
  (the vertical acceleration turning from downward to upward before the pelvis peaks, not the
  largest jolt, which comes with the rotation peak); ``foot_plant_g`` the depth of the
  stride's downward phase (its quality); ``stride`` False when the belt phone felt no stride
  (no foot plant is made up then). Pelvis accelerometer and gravity.
- ``{pelvis,hand,bat}_peak_dps``: peak |ω|, refined between samples; NaN when clipped. The hand's
  is its speed into contact: with a watch whose forearm rolls over after contact
  (``rollover_ns``, the roll about the watch's x axis, along the forearm, overtaking the
  rotation across it), the rotation across the forearm before the roll-over.
  ``*_peak_measured_dps`` is the highest |ω| seen: equal when unclipped, a lower bound when
  clipped. ``*_peak_ns``; ``*_peak_after_fp_ms`` (pelvis, hand): time after foot plant.
- ``peak_gap_ms`` (hand peak - pelvis peak), ``sequence_ok`` (pelvis peaks first),
  ``speed_gain`` (hand / pelvis peak).
- Bat: ``bat_speed_mph`` (peak ω x ``sweet_spot_m``; NaN when clipped) and
  ``bat_speed_measured_mph``; ``downswing_start_ns`` (the rise of |ω| extrapolated to zero),
  ``impact_ns`` and ``impact_found`` (contact: a sudden drop of |ω|), ``time_to_contact_ms``
  (downswing start to impact, or to the peak without contact), ``rot_accel_g`` (centripetal
  acceleration of the sweet spot 30 ms into the downswing). With ``bat_clipped``, all of
  these are approximate.
- Shape (see :mod:`hitting_coach.analysis.swings`): ``checked`` (the hands stopped: a checked
  swing, not a full one), ``turn_deg`` (how far the driving segment turned about the vertical
  in the window, °) and ``vertical_share`` (the share of its rotation about the vertical, 0-1,
  up to the roll-over); NaN without gravity, and for the bat. ``speed_only``: judged without
  gravity. ``practice`` (slower than the hitter's level) and ``arms_only`` (no pelvis turn
  with a belt phone): listed, not counted (:func:`counted_swings`).
- Quality: ``*_rate_hz`` (samples/s within 100 ms of the event), ``*_gap`` (a sampling gap
  there: a step over 2.5 x the median), ``*_clipped`` (an axis at >= 98% of the gyroscope range
  in the swing). NA when the segment is not measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = [
    "GyroRanges",
    "SwingWindow",
    "CLIP_FRACTION",
    "COLUMNS",
    "NOT_COUNTED",
    "ROLLOVER_MIN_SHARE",
    "STRIDE_MIN_G",
    "MPS_TO_MPH",
    "SensorData",
    "SwingRow",
    "angular_speed_dps",
    "counted_swings",
    "derived_gravity",
    "rotation_shape",
    "swing_row",
    "swing_table",
]


@dataclass(frozen=True)
class SwingWindow:
    """A stretch of high angular speed: ``start_ns``/``end_ns`` are the samples below the low
    threshold around it; ``peak_dps`` the highest sample, at ``peak_ns``."""

    start_ns: int
    end_ns: int
    peak_dps: float
    peak_ns: int


class GyroRanges(Protocol):
    """Gyroscope ranges (°/s) and the sweet-spot distance (m) a swing row is measured with."""

    gyro_range_dps: float
    wrist_gyro_range_dps: float
    sweet_spot_m: float


_G_MS2 = 9.80665
MPS_TO_MPH = 3600.0 / 1609.344
#: An axis at or above this fraction of the gyroscope range counts as clipped.
CLIP_FRACTION = 0.98
#: The stride's downward phase (g, the pelvis dropping onto the lead leg) a foot plant needs.
STRIDE_MIN_G = 0.08
#: A roll about the forearm counts as the roll-over when it reaches this share of the hands'
#: peak rotation across the forearm.
ROLLOVER_MIN_SHARE = 0.5
_RAD = math.pi / 180.0
_SEARCH_NS = 300_000_000  # the pelvis may start before the watch's window; foot plant before peak
_QUALITY_NS = 100_000_000

_NAN = math.nan


@dataclass(slots=True, kw_only=True)
class SwingRow:
    """One swing of the swing table, as :func:`swing_row` measures it: each field a column of
    :func:`swing_table` (in this order; the module docstring says what each means). Units are
    in the names; ``*_ns`` epoch ns or None, flags True/False or None (not measured), other
    numbers NaN when not measured. Per-segment fields are written out (pelvis, hand, bat),
    so a search for a column finds where it is set.

    A new column is a field here, with its default (what a row holds when not measured), set
    in :func:`swing_row`."""

    swing: int = 0  # its number in its session from 1; 0 until the tracker numbers it
    placement: str
    start_ns: int
    end_ns: int
    duration_ms: float
    foot_plant_ns: int | None = None
    foot_plant_g: float = _NAN
    foot_plant_rate_hz: float = _NAN
    foot_plant_gap: bool | None = None
    pelvis_peak_dps: float = _NAN
    pelvis_peak_measured_dps: float = _NAN
    pelvis_peak_ns: int | None = None
    pelvis_clipped: bool | None = None
    pelvis_rate_hz: float = _NAN
    pelvis_gap: bool | None = None
    pelvis_peak_after_fp_ms: float = _NAN
    hand_peak_dps: float = _NAN
    hand_peak_measured_dps: float = _NAN
    hand_peak_ns: int | None = None
    hand_clipped: bool | None = None
    hand_rate_hz: float = _NAN
    hand_gap: bool | None = None
    hand_peak_after_fp_ms: float = _NAN
    peak_gap_ms: float = _NAN
    sequence_ok: bool | None = None
    speed_gain: float = _NAN
    bat_peak_dps: float = _NAN
    bat_peak_measured_dps: float = _NAN
    bat_peak_ns: int | None = None
    bat_clipped: bool | None = None
    bat_rate_hz: float = _NAN
    bat_gap: bool | None = None
    bat_speed_mph: float = _NAN
    bat_speed_measured_mph: float = _NAN
    downswing_start_ns: int | None = None
    impact_ns: int | None = None
    impact_found: bool | None = None
    time_to_contact_ms: float = _NAN
    rot_accel_g: float = _NAN
    checked: bool = False
    turn_deg: float = _NAN
    vertical_share: float = _NAN
    stride: bool | None = None
    rollover_ns: int | None = None
    speed_only: bool = False
    practice: bool = False
    arms_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The row as ``{column: value}`` (what the live swing list and JSON carry)."""
        return asdict(self)


#: Columns of the swing table, in order: the fields of :class:`SwingRow`.
COLUMNS = [f.name for f in fields(SwingRow)]
#: Each column's pandas dtype, from its field's type.
_DTYPES = {
    f.name: {
        "int": "int64",
        "str": "string",
        "int | None": "Int64",
        "bool | None": "boolean",
        "bool": "boolean",
        "float": "float64",
    }[str(f.type)]
    for f in fields(SwingRow)
}
#: Rows with one of these set are listed but are not full swings (evaluation counts them apart).
NOT_COUNTED = ("checked", "practice", "arms_only")
#: Readings around one swing: sensor name to (time_ns, values), time-sorted.
SensorData = dict[str, tuple[np.ndarray, np.ndarray]]


def angular_speed_dps(rate_rad_s: np.ndarray) -> np.ndarray:
    """|ω| in °/s from an (n, 3) array of angular velocity in rad/s."""
    return np.sqrt(np.einsum("ij,ij->i", rate_rad_s, rate_rad_s)) * (180.0 / math.pi)


def rotation_shape(
    t: np.ndarray,
    rate_rad_s: np.ndarray,
    tg: np.ndarray,
    gravity: np.ndarray,
    lo_ns: float,
    hi_ns: float,
    signed: bool = False,
) -> tuple[float, float]:
    """(turn_deg, vertical_share) of a rotation between lo_ns and hi_ns: the angle turned about
    the vertical, |∫ω·ĝ dt| in degrees, and its share of the whole rotation, / ∫|ω| dt.
    With ``signed``, turn_deg keeps the sign of ∫ω·ĝ dt (the direction of the turn).

    ``t``/``rate_rad_s`` (n, 3) are the angular velocity, ``tg``/``gravity`` (m, 3) gravity in
    the same device frame (any unit or sign: only its direction counts), interpolated at ``t``.
    (NaN, NaN) when there are fewer than 3 readings or no finite gravity."""
    i, j = int(np.searchsorted(t, lo_ns)), int(np.searchsorted(t, hi_ns, side="right"))
    ok = np.isfinite(gravity).all(axis=1)
    if j - i < 3 or ok.sum() < 2:
        return math.nan, math.nan
    t, w = t[i:j], rate_rad_s[i:j]
    tg, gravity = tg[ok], gravity[ok]
    g = np.column_stack([np.interp(t, tg, gravity[:, c]) for c in range(3)])
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    x = (t - t[0]) * 1e-9
    about_vertical = np.trapezoid(np.einsum("ij,ij->i", w, g), x)
    total = np.trapezoid(np.linalg.norm(w, axis=1), x)
    if total <= 0:
        return math.nan, math.nan
    turn = about_vertical if signed else abs(about_vertical)
    return turn / _RAD, abs(about_vertical) / total


def _qrotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate ``v`` (3,) by unit quaternions ``q`` (n, 4) as (w, x, y, z)."""
    w, u = q[:, :1], q[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _gyro_residual(t: np.ndarray, g: np.ndarray, tw: np.ndarray, w: np.ndarray) -> float:
    """How badly ``g`` (n, 3) breaks the law of a vector fixed in the world seen from a turning
    device, dg/dt = -ω × g (a small number when it holds)."""
    if len(t) < 3:
        return math.inf
    x = (t - t[0]) * 1e-9
    wi = np.column_stack([np.interp(t, tw, w[:, c]) for c in range(3)])
    return float(np.mean(np.linalg.norm(np.gradient(g, x, axis=0) + np.cross(wi, g), axis=1)))


def _propagate(t: np.ndarray, g0: np.ndarray, tw: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A world-fixed direction ``g0`` at t[0] carried along by the gyroscope (rad/s)."""
    g = np.empty((len(t), 3))
    g[0] = g0 / max(float(np.linalg.norm(g0)), 1e-12)
    wi = np.column_stack([np.interp(t, tw, w[:, c]) for c in range(3)])
    for k in range(1, len(t)):
        dt = (t[k] - t[k - 1]) * 1e-9
        # exact rotation of g by -ω dt (Rodrigues), then renormalised
        om = -wi[k - 1] * dt
        ang = float(np.linalg.norm(om))
        v = g[k - 1]
        if ang > 1e-12:
            ax = om / ang
            v = v * math.cos(ang) + np.cross(ax, v) * math.sin(ang)
            v += ax * float(ax @ g[k - 1]) * (1 - math.cos(ang))
        g[k] = v / max(float(np.linalg.norm(v)), 1e-12)
    return g


def derived_gravity(
    rate: tuple[np.ndarray, np.ndarray],
    orientation: tuple[np.ndarray, np.ndarray] | None = None,
    total: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Gravity's direction (device frame, pointing down) when the device does not send it:
    from the attitude quaternion ``orientation`` (t, (n, 4) w, x, y, z; of the two ways a
    quaternion can be read, the one the gyroscope agrees with), else from an acceleration that
    includes gravity ``total`` (t, (n, 3)): its mean over the first 100 ms (the stance), carried
    along by the gyroscope ``rate`` (t, (n, 3) rad/s). None when neither is there."""
    tw, w = rate
    if len(tw) < 3:
        return None
    if orientation is not None and len(orientation[0]) >= 3:
        tq, q = orientation
        ok = np.isfinite(q).all(axis=1)
        tq, q = tq[ok], q[ok]
        if len(tq) >= 3:
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            down = np.array([0.0, 0.0, -1.0])
            conj = q * np.array([1.0, -1.0, -1.0, -1.0])
            cands = [_qrotate(conj, down), _qrotate(q, down)]  # device→world, world→device
            return tq, min(cands, key=lambda g: _gyro_residual(tq, g, tw, w))
    if total is not None and len(total[0]) >= 3:
        ta, a = total
        ok = np.isfinite(a).all(axis=1)
        ta, a = ta[ok], a[ok]
        first = a[ta <= ta[0] + 100_000_000] if len(ta) else a
        if len(first) and np.linalg.norm(first.mean(axis=0)) > 0.5:
            # at rest an accelerometer feels the support, opposite to gravity: either sign
            # convention gives the same vertical line, and only the line is used
            return ta, _propagate(ta, first.mean(axis=0), tw, w)
    return None


def _quality(t: np.ndarray, event_ns: float) -> tuple[float, bool]:
    """Samples/s within 100 ms of an event, and whether a step there is over 2.5x the median."""
    if len(t) < 3:
        return math.nan, True
    i = max(int(np.searchsorted(t, event_ns - _QUALITY_NS)) - 1, 0)
    j = min(int(np.searchsorted(t, event_ns + _QUALITY_NS, side="right")) + 1, len(t))
    seg = t[i:j]
    if len(seg) < 2:
        return math.nan, True
    rate = (len(seg) - 1) / ((seg[-1] - seg[0]) * 1e-9)
    return float(rate), bool(np.diff(seg).max() > 2.5 * np.median(np.diff(t)))


def _fit_peak(x: np.ndarray, y: np.ndarray, x_hi: float) -> tuple[float, float] | None:
    """Vertex (x0, height) of a least-squares peak model, x0 within [x[0], x_hi].

    From five samples on: a parabola with its own curvature on each side of x0 (the rise and
    fall of a swing differ), x0 found by a grid search. With fewer, one parabola.
    """
    if len(x) >= 5:
        cands = np.linspace(x[0], x_hi, 41)
        for _ in range(3):
            d = x[None, :] - cands[:, None]
            a = np.stack(
                [np.ones_like(d), np.where(d < 0, d * d, 0), np.where(d >= 0, d * d, 0)], 2
            )
            ata = np.einsum("mni,mnj->mij", a, a) + np.diag([0.0, 1e-9, 1e-9])
            coef = np.linalg.solve(ata, np.einsum("mni,n->mi", a, y)[..., None])[..., 0]
            resid = np.sum((np.einsum("mni,mi->mn", a, coef) - y) ** 2, axis=1)
            resid[(coef[:, 1] > 0) | (coef[:, 2] > 0)] = np.inf
            if not np.isfinite(resid).any():
                return None
            best = int(np.argmin(resid))
            x0, height = float(cands[best]), float(coef[best, 0])
            step = cands[1] - cands[0]
            cands = np.linspace(max(x0 - step, x[0]), min(x0 + step, x_hi), 21)
        return x0, height
    c2, c1, c0 = np.polyfit(x, y, 2)
    if c2 >= 0:
        return None
    x0 = min(max(-c1 / (2 * c2), x[0]), x_hi)
    return float(x0), float(c0 + c1 * x0 + c2 * x0 * x0)


def _refine_peak(t: np.ndarray, w: np.ndarray, k: int, i: int, j: int, limit_ns: float):
    """Peak (time_ns, °/s) between samples, from samples i..j-1 within 2% of the highest
    (and at least its neighbours); the vertex may not pass ``limit_ns``."""
    a = b = k
    while a > i and w[a - 1] >= 0.98 * w[k]:
        a -= 1
    while b < j - 1 and w[b + 1] >= 0.98 * w[k]:
        b += 1
    a, b = max(min(a, k - 1), i), min(max(b, k + 1), j - 1)
    x = (t[a : b + 1] - t[k]) * 1e-6
    if len(x) < 3:
        return float(t[k]), float(w[k])
    x_hi = x[-1] if b > k else min(max((limit_ns - t[k]) * 1e-6, 0.0), x[-1] - x[-2])
    fit = _fit_peak(x, w[a : b + 1], x_hi)
    if fit is None:
        return float(t[k]), float(w[k])
    return float(t[k]) + fit[0] * 1e6, fit[1]


def _peak(t, v, w, lo_ns, hi_ns, range_dps, stop_ns=None, limit_ns=None) -> dict[str, Any] | None:
    """Peak |ω| (°/s) of one segment between lo_ns and hi_ns, refined between samples unless
    an axis clipped; with contact, from samples before stop_ns and not later than limit_ns."""
    i = int(np.searchsorted(t, lo_ns))
    j_all = int(np.searchsorted(t, hi_ns, side="right"))
    j = j_all if stop_ns is None else min(j_all, int(np.searchsorted(t, stop_ns)))
    if j - i < 3:
        return None
    k = i + int(np.argmax(w[i:j]))
    clipped = bool(np.any(np.abs(v[i:j_all]) >= CLIP_FRACTION * range_dps * _RAD))
    peak_ns, value = float(t[k]), float(w[k])
    if not clipped:
        limit = float(t[j - 1]) if limit_ns is None else float(limit_ns)
        peak_ns, value = _refine_peak(t, w, k, i, j, limit)
    rate, gap = _quality(t, peak_ns)
    return {
        "peak_dps": math.nan if clipped else value,
        "peak_measured_dps": value,
        "peak_ns": round(peak_ns),
        "clipped": clipped,
        "rate_hz": rate,
        "gap": gap,
        "k": k,
    }


def _vertical_accel(data: SensorData, t: np.ndarray, a: np.ndarray) -> np.ndarray | None:
    """The acceleration along the vertical at the accelerometer's times (m/s²), sign as the
    readings give it (the sign of gravity differs between iOS and Android), or None without
    gravity readings."""
    if "gravity" not in data or len(data["gravity"][0]) < 2:
        return None
    tg, g = data["gravity"]
    ok = np.isfinite(g).all(axis=1)
    if ok.sum() < 2:
        return None
    tg, g = tg[ok], g[ok]
    g = np.column_stack([np.interp(t, tg, g[:, c]) for c in range(3)])
    norm = np.linalg.norm(g, axis=1)
    return np.einsum("ij,ij->i", a, g) / np.maximum(norm, 1e-9)


def _smooth(t: np.ndarray, x: np.ndarray, width_s: float) -> np.ndarray:
    """A centred running mean over ``width_s``."""
    n = max(1, int(round(width_s / (np.median(np.diff(t)) * 1e-9))) | 1)
    return pd.Series(x).rolling(n, center=True, min_periods=1).mean().to_numpy()


def _foot_plant(data: SensorData, peak_ns: float) -> dict[str, Any] | None:
    """The lead foot's landing before the pelvis peaks at ``peak_ns`` (pelvis phone).

    The stride ends when the foot lands: the pelvis, which was dropping into the stride, starts
    to be held up (the vertical acceleration turns from downward to upward), and that upward
    load grows into the rotation's peak. So: the vertical acceleration, smoothed over 30 ms, signed so that it is upward at the pelvis peak;
    foot plant is its last upward zero crossing at least 10 ms before the peak, after a
    downward phase of at least :data:`STRIDE_MIN_G` within 300 ms. ``stride`` False: no such
    phase (a swing without a stride); ``g`` the depth of the downward phase (the quality).
    None without an accelerometer and gravity."""
    if "accelerometer" not in data:
        return None
    t_all, a_all = data["accelerometer"]
    i = int(np.searchsorted(t_all, peak_ns - _SEARCH_NS - 100_000_000))
    j = int(np.searchsorted(t_all, peak_ns + 60_000_000, side="right"))
    t, a = t_all[i:j], a_all[i:j]
    if len(t) < 8:
        return None
    vert = _vertical_accel(data, t, a)
    if vert is None:
        return None
    vert = _smooth(t, vert, 0.03)
    at_peak = vert[(t >= peak_ns - 40_000_000) & (t <= peak_ns + 20_000_000)]
    if len(at_peak) and float(np.mean(at_peak)) < 0:
        vert = -vert
    before = np.flatnonzero((t >= peak_ns - _SEARCH_NS) & (t <= peak_ns - 10_000_000))
    no_stride = {"ns": None, "g": 0.0, "stride": False, "rate_hz": math.nan, "gap": False}
    if len(before) < 2:
        return no_stride
    up = before[:-1][(vert[before[:-1]] < 0) & (vert[before[:-1] + 1] >= 0)]
    for k in up[::-1]:
        lobe = vert[(t >= t[k] - 300_000_000) & (t <= t[k])]
        depth = float(-lobe.min() / _G_MS2)
        if depth >= STRIDE_MIN_G:
            frac = -vert[k] / (vert[k + 1] - vert[k])
            fp_ns = float(t[k]) + frac * float(t[k + 1] - t[k])
            rate, gap = _quality(t_all, fp_ns)
            return {"ns": round(fp_ns), "g": depth, "stride": True, "rate_hz": rate, "gap": gap}
    return no_stride


def _rollover(t: np.ndarray, v: np.ndarray, lo_ns: float, hi_ns: float) -> float | None:
    """When the forearm starts rolling over after the hands' swing (a watch on the wrist,
    its x axis along the forearm): the first reading after the rotation across the forearm
    peaked where the rotation about the forearm is the larger, or None. Only when the swing
    itself turned across the forearm (else the device's axes are not a watch's)."""
    i, j = int(np.searchsorted(t, lo_ns)), int(np.searchsorted(t, hi_ns, side="right"))
    if j - i < 3:
        return None
    roll = np.abs(v[i:j, 0])
    across = np.hypot(v[i:j, 1], v[i:j, 2])
    m = int(np.argmax(across))
    if roll[m] >= across[m]:
        return None
    after = np.flatnonzero(roll[m:] > across[m:])
    if not after.size:
        return None
    k = m + int(after[0])
    if roll[k:].max() < ROLLOVER_MIN_SHARE * across[m]:
        return None  # a wobble, not a roll-over
    return float(t[i + k])


def _impact(t: np.ndarray, w: np.ndarray, k: int) -> tuple[float, float] | None:
    """Contact near the peak at index k: (time_ns, time_ns the peak must come before), or None.

    The steepest relative drop within 15 ms before to 40 ms after the peak, three times the
    step before it began, reached within one step or 10 ms and losing 12% within 20 ms; the
    follow-through of a swing without contact slows down gradually. Phone accelerometers sample
    too slowly to catch the spike.
    """
    i0 = int(np.searchsorted(t, t[k] - 15_000_000))
    i1 = min(int(np.searchsorted(t, t[k] + 40_000_000, side="right")), len(t) - 1)
    if i1 - i0 < 2:
        return None
    steps = np.arange(i0, i1)
    drop = w[steps] - w[steps + 1]
    rel = drop / (np.maximum(w[steps], 1e-9) * (t[steps + 1] - t[steps]) * 1e-9)
    s = int(np.argmax(rel))
    if rel[s] < 15.0:
        return None
    s0 = s
    while s0 > 0 and drop[s0 - 1] >= 0.25 * drop[s]:
        s0 -= 1
    i = i0 + s0
    if s - s0 > 1 and t[i0 + s] - t[i] > 10_000_000:
        return None
    if s0 > 0 and drop[s] < 3 * drop[s0 - 1]:
        return None
    after = w[i + 1 : int(np.searchsorted(t, t[i] + 20_000_000, side="right")) + 1]
    if after.min() > 0.88 * w[i]:
        return None
    # the sample that starts the drop may itself have begun to fall: keep it out of the peak
    partial = s0 > 0 and drop[s0 - 1] > 2 * max(drop[s0 - 2] if s0 > 1 else 0, 0) + 0.002 * w[i]
    return (float(t[i]) + float(t[i + 1])) / 2, float(t[i] if partial else t[i + 1])


def _crossing(t, w, k, level) -> tuple[float, int] | None:
    """Last upward crossing of ``level`` before index k: (time_ns, index below)."""
    below = np.flatnonzero(w[:k] < level)
    if not below.size:
        return None
    i = int(below[-1])
    frac = (level - w[i]) / (w[i + 1] - w[i])
    return float(t[i]) + frac * float(t[i + 1] - t[i]), i


def _set_pelvis(row: SwingRow, pk: dict[str, Any]) -> None:
    row.pelvis_peak_dps, row.pelvis_peak_measured_dps = pk["peak_dps"], pk["peak_measured_dps"]
    row.pelvis_peak_ns, row.pelvis_clipped = pk["peak_ns"], pk["clipped"]
    row.pelvis_rate_hz, row.pelvis_gap = pk["rate_hz"], pk["gap"]


def _set_hand(row: SwingRow, pk: dict[str, Any]) -> None:
    row.hand_peak_dps, row.hand_peak_measured_dps = pk["peak_dps"], pk["peak_measured_dps"]
    row.hand_peak_ns, row.hand_clipped = pk["peak_ns"], pk["clipped"]
    row.hand_rate_hz, row.hand_gap = pk["rate_hz"], pk["gap"]


def _set_bat(row: SwingRow, pk: dict[str, Any]) -> None:
    row.bat_peak_dps, row.bat_peak_measured_dps = pk["peak_dps"], pk["peak_measured_dps"]
    row.bat_peak_ns, row.bat_clipped = pk["peak_ns"], pk["clipped"]
    row.bat_rate_hz, row.bat_gap = pk["rate_hz"], pk["gap"]


_SET_SEGMENT = {"pelvis": _set_pelvis, "hand": _set_hand}


def _bat_metrics(
    row: SwingRow, data: SensorData, win: SwingWindow, range_dps: float, sweet_m: float
) -> None:
    t, v = data["gyroscope"]
    w = angular_speed_dps(v)
    pk = _peak(t, v, w, win.start_ns, win.end_ns, range_dps)
    if pk is None:
        return
    k = pk["k"]
    found = _impact(t, w, k)
    impact = None if found is None else found[0]
    if found is not None:
        pk = _peak(t, v, w, win.start_ns, win.end_ns, range_dps, stop_ns=found[1], limit_ns=impact)
    _set_bat(row, pk)
    row.bat_speed_mph = pk["peak_dps"] * _RAD * sweet_m * MPS_TO_MPH
    row.bat_speed_measured_mph = pk["peak_measured_dps"] * _RAD * sweet_m * MPS_TO_MPH
    row.impact_found = impact is not None
    row.impact_ns = None if impact is None else round(impact)
    c30 = _crossing(t, w, k, 0.3 * pk["peak_measured_dps"])
    c10 = _crossing(t, w, c30[1] + 1, 0.1 * pk["peak_measured_dps"]) if c30 else None
    if c30 and c10:
        start = c10[0] - 0.5 * (c30[0] - c10[0])
        row.downswing_start_ns = round(start)
        end = impact if impact is not None else pk["peak_ns"]
        row.time_to_contact_ms = (end - start) / 1e6
        early = float(np.interp(start + 30e6, t.astype(float), w)) * _RAD
        row.rot_accel_g = early * early * sweet_m / _G_MS2


def swing_row(
    win: SwingWindow, placement: str, driver: str, data: SensorData, tracker: GyroRanges
) -> SwingRow:
    """The :class:`SwingRow` (``swing`` left 0) of a window that ``driver`` (the sensor whose
    detector found it) opened, analysed as ``placement``.

    ``data`` holds the readings around the window; ``tracker`` gives the gyroscope ranges
    (``gyro_range_dps``, ``wrist_gyro_range_dps``, °/s) and ``sweet_spot_m``. Segments without
    data stay NaN/None."""
    row = SwingRow(
        placement=placement,
        start_ns=win.start_ns,
        end_ns=win.end_ns,
        duration_ms=(win.end_ns - win.start_ns) / 1e6,
    )
    if "wrist" in placement and "wrist motion" in data:
        t, v = data["wrist motion"]
        roll = _rollover(t, v, win.start_ns, win.end_ns)
        row.rollover_ns = None if roll is None else round(roll)
    if driver == "wrist motion" and driver in data:
        t, v = data[driver]
        # how far the hands went round: the whole window; how level the swing was: up to the
        # forearm's roll-over (the follow-through turns about the forearm, a tilted axis)
        row.turn_deg = rotation_shape(t, v[:, :3], t, v[:, 3:6], win.start_ns, win.end_ns)[0]
        stop = win.end_ns if row.rollover_ns is None else row.rollover_ns
        row.vertical_share = rotation_shape(t, v[:, :3], t, v[:, 3:6], win.start_ns, stop)[1]
    elif placement == "pelvis" and "gyroscope" in data and "gravity" in data:
        shape = rotation_shape(*data["gyroscope"], *data["gravity"], win.start_ns, win.end_ns)
        row.turn_deg, row.vertical_share = shape
    segments = []
    if "wrist" in placement and "wrist motion" in data:
        t, v = data["wrist motion"]
        data = {**data, "wrist motion": (t, v[:, :3])}
        segments.append(("hand", "wrist motion", win.start_ns, tracker.wrist_gyro_range_dps))
    if "pelvis" in placement and "gyroscope" in data:
        lo = win.start_ns - (_SEARCH_NS if driver == "wrist motion" else 0)
        segments.append(("pelvis", "gyroscope", lo, tracker.gyro_range_dps))
    for seg, sensor, lo, range_dps in segments:
        t, v = data[sensor]
        hi, w = win.end_ns, angular_speed_dps(v)
        if seg == "hand" and row.rollover_ns is not None:
            # the hands' speed into contact: the rotation across the forearm (what moves the
            # hands along their path) before the roll-over; the roll about the forearm kept out
            hi, w = row.rollover_ns - 1, np.hypot(v[:, 1], v[:, 2]) * (180.0 / math.pi)
        pk = _peak(t, v, w, lo, hi, range_dps)
        if pk is not None:
            _SET_SEGMENT[seg](row, pk)
    if row.pelvis_peak_ns is not None:
        fp = _foot_plant(data, row.pelvis_peak_ns)
        if fp is not None:
            row.stride, row.foot_plant_g = fp["stride"], fp["g"]
        if fp is not None and fp["stride"]:
            row.foot_plant_ns = fp["ns"]
            row.foot_plant_rate_hz, row.foot_plant_gap = fp["rate_hz"], fp["gap"]
            row.pelvis_peak_after_fp_ms = (row.pelvis_peak_ns - fp["ns"]) / 1e6
            if row.hand_peak_ns is not None:
                row.hand_peak_after_fp_ms = (row.hand_peak_ns - fp["ns"]) / 1e6
        if row.hand_peak_ns is not None:
            row.peak_gap_ms = (row.hand_peak_ns - row.pelvis_peak_ns) / 1e6
            row.sequence_ok = row.pelvis_peak_ns < row.hand_peak_ns
            row.speed_gain = row.hand_peak_dps / row.pelvis_peak_dps
    if placement == "bat" and "gyroscope" in data:
        _bat_metrics(row, data, win, tracker.gyro_range_dps, tracker.sweet_spot_m)
    return row


def swing_table(rows: Iterable[SwingRow | Mapping[str, Any]]) -> pd.DataFrame:
    """The swing table (see the module docstring): one row per :class:`SwingRow` (or a
    mapping with its columns, as the live list and JSON carry them), typed per column."""
    rows = [r.as_dict() if isinstance(r, SwingRow) else r for r in rows]
    cols: dict[str, Any] = {}
    for c in COLUMNS:
        values = [r.get(c) for r in rows]
        dtype = _DTYPES[c]
        if dtype == "float64":
            cols[c] = np.array([math.nan if x is None else x for x in values], dtype=float)
        else:
            cols[c] = pd.array(values, dtype=dtype)
    return pd.DataFrame(cols, columns=list(COLUMNS))


def counted_swings(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a swing table that count in a hitter's numbers (medians, trends): all but
    practice swings and arms-only motions, which are listed to be seen, not counted."""
    if not len(table):
        return table
    out = np.ones(len(table), bool)
    for c in ("practice", "arms_only"):
        if c in table:
            out &= ~table[c].fillna(False).to_numpy(bool)
    return table[out]
