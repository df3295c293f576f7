"""Swing detection and coaching metrics from Sensor Logger motion data (pure numpy/pandas).

- :class:`SwingDetector` finds swing windows in one angular-speed stream |ω| (°/s): a window
  opens when |ω| rises above a high threshold, spans from the last sample below the low
  threshold before that to the first one after, and windows closer than ``merge_gap_s`` merge.
  It is fed chunks and gives each window once, ``merge_gap_s`` after it ends.
- :class:`SwingTracker` is the live analyzer: per-sensor chunks in (``gyroscope``,
  ``accelerometer``, ``gravity``, ``wrist motion``), one row of metrics per swing out, shortly
  after the swing ends. :func:`swings` runs the same tracker over a whole recording, so live and
  batch give the same swings.
- :func:`guess_placement`, :func:`swing_traces` (angular speed per segment, for sequence plots),
  and the OpenBiomechanics reference figures (:func:`reference_table`,
  :func:`place_against_reference`).

Placements: "pelvis" (phone on the belt), "wrist" (watch, ``wrist motion``), "pelvis+wrist"
(both; the watch drives detection), "bat" (phone on the knob).

Swing table columns (units in the names; ``*_ns`` epoch ns, nullable Int64):

- ``swing`` (0, 1, ...), ``placement``, ``start_ns``, ``end_ns``, ``duration_ms``: the window.
- ``foot_plant_ns``, ``foot_plant_g`` (height of the vertical spike): pelvis accelerometer.
- ``{pelvis,hand,bat}_peak_dps``: peak |ω|, refined between samples; NaN when clipped.
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
- Quality: ``*_rate_hz`` (samples/s within 100 ms of the event), ``*_gap`` (a sampling gap
  there: a step over 2.5 x the median), ``*_clipped`` (an axis at >= 98% of the gyroscope range
  in the swing). NA when the segment is not measured.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BAT_GUESS_DPS",
    "CLIP_FRACTION",
    "COLUMNS",
    "FOOT_PLANT_MIN_G",
    "MAX_DURATION_S",
    "MERGE_GAP_S",
    "MIN_DURATION_S",
    "MPS_TO_MPH",
    "PLACEMENTS",
    "REFERENCE_SOURCE",
    "SWEET_SPOT_M",
    "THRESHOLDS_DPS",
    "SwingDetector",
    "SwingTracker",
    "SwingWindow",
    "angular_speed_dps",
    "guess_placement",
    "place_against_reference",
    "reference_table",
    "swing_table",
    "swing_traces",
    "swings",
]

logger = logging.getLogger(__name__)

_G_MS2 = 9.80665
MPS_TO_MPH = 3600.0 / 1609.344
#: Knob to sweet spot of a 33-in bat (the sweet spot is 6 in from the tip), metres.
SWEET_SPOT_M = 0.686
#: An axis at or above this fraction of the gyroscope range counts as clipped.
CLIP_FRACTION = 0.98
PLACEMENTS = ("pelvis", "wrist", "pelvis+wrist", "bat")
#: (high, low) hysteresis thresholds of |ω| per segment, °/s. Walking pelvis turns 50-100 °/s
#: and jogging up to ~250; waggles of the hands or bat reach 200-400 °/s; swings peak higher.
THRESHOLDS_DPS = {"pelvis": (300.0, 120.0), "wrist": (700.0, 150.0), "bat": (800.0, 200.0)}
#: Swing windows last at least this long (s); longer than MAX_DURATION_S is running or spinning.
MIN_DURATION_S = 0.08
MAX_DURATION_S = 2.0
#: Windows closer than this (s) are one swing; also how long a window waits to be reported.
MERGE_GAP_S = 0.2
#: A phone whose swings reach this |ω| is on a bat (when the placement is not set).
BAT_GUESS_DPS = 1100.0
#: The smallest vertical spike (g, after removing the pelvis rotation) taken as a foot plant.
FOOT_PLANT_MIN_G = 0.5
_RAD = math.pi / 180.0
_PRE_NS = 500_000_000  # data kept before a window: foot plant and downswing start
_POST_NS = 50_000_000
_STALL_NS = 1_000_000_000  # stop waiting for a lagging sensor after this
_KEEP_NS = 10_000_000_000
_SEARCH_NS = 300_000_000  # the pelvis may start before the watch's window; foot plant before peak
_QUALITY_NS = 100_000_000
_SENSOR_COLUMNS = {
    "gyroscope": ("x", "y", "z"),
    "accelerometer": ("x", "y", "z"),
    "gravity": ("x", "y", "z"),
    "wrist motion": ("rotationRateX", "rotationRateY", "rotationRateZ"),
}
_REQUIRED = {
    "pelvis": ("gyroscope", "accelerometer", "gravity"),
    "wrist": ("wrist motion",),
    "pelvis+wrist": ("gyroscope", "accelerometer", "gravity", "wrist motion"),
    "bat": ("gyroscope",),
}


def angular_speed_dps(rate_rad_s: np.ndarray) -> np.ndarray:
    """|ω| in °/s from an (n, 3) array of angular velocity in rad/s."""
    return np.sqrt(np.einsum("ij,ij->i", rate_rad_s, rate_rad_s)) * (180.0 / math.pi)


@dataclass(frozen=True)
class SwingWindow:
    """A stretch of high angular speed: ``start_ns``/``end_ns`` are the samples below the low
    threshold around it; ``peak_dps`` the highest sample, at ``peak_ns``."""

    start_ns: int
    end_ns: int
    peak_dps: float
    peak_ns: int


class SwingDetector:
    """Hysteresis on one |ω| stream, fed in chunks (time-sorted, strictly increasing).

    A window starts at most ``max_rise_s`` before the crossing of the high threshold; windows
    shorter than ``min_duration_s`` or longer than ``max_duration_s`` are dropped. The windows
    do not depend on how the stream is cut into chunks. A window is returned once,
    by the call that sees the first sample more than ``merge_gap_s`` after its end (or by
    :meth:`flush`), so the look-ahead is ``merge_gap_s``.
    """

    def __init__(
        self,
        high_dps: float,
        low_dps: float,
        *,
        min_duration_s: float = MIN_DURATION_S,
        max_duration_s: float = MAX_DURATION_S,
        merge_gap_s: float = MERGE_GAP_S,
        max_rise_s: float = 1.0,
    ) -> None:
        if not 0 < low_dps < high_dps:
            raise ValueError(f"need 0 < low_dps < high_dps, got {low_dps}, {high_dps}")
        self.high_dps, self.low_dps = float(high_dps), float(low_dps)
        self._min_ns = round(min_duration_s * 1e9)
        self._max_ns = round(max_duration_s * 1e9)
        self._gap_ns = round(merge_gap_s * 1e9)
        self._max_rise_ns = round(max_rise_s * 1e9)
        self._rise_ns: int | None = None  # last sample below low while idle
        self._cur: list | None = None  # active window: [start, peak_dps, peak_ns]
        self._pending: list | None = None  # closed window: [start, end, peak_dps, peak_ns]
        self._last_ns: int | None = None

    @property
    def open_start_ns(self) -> int | None:
        """Start of the window in progress or awaiting a merge, if any."""
        if self._pending is not None:
            return self._pending[0]
        return self._cur[0] if self._cur is not None else None

    def feed(self, time_ns: np.ndarray, omega_dps: np.ndarray) -> list[SwingWindow]:
        """Process a chunk; return the windows completed by it."""
        t = np.asarray(time_ns, dtype=np.int64)
        w = np.asarray(omega_dps, dtype=float)
        out: list[SwingWindow] = []
        i, n = 0, len(t)
        while i < n:
            if self._cur is None:
                above = np.flatnonzero(w[i:] > self.high_dps)
                j = i + int(above[0]) if above.size else n
                if self._pending is not None:
                    p_end = self._pending[1]
                    if j < n and t[j] - p_end <= self._gap_ns:
                        self._cur = [self._pending[0], self._pending[2], self._pending[3]]
                        self._pending = None
                    elif j < n or t[n - 1] - p_end > self._gap_ns:
                        out += self._emit()
                if self._cur is None:
                    below = np.flatnonzero(w[i:j] < self.low_dps)
                    if below.size:
                        self._rise_ns = int(t[i + below[-1]])
                    if j == n:
                        break
                    earliest = int(t[j]) - self._max_rise_ns
                    rise = self._rise_ns if self._rise_ns is not None else earliest
                    self._cur = [max(rise, earliest), -1.0, 0]
                i = j
            below = np.flatnonzero(w[i:] < self.low_dps)
            k = i + int(below[0]) if below.size else n
            if k > i:
                m = i + int(np.argmax(w[i:k]))
                if w[m] > self._cur[1]:
                    self._cur[1], self._cur[2] = float(w[m]), int(t[m])
            if k == n:
                break
            self._pending = [self._cur[0], int(t[k]), self._cur[1], self._cur[2]]
            self._cur = None
            self._rise_ns = int(t[k])
            i = k
        if n:
            self._last_ns = int(t[-1])
        return out

    def flush(self) -> list[SwingWindow]:
        """End of stream: close and return what is open."""
        if self._cur is not None and self._last_ns is not None:
            self._pending = [self._cur[0], self._last_ns, self._cur[1], self._cur[2]]
            self._cur = None
        return self._emit()

    def _emit(self) -> list[SwingWindow]:
        p, self._pending = self._pending, None
        if p is None or not self._min_ns <= p[1] - p[0] <= self._max_ns:
            return []
        return [SwingWindow(int(p[0]), int(p[1]), float(p[2]), int(p[3]))]


# --- metrics ---------------------------------------------------------------------------------

_SEGMENT_COLUMNS = ("peak_dps", "peak_measured_dps", "peak_ns", "clipped", "rate_hz", "gap")
#: Columns of the swing table, in order.
COLUMNS = [
    *("swing", "placement", "start_ns", "end_ns", "duration_ms"),
    *("foot_plant_ns", "foot_plant_g", "foot_plant_rate_hz", "foot_plant_gap"),
    *(f"pelvis_{c}" for c in (*_SEGMENT_COLUMNS, "peak_after_fp_ms")),
    *(f"hand_{c}" for c in (*_SEGMENT_COLUMNS, "peak_after_fp_ms")),
    *("peak_gap_ms", "sequence_ok", "speed_gain"),
    *(f"bat_{c}" for c in _SEGMENT_COLUMNS),
    *("bat_speed_mph", "bat_speed_measured_mph", "downswing_start_ns", "impact_ns"),
    *("impact_found", "time_to_contact_ms", "rot_accel_g"),
]
_FLAG_COLUMNS = {c for c in COLUMNS if c.endswith(("_gap", "_clipped", "_ok", "_found"))}
_Data = dict[str, tuple[np.ndarray, np.ndarray]]


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


def _highpass(t: np.ndarray, x: np.ndarray, width_s: float) -> np.ndarray:
    """x minus its running median over ``width_s``: keeps spikes, drops smooth motion."""
    n = max(3, int(round(width_s / (np.median(np.diff(t)) * 1e-9))) | 1)
    med = pd.Series(x).rolling(n, center=True, min_periods=1).median().to_numpy()
    return x - med


def _rotation_accel(t, a, tg, rate_rad_s) -> np.ndarray:
    """Acceleration of a rigid body turning at the gyroscope's rate, α × r + ω × (ω × r),
    with the phone's offset r from the rotation axis fitted by least squares (m/s²)."""
    x, xg = (t - t[0]) * 1e-9, (tg - t[0]) * 1e-9
    w = np.column_stack([np.interp(x, xg, rate_rad_s[:, c]) for c in range(3)])
    al = np.gradient(w, x, axis=0)
    m = np.einsum("ni,nj->nij", w, w) - np.einsum("ni,ni->n", w, w)[:, None, None] * np.eye(3)
    m += np.cross(al[:, None, :], np.eye(3)).transpose(0, 2, 1)  # α × r as a matrix
    r = np.linalg.lstsq(m.reshape(-1, 3), a.reshape(-1), rcond=None)[0]
    return m @ r


def _foot_plant(data: _Data, lo_ns: float, hi_ns: float) -> dict[str, Any] | None:
    """The sharpest vertical acceleration spike between lo_ns and hi_ns (pelvis phone)."""
    if "accelerometer" not in data:
        return None
    t_all, a_all = data["accelerometer"]
    i = int(np.searchsorted(t_all, lo_ns - 100_000_000))
    j = int(np.searchsorted(t_all, hi_ns + 100_000_000, side="right"))
    t, a = t_all[i:j], a_all[i:j]
    if len(t) < 5:
        return None
    if "gyroscope" in data and len(data["gyroscope"][0]) >= 3:
        a = a - _rotation_accel(t, a, *data["gyroscope"])
    vert = np.linalg.norm(a, axis=1)
    if "gravity" in data and len(data["gravity"][0]) >= 2:
        tg, g = data["gravity"]
        g = np.column_stack([np.interp(t, tg, g[:, c]) for c in range(3)])
        norm = np.linalg.norm(g, axis=1)
        # the sign of gravity differs between iOS and Android: only the vertical line matters
        vert = np.where(norm > 1.0, np.einsum("ij,ij->i", a, g) / np.maximum(norm, 1e-9), vert)
    hp = np.abs(_highpass(t, vert, 0.15))
    core = np.flatnonzero((t >= lo_ns) & (t <= hi_ns))
    if not core.size:
        return None
    k = int(core[np.argmax(hp[core])])
    if hp[k] < FOOT_PLANT_MIN_G * _G_MS2:
        return None
    fp_ns = float(t[k])
    if 0 < k < len(t) - 1 and hp[k - 1] > 0 and hp[k + 1] > 0:  # a Gaussian: parabola in log
        x = (t[k - 1 : k + 2] - t[k]) * 1e-6
        fit = _fit_peak(x, np.log(hp[k - 1 : k + 2]), x[-1])
        fp_ns += 0.0 if fit is None else fit[0] * 1e6
    rate, gap = _quality(t_all, fp_ns)
    return {"ns": round(fp_ns), "g": float(hp[k] / _G_MS2), "rate_hz": rate, "gap": gap}


def _impact(t: np.ndarray, w: np.ndarray, k: int) -> tuple[float, float] | None:
    """Contact near the peak at index k: (time_ns, time_ns the peak must come before), or None.

    The steepest relative drop within 15 ms before to 40 ms after the peak, three times the
    step before it began, reached within one step or 10 ms and losing 12% within 20 ms; the follow-through of a swing without
    contact slows down gradually. Phone accelerometers sample too slowly to catch the spike.
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


def _bat_metrics(data: _Data, win: SwingWindow, range_dps: float, sweet_m: float) -> dict:
    t, v = data["gyroscope"]
    w = angular_speed_dps(v)
    pk = _peak(t, v, w, win.start_ns, win.end_ns, range_dps)
    if pk is None:
        return {}
    k = pk["k"]
    found = _impact(t, w, k)
    impact = None if found is None else found[0]
    if found is not None:
        pk = _peak(t, v, w, win.start_ns, win.end_ns, range_dps, stop_ns=found[1], limit_ns=impact)
    out = {f"bat_{name}": pk[name] for name in _SEGMENT_COLUMNS}
    out["bat_speed_mph"] = pk["peak_dps"] * _RAD * sweet_m * MPS_TO_MPH
    out["bat_speed_measured_mph"] = pk["peak_measured_dps"] * _RAD * sweet_m * MPS_TO_MPH
    out["impact_found"] = impact is not None
    out["impact_ns"] = None if impact is None else round(impact)
    c30 = _crossing(t, w, k, 0.3 * pk["peak_measured_dps"])
    c10 = _crossing(t, w, c30[1] + 1, 0.1 * pk["peak_measured_dps"]) if c30 else None
    if c30 and c10:
        start = c10[0] - 0.5 * (c30[0] - c10[0])
        out["downswing_start_ns"] = round(start)
        end = impact if impact is not None else pk["peak_ns"]
        out["time_to_contact_ms"] = (end - start) / 1e6
        early = float(np.interp(start + 30e6, t.astype(float), w)) * _RAD
        out["rot_accel_g"] = early * early * sweet_m / _G_MS2
    return out


def _swing_row(win: SwingWindow, placement: str, driver: str, data: _Data, tracker) -> dict:
    row: dict[str, Any] = {
        c: None if c.endswith("_ns") or c in _FLAG_COLUMNS else math.nan for c in COLUMNS
    }
    row.update(placement=placement, start_ns=win.start_ns, end_ns=win.end_ns)
    row["duration_ms"] = (win.end_ns - win.start_ns) / 1e6
    segments = []
    if "wrist" in placement and "wrist motion" in data:
        segments.append(("hand", "wrist motion", win.start_ns, tracker.wrist_gyro_range_dps))
    if "pelvis" in placement and "gyroscope" in data:
        lo = win.start_ns - (_SEARCH_NS if driver == "wrist motion" else 0)
        segments.append(("pelvis", "gyroscope", lo, tracker.gyro_range_dps))
    for seg, sensor, lo, range_dps in segments:
        t, v = data[sensor]
        pk = _peak(t, v, angular_speed_dps(v), lo, win.end_ns, range_dps)
        if pk is not None:
            row.update({f"{seg}_{name}": pk[name] for name in _SEGMENT_COLUMNS})
    if row["pelvis_peak_ns"] is not None:
        fp = _foot_plant(data, row["pelvis_peak_ns"] - _SEARCH_NS, row["pelvis_peak_ns"])
        if fp is not None:
            row.update(foot_plant_ns=fp["ns"], foot_plant_g=fp["g"])
            row.update(foot_plant_rate_hz=fp["rate_hz"], foot_plant_gap=fp["gap"])
            for seg in ("pelvis", "hand"):
                if row[f"{seg}_peak_ns"] is not None:
                    row[f"{seg}_peak_after_fp_ms"] = (row[f"{seg}_peak_ns"] - fp["ns"]) / 1e6
        if row["hand_peak_ns"] is not None:
            row["peak_gap_ms"] = (row["hand_peak_ns"] - row["pelvis_peak_ns"]) / 1e6
            row["sequence_ok"] = row["pelvis_peak_ns"] < row["hand_peak_ns"]
            row["speed_gain"] = row["hand_peak_dps"] / row["pelvis_peak_dps"]
    if placement == "bat" and "gyroscope" in data:
        row.update(_bat_metrics(data, win, tracker.gyro_range_dps, tracker.sweet_spot_m))
    return row


def swing_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The swing table (see the module docstring) from rows given by :class:`SwingTracker`."""
    rows = list(rows)
    cols: dict[str, Any] = {}
    for c in COLUMNS:
        values = [r.get(c) for r in rows]
        if c.endswith("_ns") or c in _FLAG_COLUMNS:
            cols[c] = pd.array(values, dtype="Int64" if c.endswith("_ns") else "boolean")
        elif c in ("swing", "placement"):
            cols[c] = pd.array(values, dtype="int64" if c == "swing" else "string")
        else:
            cols[c] = np.array([math.nan if x is None else x for x in values], dtype=float)
    return pd.DataFrame(cols, columns=list(COLUMNS))


# --- live tracker and batch ------------------------------------------------------------------


class _Stream:
    """Readings of one sensor: a reorder buffer of the newest ``hold_ns``, then time-sorted
    chunks handed on (committed) in order."""

    def __init__(self, width: int, hold_ns: int) -> None:
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self.hold_ns = hold_ns
        self.held = (np.empty(0, np.int64), np.empty((0, width)))
        self.first_ns: int | None = None
        self.last_ns = -1  # the newest reading committed
        self.late = 0

    def add(self, t: np.ndarray, v: np.ndarray, final: bool = False):
        """Take readings in any order; return those now committed (sorted, new, finite)."""
        keep = np.isfinite(v).all(axis=1) & (t > self.last_ns)
        self.late += int(len(t) - keep.sum())
        t, v = np.concatenate([self.held[0], t[keep]]), np.concatenate([self.held[1], v[keep]])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        dup = np.zeros(len(t), bool)
        dup[1:] = t[1:] == t[:-1]
        self.late += int(dup.sum())
        t, v = t[~dup], v[~dup]
        n = (
            len(t)
            if final or not len(t)
            else int(np.searchsorted(t, t[-1] - self.hold_ns, "right"))
        )
        self.held = (t[n:], v[n:])
        t, v = t[:n], v[:n]
        if n:
            self.chunks.append((t, v))
            self.first_ns = int(t[0]) if self.first_ns is None else self.first_ns
            self.last_ns = int(t[-1])
        return t, v

    def slice(self, lo_ns: int, hi_ns: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [c for c in self.chunks if c[0][-1] >= lo_ns and c[0][0] <= hi_ns]
        if not parts:
            return np.empty(0, np.int64), np.empty((0, 3))
        t = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        i, j = np.searchsorted(t, lo_ns), np.searchsorted(t, hi_ns, side="right")
        return t[i:j], v[i:j]

    def trim(self, before_ns: int) -> None:
        while len(self.chunks) > 1 and self.chunks[0][0][-1] < before_ns:
            self.chunks.pop(0)


class SwingTracker:
    """Live swing analysis: feed readings as they arrive, get one row per swing.

    Readings may come in any order within ``reorder_s`` (50 ms) of the newest of their
    sensor; older ones, repeats and non-finite values are dropped (``late_readings``). Each
    swing is returned once, by the call that brings the data ``reorder_s`` + 0.2 s (the merge
    gap) after its end and 50 ms of every other sensor it needs (a sensor lagging by over 1 s
    is not waited for). ``placement`` is one of :data:`PLACEMENTS`, or None to guess per swing:
    the watch drives when present (with the phone on the pelvis); a phone is a bat from its
    first swing over 1100 °/s on, and before that a pelvis swing needs a calm start and a foot
    plant. Rows are dicts with the :data:`COLUMNS`; :func:`swing_table` makes a DataFrame.
    Raises ValueError for an unknown placement.
    """

    def __init__(
        self,
        placement: str | None = None,
        *,
        gyro_range_dps: float = 2000.0,
        wrist_gyro_range_dps: float | None = None,
        sweet_spot_m: float = SWEET_SPOT_M,
        reorder_s: float = 0.05,
    ) -> None:
        if placement is not None and placement not in PLACEMENTS:
            raise ValueError(
                f"unknown placement {placement!r}; expected one of {', '.join(PLACEMENTS)}"
            )
        self.placement = placement
        self.gyro_range_dps = float(gyro_range_dps)
        self.wrist_gyro_range_dps = float(wrist_gyro_range_dps or gyro_range_dps)
        self.sweet_spot_m = float(sweet_spot_m)
        self._hold_ns = round(reorder_s * 1e9)
        gyro = THRESHOLDS_DPS["bat" if placement == "bat" else "pelvis"]
        self._detectors = {
            "gyroscope": SwingDetector(*gyro),
            "wrist motion": SwingDetector(*THRESHOLDS_DPS["wrist"]),
        }
        self._streams: dict[str, _Stream] = {}
        self._queue: list[tuple[SwingWindow, str, bool]] = []
        self._bat_seen = False
        self._count = 0

    @property
    def late_readings(self) -> int:
        """Readings dropped as late, duplicate or not finite."""
        return sum(s.late for s in self._streams.values())

    def feed(self, sensor: str, time_ns: Any, values: Any) -> list[dict[str, Any]]:
        """Add readings of one sensor: ``time_ns`` (epoch ns) and ``values``, a mapping of
        column name to array (a DataFrame works) or an (n, 3) array in column order (rad/s or
        m/s² as Sensor Logger sends them). Other sensors are ignored. Returns finished swings.
        Raises ValueError when a needed column is missing or the lengths differ."""
        self._ingest(sensor, time_ns, values)
        return self._drain(final=False)

    def flush(self) -> list[dict[str, Any]]:
        """End of the recording: close open windows and return the swings left."""
        for name, stream in self._streams.items():
            empty = np.empty((0, stream.held[1].shape[1]))
            self._detect(name, *stream.add(np.empty(0, np.int64), empty, final=True))
        for name, det in self._detectors.items():
            for win in det.flush():
                self._enqueue(win, name)
        return self._drain(final=True)

    def _ingest(self, sensor: str, time_ns: Any, values: Any) -> None:
        cols = _SENSOR_COLUMNS.get(sensor)
        if cols is None:
            return
        t = np.asarray(time_ns, dtype=np.int64).ravel()
        if isinstance(values, np.ndarray):
            v = np.asarray(values, dtype=float).reshape(len(t), -1)[:, : len(cols)]
        else:
            missing = [c for c in cols if c not in values]
            if missing:
                raise ValueError(f"{sensor} readings need column(s) {', '.join(missing)}")
            v = np.column_stack([np.asarray(values[c], dtype=float) for c in cols])
        if v.shape != (len(t), len(cols)):
            raise ValueError(f"{sensor}: {len(t)} times but values of shape {v.shape}")
        stream = self._streams.setdefault(sensor, _Stream(len(cols), self._hold_ns))
        self._detect(sensor, *stream.add(t, v))

    def _detect(self, sensor: str, t: np.ndarray, v: np.ndarray) -> None:
        if sensor in self._detectors and len(t):
            for win in self._detectors[sensor].feed(t, angular_speed_dps(v)):
                self._enqueue(win, sensor)

    def _enqueue(self, win: SwingWindow, sensor: str) -> None:
        if sensor == "gyroscope" and win.peak_dps >= BAT_GUESS_DPS:
            self._bat_seen = True
        self._queue.append((win, sensor, self._bat_seen))

    def _placement_of(self, win: SwingWindow, sensor: str, bat_seen: bool) -> str | None:
        """The placement a window is analysed as, or None when its sensor does not drive."""
        p = self.placement
        if p is not None:
            drives = sensor == ("wrist motion" if "wrist" in p else "gyroscope")
            return p if drives else None
        if sensor == "wrist motion":
            return "pelvis+wrist" if "gyroscope" in self._streams else "wrist"
        wrist = self._streams.get("wrist motion")
        if wrist is not None and wrist.first_ns is not None and wrist.first_ns <= win.end_ns:
            return None
        return "bat" if bat_seen else "pelvis"

    def _drain(self, final: bool) -> list[dict[str, Any]]:
        out = []
        while self._queue:
            win, sensor, bat_seen = self._queue[0]
            placement = self._placement_of(win, sensor, bat_seen)
            if placement is not None and not final:
                need = win.end_ns + _POST_NS
                stalled = self._streams[sensor].last_ns >= need + _STALL_NS
                names = [n for n in _REQUIRED[placement] if n in self._streams]
                if not stalled and any(self._streams[n].last_ns < need for n in names):
                    break
            self._queue.pop(0)
            if placement is None:
                continue
            lo, hi = win.start_ns - _PRE_NS, win.end_ns + _POST_NS
            data = {n: s.slice(lo, hi) for n, s in self._streams.items()}
            data = {n: d for n, d in data.items() if len(d[0])}
            row = _swing_row(win, placement, sensor, data, self)
            if self.placement is None and not _plausible(win, placement, row, data):
                continue
            row["swing"] = self._count
            self._count += 1
            logger.debug("swing %d (%s) at %d", row["swing"], placement, win.start_ns)
            out.append(row)
        self._trim()
        return out

    def _trim(self) -> None:
        if not self._streams:
            return
        keep = max(s.last_ns for s in self._streams.values()) - _KEEP_NS
        starts = [d.open_start_ns for d in self._detectors.values()]
        starts += [w.start_ns for w, _, _ in self._queue[:1]]
        # a window open for longer than MAX_DURATION_S will be dropped: no need to keep its data
        keep = min([keep] + [s - _PRE_NS for s in starts if s is not None and s > keep])
        for s in self._streams.values():
            s.trim(keep)


def _plausible(win: SwingWindow, placement: str, row: dict, data: _Data) -> bool:
    """Whether a window of a guessed placement is a swing: a bat swing is fast; a pelvis
    swing starts from rest (not jogging with a bat) and has a foot plant."""
    if placement == "bat":
        return win.peak_dps >= THRESHOLDS_DPS["bat"][0]
    if placement != "pelvis":
        return True
    t, v = data["gyroscope"]
    before = v[(t >= win.start_ns - _PRE_NS) & (t < win.start_ns)]
    calm = len(before) == 0 or np.median(angular_speed_dps(before)) < THRESHOLDS_DPS["pelvis"][1]
    return bool(calm) and row["foot_plant_ns"] is not None


def _frame_arrays(frames: Mapping[str, pd.DataFrame], sensor: str):
    frame = frames.get(sensor)
    if frame is None or len(frame) == 0:
        return None
    if "time_ns" not in frame:
        raise ValueError(f"the {sensor} frame needs a time_ns column")
    return frame["time_ns"].to_numpy(np.int64), frame


def swings(
    frames: Mapping[str, pd.DataFrame],
    placement: str | None = None,
    *,
    gyro_range_dps: float = 2000.0,
    wrist_gyro_range_dps: float | None = None,
    sweet_spot_m: float = SWEET_SPOT_M,
) -> pd.DataFrame:
    """Swings of a recording: one row per swing (columns in the module docstring).

    ``frames`` maps a sensor name to a DataFrame with ``time_ns`` (int64 epoch ns) and its
    value columns (``x, y, z`` for accelerometer, gyroscope and gravity; ``rotationRateX/Y/Z``
    for ``wrist motion``); other sensors are ignored. ``placement`` as for
    :class:`SwingTracker`. Runs the live tracker over the whole recording, so the result equals
    feeding the same readings live. Raises ValueError for a missing column or bad placement.
    """
    settings = {"gyro_range_dps": gyro_range_dps, "sweet_spot_m": sweet_spot_m}
    tracker = SwingTracker(placement, wrist_gyro_range_dps=wrist_gyro_range_dps, **settings)
    for sensor in _SENSOR_COLUMNS:
        arrays = _frame_arrays(frames, sensor)
        if arrays is not None:
            tracker._ingest(sensor, *arrays)
    return swing_table(tracker.flush())


def guess_placement(frames: Mapping[str, pd.DataFrame]) -> str:
    """Where the devices of a recording sit: "pelvis+wrist" or "wrist" when a watch sent
    ``wrist motion``; otherwise "bat" if the phone turned faster than 1100 °/s, else "pelvis".
    Raises ValueError when there is neither gyroscope nor wrist motion data."""
    gyro = _frame_arrays(frames, "gyroscope")
    if _frame_arrays(frames, "wrist motion") is not None:
        return "pelvis+wrist" if gyro is not None else "wrist"
    if gyro is None:
        raise ValueError("need gyroscope or wrist motion readings to guess the placement")
    w = angular_speed_dps(gyro[1][list(_SENSOR_COLUMNS["gyroscope"])].to_numpy(float))
    return "bat" if np.nanmax(w) >= BAT_GUESS_DPS else "pelvis"


def swing_traces(
    frames: Mapping[str, pd.DataFrame],
    table: pd.DataFrame,
    *,
    pre_s: float = 0.3,
    post_s: float = 0.3,
) -> pd.DataFrame:
    """Angular speed of each segment around each swing of ``table``, for sequence plots.

    Long format: ``swing``, ``segment`` ("pelvis", "hand" or "bat"), ``time_ns``, ``t_ms``
    (from foot plant, or from the window start without one) and ``omega_dps``.
    """
    cols, parts = ["swing", "segment", "time_ns", "t_ms", "omega_dps"], []
    for sw in table.itertuples(index=False):
        ref = sw.foot_plant_ns if not pd.isna(sw.foot_plant_ns) else sw.start_ns
        lo, hi = sw.start_ns - round(pre_s * 1e9), sw.end_ns + round(post_s * 1e9)
        segs = [("pelvis", "gyroscope")] if "pelvis" in sw.placement else []
        segs += [("hand", "wrist motion")] if "wrist" in sw.placement else []
        segs += [("bat", "gyroscope")] if sw.placement == "bat" else []
        for seg, sensor in segs:
            if (arrays := _frame_arrays(frames, sensor)) is None:
                continue
            order = np.argsort(arrays[0], kind="stable")
            t, v = arrays[0][order], arrays[1][list(_SENSOR_COLUMNS[sensor])].to_numpy(float)[order]
            keep = (t >= lo) & (t <= hi)
            omega = angular_speed_dps(v[keep])
            part = {"swing": sw.swing, "segment": seg, "time_ns": t[keep], "omega_dps": omega}
            parts.append(pd.DataFrame(part).assign(t_ms=(t[keep] - ref) / 1e6))
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


# --- reference figures -----------------------------------------------------------------------

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


def place_against_reference(metric: str, value: float) -> pd.DataFrame:
    """Where ``value`` of ``metric`` (a column name such as ``pelvis_peak_dps``) sits per level.

    Adds ``position`` ("below", "within" or "above" the IQR; "unknown" for NaN) and
    ``percentile``, approximate: a normal on each side of the median, scaled to its quartile.
    Raises ValueError for a metric without reference figures.
    """
    if metric not in _REF_METRICS:
        raise ValueError(f"no reference figures for {metric!r}; known: {', '.join(_REF_METRICS)}")
    ref = reference_table()
    ref = ref[ref["metric"] == metric].drop(columns="metric").reset_index(drop=True)
    value = float(value)
    if math.isnan(value):
        ref["position"], ref["percentile"] = "unknown", math.nan
        return ref
    spread = np.where(value < ref["median"], ref["median"] - ref["q1"], ref["q3"] - ref["median"])
    z = (value - ref["median"].to_numpy()) / (spread / 0.6744897501960817)
    ref["percentile"] = [50.0 * (1.0 + math.erf(x / math.sqrt(2.0))) for x in z]
    ref["position"] = np.where(
        value < ref["q1"], "below", np.where(value > ref["q3"], "above", "within")
    )
    return ref
