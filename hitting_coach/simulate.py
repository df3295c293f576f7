"""Physics-based swing simulator: Sensor Logger readings with known ground truth.

A simulated hitter wears up to three devices, each a rigid body whose rotation is a sum of
components about axes fixed in the device frame (the swing axis is a random direction in the
device frame, so the rotation spreads over x, y and z and only the magnitude is meaningful):

- ``pelvis``: phone on the belt: ``gyroscope`` (rad/s), ``accelerometer`` (user acceleration,
  gravity removed, m/s², iOS style) and ``gravity`` (m/s², pointing down). The swing is a load
  (small counter-rotation), a stride (forward then backward pelvis acceleration), the foot plant
  (a sharp vertical deceleration spike) and the pelvis rotation, peaking after foot plant.
- ``wrist``: Apple Watch on the lead wrist, relayed by the phone as ``wrist motion``
  (rotation rate rad/s, user acceleration and gravity in g, attitude quaternion). The hand
  peaks after the pelvis.
- ``bat``: phone on the knob: ``gyroscope`` and ``accelerometer``. The downswing starts from
  rest, peaks near contact; contact is a sudden drop of angular speed with an acceleration spike.

Sensors add Gaussian noise (gyroscope 0.17 °/s, accelerometer 0.02 m/s², about a phone's),
clip at their range (gyroscope ±2000 °/s, accelerometer ±16 g by default), sample at 100-500 Hz
with a little timing jitter (5% of a period), and can have gaps. Between swings the hitter stands,
waggles (hands and bat 200-400 °/s, pelvis dry turns 150-250 °/s), walks or jogs.

``simulate`` returns the readings per sensor and a ground-truth table (one row per swing, true
peaks from the noise-free model); ``to_messages`` and ``iter_messages`` batch readings into push
messages; ``iter_demo_messages`` yields an endless live demo stream. Everything is deterministic
for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from hitting_coach.swings import MPS_TO_MPH as _MPS_TO_MPH
from hitting_coach.swings import SWEET_SPOT_M as _SWEET_SPOT_M

__all__ = [
    "ACTIVITIES",
    "DEFAULT_START_NS",
    "SENSORS_BY_PLACEMENT",
    "SimulatedSession",
    "SwingSpec",
    "iter_demo_messages",
    "iter_messages",
    "random_swing",
    "simulate",
    "to_messages",
]

_G_MS2 = 9.80665
_RAD = math.pi / 180.0
DEFAULT_START_NS = 1_700_000_000_000_000_000
ACTIVITIES = ("stand", "waggle", "walk", "jog")
_DEVICES = {"pelvis": ("pelvis",), "wrist": ("wrist",), "pelvis+wrist": ("pelvis", "wrist")}
_DEVICES["bat"] = ("bat",)
_SENSORS = {
    "pelvis": ("gyroscope", "accelerometer", "gravity"),
    "bat": ("gyroscope", "accelerometer"),
    "wrist": ("wrist motion",),
}
#: Sensor names each placement produces.
SENSORS_BY_PLACEMENT = {p: tuple(s for d in ds for s in _SENSORS[d]) for p, ds in _DEVICES.items()}
_TILT_DEG = {"pelvis": (5.0, 12.0), "wrist": (20.0, 60.0), "bat": (20.0, 50.0)}
_RADIUS_M = {"pelvis": 0.12, "wrist": 0.35, "bat": 0.10}
_XYZ = ("x", "y", "z")
_WRIST_COLUMNS = (
    *(f"rotationRate{a}" for a in "XYZ"),
    *(f"acceleration{a}" for a in "XYZ"),
    *(f"gravity{a}" for a in "XYZ"),
    *(f"quaternion{a}" for a in "WXYZ"),
)
_GRID_S = 1e-3
_TRUTH_STEP_S = 5e-5
_ROT_ACCEL_AT_S = 0.03


@dataclass(frozen=True)
class SwingSpec:
    """One simulated swing. Times in seconds from the session start, angular speeds in °/s.

    The chain: foot plant → pelvis peak (``pelvis_delay_s`` later) → hand peak
    (``hand_delay_s`` after the pelvis) → bat peak (``bat_delay_s`` after the hand), with the
    downswing starting ``downswing_s`` before the bat peak and contact ``impact_delay_s`` after.
    """

    foot_plant_s: float
    pelvis_peak_dps: float = 700.0
    pelvis_delay_s: float = 0.05
    hand_peak_dps: float = 1800.0
    hand_delay_s: float = 0.06
    bat_peak_dps: float = 2200.0
    bat_delay_s: float = 0.01
    downswing_s: float = 0.16
    contact: bool = True
    impact_delay_s: float = 0.004
    impact_drop: float = 0.35
    foot_plant_g: float = 2.0

    @property
    def pelvis_peak_s(self) -> float:
        return self.foot_plant_s + self.pelvis_delay_s

    @property
    def hand_peak_s(self) -> float:
        return self.pelvis_peak_s + self.hand_delay_s

    @property
    def bat_peak_s(self) -> float:
        return self.hand_peak_s + self.bat_delay_s

    @property
    def impact_s(self) -> float:
        return self.bat_peak_s + self.impact_delay_s if self.contact else math.nan


_RANGES: dict[str, tuple[float, float]] = {
    "pelvis_peak_dps": (450.0, 950.0),
    "pelvis_delay_s": (0.03, 0.09),
    "hand_peak_dps": (1200.0, 2500.0),
    "hand_delay_s": (0.03, 0.09),
    "bat_peak_dps": (1800.0, 3000.0),
    "bat_delay_s": (0.0, 0.02),
    "downswing_s": (0.13, 0.22),
    "impact_delay_s": (0.0, 0.008),
    "impact_drop": (0.25, 0.45),
    "foot_plant_g": (1.5, 3.0),
}


def random_swing(rng: np.random.Generator, foot_plant_s: float, **overrides: Any) -> SwingSpec:
    """A plausible random swing with foot plant at ``foot_plant_s`` (s from session start).

    Each field is drawn uniformly from its range (e.g. pelvis 450-950 °/s, hand 1200-2500 °/s,
    bat 1800-3000 °/s, contact three times in four); ``overrides`` fixes fields by name, and a
    ``(low, high)`` tuple replaces the range. Raises TypeError for an unknown field.
    """
    names = {f.name for f in fields(SwingSpec)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"unknown SwingSpec field(s): {', '.join(sorted(unknown))}")
    kw: dict[str, Any] = {}
    for name, (lo, hi) in _RANGES.items():
        kw[name] = float(rng.uniform(lo, hi))
    kw["contact"] = bool(rng.random() < 0.75)
    for name, value in overrides.items():
        kw[name] = float(rng.uniform(*value)) if isinstance(value, tuple) else value
    return SwingSpec(foot_plant_s=foot_plant_s, **kw)


# --- signal shapes (t in s, result in °/s or m/s²) -------------------------------------------


def _gauss(t: np.ndarray, t0: float, peak: float, sig: float) -> np.ndarray:
    return peak * np.exp(-0.5 * ((t - t0) / sig) ** 2)


def _askew(t: np.ndarray, t0: float, peak: float, sig_r: float, sig_f: float) -> np.ndarray:
    sig = np.where(t < t0, sig_r, sig_f)
    return peak * np.exp(-0.5 * ((t - t0) / sig) ** 2)


def _sine(t: np.ndarray, amp: float, f: float, phase: float) -> np.ndarray:
    return amp * np.sin(2 * math.pi * f * t + phase)


def _bat(t, t_ds, t_pk, peak, sig_f, t_imp, drop, tau=0.003):
    x = (t - t_ds) / (t_pk - t_ds)
    w = np.where(x <= 1.0, peak * (2 * x - x * x), peak * np.exp(-0.5 * ((t - t_pk) / sig_f) ** 2))
    w = np.where(x > 0, w, 0.0)
    if not math.isnan(t_imp):
        after = np.clip(t - t_imp, 0.0, None)
        w = w * np.where(t > t_imp, 1.0 - drop * (1.0 - np.exp(-after / tau)), 1.0)
    return w


def _scaled(t: np.ndarray, fn: Callable, k: float, shift: float) -> np.ndarray:
    return k * fn(t - shift)


def _envelope(t: np.ndarray, quiet: Sequence[tuple[float, float]], taper: float = 0.4):
    env = np.ones_like(t)
    for a, b in quiet:
        d = np.maximum(a - t, t - b)
        env *= np.where(
            d <= 0, 0.0, np.where(d >= taper, 1.0, 0.5 - 0.5 * np.cos(np.pi * d / taper))
        )
    return env


def _enveloped(t: np.ndarray, fn: Callable, quiet) -> np.ndarray:
    return fn(t) * _envelope(t, quiet)


def _steps(t: np.ndarray, t0: float, rate: float, amp: float, sig: float) -> np.ndarray:
    nearest = t0 + np.round((t - t0) * rate) / rate
    return _gauss(t, nearest, amp, sig)


class _Comp(NamedTuple):
    lo: float
    hi: float
    fn: Callable[[np.ndarray], np.ndarray]


def _eval(comps: Sequence[_Comp], t: np.ndarray) -> np.ndarray:
    out = np.zeros(len(t))
    for c in comps:
        i, j = np.searchsorted(t, (c.lo, c.hi))
        if j > i:
            out[i:j] += c.fn(t[i:j])
    return out


# --- quaternions (w, x, y, z), device → world ------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = a[..., :1] * b[..., :1] - np.sum(a[..., 1:] * b[..., 1:], axis=-1, keepdims=True)
    v = a[..., :1] * b[..., 1:] + b[..., :1] * a[..., 1:] + np.cross(a[..., 1:], b[..., 1:])
    return np.concatenate([w, v], axis=-1)


def _qaxis(axis: np.ndarray, angle: float) -> np.ndarray:
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * _unit(axis)])


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _integrate(q0: np.ndarray, omega_rad: np.ndarray, dt: float) -> np.ndarray:
    """Attitude on a grid from body-frame angular velocity (a parallel prefix product)."""
    half = omega_rad * (dt / 2)
    ang = np.linalg.norm(half, axis=1, keepdims=True)
    q = np.concatenate([np.cos(ang), half * np.sinc(ang / np.pi)], axis=1)
    q = np.concatenate([q0[None, :], q[:-1]])
    step = 1
    while step < len(q):
        q[step:] = _qmul(q[:-step], q[step:])
        step *= 2
    return _unit(q)


# --- devices ---------------------------------------------------------------------------------


@dataclass
class _Device:
    kind: str
    q0: np.ndarray
    axis: np.ndarray
    e_r: np.ndarray
    radius_m: float
    main: list[_Comp] = field(default_factory=list)
    other: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)
    world_acc: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)
    body_acc: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)

    def omega_dps(self, t: np.ndarray) -> np.ndarray:
        w = np.outer(_eval(self.main, t), self.axis)
        for ax, comp in self.other:
            w += np.outer(_eval([comp], t), ax)
        return w

    def user_accel(self, t: np.ndarray, q: np.ndarray) -> np.ndarray:
        world = np.zeros((len(t), 3))
        for d, comp in self.world_acc:
            world += np.outer(_eval([comp], t), d)
        acc = _rotate(_conj(q), world)
        # rigid body: the device sits at radius_m * e_r from a point on the rotation axis
        h, r = 1e-4, self.radius_m * self.e_r
        w = self.omega_dps(t) * _RAD
        alpha = (self.omega_dps(t + h) - self.omega_dps(t - h)) * (_RAD / (2 * h))
        acc += np.cross(alpha, r) + np.cross(w, np.cross(w, r))
        for d, comp in self.body_acc:
            acc += np.outer(_eval([comp], t), d)
        return acc


_INF = math.inf
_UP = np.array([0.0, 0.0, 1.0])
_FORWARD = np.array([1.0, 0.0, 0.0])


def _new_device(kind: str, orng: np.random.Generator) -> _Device:
    axis = _unit(orng.normal(size=3))
    e_r = _unit(np.cross(axis, orng.normal(size=3)))
    tilt = math.radians(orng.uniform(*_TILT_DEG[kind]))
    az = orng.uniform(0, 2 * math.pi)
    world_axis = np.array([math.sin(tilt) * math.cos(az), math.sin(tilt) * math.sin(az)])
    world_axis = np.append(world_axis, math.cos(tilt))
    cross = np.cross(axis, world_axis)
    between = _qaxis(cross, math.acos(float(np.clip(axis @ world_axis, -1, 1))))
    q0 = _qmul(_qaxis(world_axis, orng.uniform(0, 2 * math.pi)), between)
    return _Device(kind, q0, axis, e_r, _RADIUS_M[kind])


def _add_swing(dev: _Device, s: SwingSpec, rng: np.random.Generator) -> None:
    fp = s.foot_plant_s
    wobble_axis = _unit(np.cross(dev.axis, rng.normal(size=3)))
    if dev.kind in ("pelvis", "wrist"):
        if dev.kind == "pelvis":
            tp, peak = s.pelvis_peak_s, s.pelvis_peak_dps
            sr, sf, t_load = rng.uniform(0.07, 0.10), rng.uniform(0.05, 0.07), fp - 0.25
        else:
            tp, peak = s.hand_peak_s, s.hand_peak_dps
            sr, sf, t_load = rng.uniform(0.05, 0.07), rng.uniform(0.035, 0.05), fp - 0.2
        swing = _Comp(
            tp - 6 * sr, tp + 6 * sf, partial(_askew, t0=tp, peak=peak, sig_r=sr, sig_f=sf)
        )
        k, lag = rng.uniform(0.08, 0.2), rng.uniform(0.0, 0.02)
        wob = partial(_askew, t0=tp - lag, peak=k * peak, sig_r=sr, sig_f=sf)
        dev.other.append((wobble_axis, _Comp(tp - lag - 6 * sr, tp + 6 * sf, wob)))
        end = tp + 6 * sf
    else:
        t_pk, sf = s.bat_peak_s, rng.uniform(0.05, 0.07)
        t_ds = t_pk - s.downswing_s
        fn = partial(_bat, t_ds=t_ds, t_pk=t_pk, peak=s.bat_peak_dps, sig_f=sf)
        fn = partial(fn, t_imp=s.impact_s, drop=s.impact_drop)
        end = t_pk + 6 * sf
        swing = _Comp(t_ds, end, fn)
        shift = rng.uniform(0.0, 0.015)
        wob = partial(_scaled, fn=fn, k=rng.uniform(0.1, 0.2), shift=shift)
        dev.other.append((wobble_axis, _Comp(t_ds + shift, end + shift, wob)))
        t_load = t_ds - 0.25
        if s.contact:
            e_t = np.cross(dev.axis, dev.e_r)
            pulse = partial(_gauss, t0=s.impact_s + 0.001, peak=rng.uniform(40, 80), sig=0.003)
            dev.body_acc.append((-e_t, _Comp(s.impact_s - 0.03, s.impact_s + 0.03, pulse)))
    load = _Comp(
        t_load - 0.5, t_load + 0.5, partial(_gauss, t0=t_load, peak=-rng.uniform(60, 110), sig=0.08)
    )
    grid = np.arange(fp - 1.0, end + 0.1, _GRID_S)
    net = float(np.sum(_eval([swing, load], grid)) * _GRID_S)
    # turning back to the stance, slower than any threshold (what is left stays turned)
    sig = min(0.5, max(0.3, net / (180.0 * math.sqrt(2 * math.pi))))
    t_ret = end + 0.2 + 2.5 * sig
    back = partial(
        _gauss, t0=t_ret, peak=-min(net / (sig * math.sqrt(2 * math.pi)), 180.0), sig=sig
    )
    dev.main += [swing, load, _Comp(t_ret - 5 * sig, t_ret + 5 * sig, back)]
    if dev.kind == "pelvis":
        a_stride = rng.uniform(1.5, 3.0)
        for t0, a, sg in ((fp - 0.35, a_stride, 0.08), (fp - 0.08, -a_stride, 0.06)):
            dev.world_acc.append(
                (_FORWARD, _Comp(t0 - 0.5, t0 + 0.5, partial(_gauss, t0=t0, peak=a, sig=sg)))
            )
        spike = partial(_gauss, t0=fp, peak=s.foot_plant_g * _G_MS2, sig=rng.uniform(0.008, 0.014))
        dev.world_acc.append((_UP, _Comp(fp - 0.1, fp + 0.1, spike)))


def _add_activity(dev: _Device, activity: str, duration_s: float, specs, rng) -> None:
    quiet = [(s.foot_plant_s - 1.3, s.foot_plant_s + 3.0) for s in specs]
    if activity in ("walk", "jog"):
        jog = activity == "jog"
        f = rng.uniform(1.3, 1.5) if jog else rng.uniform(0.85, 1.0)

        def quieted(fn: Callable) -> _Comp:
            return _Comp(-_INF, _INF, partial(_enveloped, fn=fn, quiet=quiet))

        def sway(amp: float, freq: float) -> _Comp:
            return quieted(partial(_sine, amp=amp, f=freq, phase=rng.uniform(0, 2 * math.pi)))

        if dev.kind == "pelvis":
            dev.main.append(sway(rng.uniform(100, 160) if jog else rng.uniform(50, 90), f))
            dev.other.append(
                (dev.e_r, sway(rng.uniform(60, 100) if jog else rng.uniform(20, 40), 2 * f))
            )
        else:
            lo, hi = {("wrist", True): (300, 450), ("wrist", False): (100, 200)}.get(
                (dev.kind, jog), (250, 400) if jog else (60, 150)
            )
            dev.other.append((_unit(rng.normal(size=3)), sway(rng.uniform(lo, hi), f)))
        bounce = partial(
            _sine, amp=rng.uniform(5, 8) if jog else rng.uniform(2, 3), f=2 * f, phase=0.0
        )
        heel_g = rng.uniform(15, 25) if jog else rng.uniform(5, 8)
        heel = partial(_steps, t0=0.0, rate=2 * f, amp=heel_g, sig=0.02)
        dev.world_acc += [(_UP, quieted(bounce)), (_UP, quieted(heel))]
    elif activity == "waggle":
        t = rng.uniform(0.5, 1.5)
        while t < duration_s - 1.0:
            n = int(rng.integers(2, 4))
            if dev.kind == "pelvis":
                sig, peak, ax = rng.uniform(0.10, 0.15), rng.uniform(150, 250), None
            else:
                sig, peak, ax = (
                    rng.uniform(0.05, 0.07),
                    rng.uniform(200, 400),
                    _unit(rng.normal(size=3)),
                )
            span = (t - 4 * sig, t + 3.0 * sig * n + 4 * sig)
            if not any(a < span[1] and span[0] < b for a, b in quiet):
                for i in range(n):
                    t0, sign = t + i * 3.0 * sig, (-1) ** i
                    fn = partial(_gauss, t0=t0, peak=sign * peak, sig=sig)
                    comp = _Comp(t0 - 5 * sig, t0 + 5 * sig, fn)
                    if ax is None:
                        dev.main.append(comp)
                    else:
                        dev.other.append((ax, comp))
            t = span[1] + rng.uniform(1.0, 2.5)
    elif activity != "stand":
        raise ValueError(f"unknown activity {activity!r}; expected one of {', '.join(ACTIVITIES)}")
    for _ in range(3):
        fn = partial(
            _sine, amp=rng.uniform(1, 4), f=rng.uniform(0.2, 1.0), phase=rng.uniform(0, 6.28)
        )
        dev.other.append((_unit(rng.normal(size=3)), _Comp(-_INF, _INF, fn)))


# --- sampling --------------------------------------------------------------------------------


def _times(rng, duration_s: float, rate_hz: float, gaps_s) -> np.ndarray:
    n = int(duration_s * rate_hz)
    t = (np.arange(n) + rng.uniform(0.0, 1.0)) / rate_hz
    t += np.clip(rng.normal(0.0, 0.05, n), -0.3, 0.3) / rate_hz
    keep = t < duration_s
    for a, length in gaps_s:
        keep &= (t < a) | (t >= a + length)
    return t[keep]


def _readings(dev: _Device, rates, duration_s, gaps_s, gyro_range_dps, accel_range_g, noise, rng):
    grid = np.arange(0.0, duration_s + 3 * _GRID_S, _GRID_S)
    qg = _integrate(dev.q0, dev.omega_dps(grid) * _RAD, _GRID_S)

    def attitude(t):
        x = t / _GRID_S
        i = np.clip(np.floor(x).astype(int), 0, len(qg) - 2)
        f = (x - i)[:, None]
        return _unit(qg[i] * (1 - f) + qg[i + 1] * f)

    def gyro(t):
        w = dev.omega_dps(t) * _RAD + rng.normal(0.0, 0.003 * noise, (len(t), 3))
        return np.clip(w, -gyro_range_dps * _RAD, gyro_range_dps * _RAD)

    def accel(t, q):
        a = dev.user_accel(t, q) + rng.normal(0.0, 0.02 * noise, (len(t), 3))
        return np.clip(a, -accel_range_g * _G_MS2, accel_range_g * _G_MS2)

    def gravity(q):
        down = np.broadcast_to(np.array([0.0, 0.0, -_G_MS2]), (len(q), 3))
        return _rotate(_conj(q), down) + rng.normal(0.0, 0.01 * noise, (len(q), 3))

    out: dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]] = {}
    for name in _SENSORS[dev.kind]:
        t = _times(rng, duration_s, rates[name], gaps_s)
        q = attitude(t)
        if name == "gyroscope":
            out[name] = (t, gyro(t), _XYZ)
        elif name == "accelerometer":
            out[name] = (t, accel(t, q), _XYZ)
        elif name == "gravity":
            out[name] = (t, gravity(q), _XYZ)
        else:
            v = np.hstack([gyro(t), accel(t, q) / _G_MS2, gravity(q) / _G_MS2, q])
            out[name] = (t, v, _WRIST_COLUMNS)
    return out


_SEGMENT = {"pelvis": "pelvis", "wrist": "hand", "bat": "bat"}
_TRUTH_COLUMNS = [
    *("swing", "placement", "start_ns", "end_ns", "foot_plant_ns"),
    *(
        f"{seg}_{c}"
        for seg in ("pelvis", "hand", "bat")
        for c in ("peak_dps", "peak_ns", "clipped")
    ),
    *("downswing_start_ns", "impact_ns", "contact", "bat_speed_mph", "rot_accel_g"),
    "time_to_contact_ms",
]


def _truth(specs, devices, placement, gyro_range_dps, sweet_spot_m, start_ns) -> pd.DataFrame:
    def ns(t: float):
        return pd.NA if math.isnan(t) else start_ns + round(t * 1e9)

    rows = []
    for i, s in enumerate(specs):
        fp = s.foot_plant_s
        row: dict[str, Any] = dict.fromkeys(_TRUTH_COLUMNS, math.nan)
        row.update(swing=i, placement=placement, start_ns=ns(fp - 0.6), foot_plant_ns=ns(fp))
        last = fp
        for dev in devices:
            seg = _SEGMENT[dev.kind]
            tt = np.arange(fp - 0.6, fp + 0.6, _TRUTH_STEP_S)
            w = dev.omega_dps(tt)
            mag = np.linalg.norm(w, axis=1)
            k = int(np.argmax(mag))
            row[f"{seg}_peak_dps"] = float(mag[k])
            row[f"{seg}_peak_ns"] = ns(tt[k])
            row[f"{seg}_clipped"] = bool(np.abs(w).max() >= gyro_range_dps)
            last = max(last, tt[k])
            if dev.kind == "bat":
                t_ds = s.bat_peak_s - s.downswing_s
                early = np.linalg.norm(dev.omega_dps(np.array([t_ds + _ROT_ACCEL_AT_S]))) * _RAD
                row.update(
                    downswing_start_ns=ns(t_ds),
                    impact_ns=ns(s.impact_s),
                    contact=s.contact,
                    bat_speed_mph=mag[k] * _RAD * sweet_spot_m * _MPS_TO_MPH,
                    rot_accel_g=early**2 * sweet_spot_m / _G_MS2,
                    time_to_contact_ms=((s.impact_s if s.contact else tt[k]) - t_ds) * 1e3,
                )
        row["end_ns"] = ns(last + 0.3)
        rows.append(row)
    truth = pd.DataFrame(rows, columns=list(_TRUTH_COLUMNS))
    for c in truth.columns:
        if c.endswith("_ns"):
            truth[c] = truth[c].astype("Int64")
        elif c.endswith("_clipped") or c == "contact":
            truth[c] = truth[c].astype("boolean")
    return truth.astype({"swing": "int64"})


@dataclass(frozen=True)
class SimulatedSession:
    """A simulated recording: ``frames`` maps a sensor name to a DataFrame (``time_ns`` int64
    epoch ns plus its value columns, Sensor Logger units), ``truth`` has one row per swing."""

    frames: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    placement: str
    start_ns: int
    duration_s: float
    gyro_range_dps: float
    rates_hz: dict[str, float]

    def messages(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Push messages of this session; keyword arguments as for :func:`to_messages`."""
        kwargs.setdefault("t0_ns", self.start_ns)
        return to_messages(self.frames, **kwargs)


def simulate(
    placement: str = "pelvis",
    *,
    duration_s: float = 30.0,
    swings: Sequence[SwingSpec] | None = None,
    swing_every_s: float = 6.0,
    activity: str = "stand",
    rate_hz: float = 100.0,
    rates_hz: Mapping[str, float] | None = None,
    gyro_range_dps: float = 2000.0,
    accel_range_g: float = 16.0,
    noise_scale: float = 1.0,
    gaps_s: Sequence[tuple[float, float]] = (),
    sweet_spot_m: float = _SWEET_SPOT_M,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 0,
    orientation_seed: int | None = None,
) -> SimulatedSession:
    """Simulate a session of ``duration_s`` seconds for a placement.

    ``placement`` is "pelvis", "wrist", "pelvis+wrist" (phone on the belt relaying the watch)
    or "bat". ``swings``: explicit swings, or None for a random swing about every
    ``swing_every_s`` s (pass ``[]`` for none). ``activity`` between swings: "stand",
    "waggle", "walk" or "jog". ``rate_hz`` for every sensor, ``rates_hz`` per sensor name;
    ``gaps_s``: (start s, length s) spans with no readings. ``orientation_seed`` fixes how the
    devices sit on the body (default: from ``seed``). Raises ValueError for an unknown
    placement or activity, a rate outside 1-5000 Hz, or a swing outside the session.
    """
    if placement not in _DEVICES:
        raise ValueError(f"unknown placement {placement!r}; expected one of {', '.join(_DEVICES)}")
    if activity not in ACTIVITIES:
        raise ValueError(f"unknown activity {activity!r}; expected one of {', '.join(ACTIVITIES)}")
    rates = {s: float(rate_hz) for s in SENSORS_BY_PLACEMENT[placement]}
    rates.update({k: float(v) for k, v in (rates_hz or {}).items() if k in rates})
    for name, r in rates.items():
        if not 1.0 <= r <= 5000.0:
            raise ValueError(f"rate of {name} must be within 1-5000 Hz, got {r}")
    rng = np.random.default_rng(seed)
    if swings is None:
        times = np.arange(2.5, duration_s - 2.0, swing_every_s)
        specs = [random_swing(rng, float(t + rng.uniform(-0.3, 0.3))) for t in times]
    else:
        specs = list(swings)
    for s in specs:
        if not 1.0 <= s.foot_plant_s <= duration_s - 0.6:
            raise ValueError(f"swing at {s.foot_plant_s} s is outside the {duration_s} s session")
    orng = np.random.default_rng([seed if orientation_seed is None else orientation_seed, 7])
    frames: dict[str, pd.DataFrame] = {}
    devices = []
    for kind in _DEVICES[placement]:
        dev = _new_device(kind, orng)
        for s in specs:
            _add_swing(dev, s, rng)
        _add_activity(dev, activity, duration_s, specs, rng)
        devices.append(dev)
        readings = _readings(
            dev, rates, duration_s, gaps_s, gyro_range_dps, accel_range_g, noise_scale, rng
        )
        for name, (t, v, cols) in readings.items():
            frame = pd.DataFrame(v, columns=list(cols))
            frame.insert(0, "time_ns", start_ns + np.round(t * 1e9).astype(np.int64))
            frames[name] = frame
    truth = _truth(specs, devices, placement, gyro_range_dps, sweet_spot_m, start_ns)
    return SimulatedSession(frames, truth, placement, start_ns, duration_s, gyro_range_dps, rates)


# --- Sensor Logger messages ------------------------------------------------------------------


def iter_messages(
    frames: Mapping[str, pd.DataFrame],
    *,
    session_id: str = "sim-session",
    device_id: str = "sim-phone",
    batch_s: float = 0.2,
    first_message_id: int = 1,
    t0_ns: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Batch readings into push messages as the app would send them: ``(send_at_ns, message)``.

    Every sensor's readings of one ``batch_s`` period (counted from ``t0_ns``, default the first
    reading) go into one message, interleaved by time, or in random order when ``shuffle`` (as
    Android sends them). ``send_at_ns`` is the end of the period. ``messageId`` increments from
    ``first_message_id``; empty periods send nothing. Raises ValueError if ``batch_s`` <= 0.
    """
    batch_ns = round(batch_s * 1e9)
    if batch_ns <= 0:
        raise ValueError(f"batch_s must be positive, got {batch_s}")
    return _batches(frames, session_id, device_id, batch_ns, first_message_id, t0_ns, shuffle, seed)


def _batches(frames, session_id, device_id, batch_ns, first_message_id, t0_ns, shuffle, seed):
    names = [n for n, f in frames.items() if len(f)]
    if not names:
        return
    times = [frames[n]["time_ns"].to_numpy(np.int64) for n in names]
    values = []
    for n in names:
        cols = [c for c in frames[n].columns if c != "time_ns"]
        lists = [frames[n][c].tolist() for c in cols]
        values.append([dict(zip(cols, row, strict=True)) for row in zip(*lists, strict=True)])
    t_all = np.concatenate(times)
    s_all = np.concatenate([np.full(len(t), i) for i, t in enumerate(times)])
    r_all = np.concatenate([np.arange(len(t)) for t in times])
    t0 = int(t_all.min()) if t0_ns is None else int(t0_ns)
    b_all = (t_all - t0) // batch_ns
    tie = np.random.default_rng(seed).random(len(t_all)) if shuffle else t_all
    order = np.lexsort((tie, b_all))
    bounds = np.flatnonzero(np.diff(b_all[order])) + 1
    message_id = first_message_id
    for group in np.split(order, bounds):
        payload = [
            {"name": names[s], "time": int(t), "values": values[s][r]}
            for s, t, r in zip(s_all[group], t_all[group], r_all[group], strict=True)
        ]
        msg = {
            "messageId": message_id,
            "sessionId": session_id,
            "deviceId": device_id,
            "payload": payload,
        }
        yield t0 + (int(b_all[group[0]]) + 1) * batch_ns, msg
        message_id += 1


def to_messages(frames: Mapping[str, pd.DataFrame], **kwargs: Any) -> list[dict[str, Any]]:
    """The messages of :func:`iter_messages` (same keyword arguments) as a list."""
    return [msg for _, msg in iter_messages(frames, **kwargs)]


def iter_demo_messages(
    start_ns: int,
    *,
    placement: str = "pelvis+wrist",
    device_id: str = "demo-phone",
    session_id: str | None = None,
    seed: int = 0,
    rate_hz: float = 100.0,
    batch_s: float = 0.2,
    swing_every_s: float = 6.0,
    gyro_range_dps: float = 2000.0,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Endless live demo: ``(send_at_ns, message)`` with times from ``start_ns`` (epoch ns).

    Each ``swing_every_s`` period has waggles in the stance and one swing near its middle.
    The caller sends each message at ``send_at_ns``. Raises ValueError for an unknown
    placement or ``swing_every_s`` under 4 s.
    """
    if placement not in _DEVICES:
        raise ValueError(f"unknown placement {placement!r}; expected one of {', '.join(_DEVICES)}")
    if swing_every_s < 4.0:
        raise ValueError(f"swing_every_s must be at least 4 s, got {swing_every_s}")
    settings = {"rate_hz": rate_hz, "gyro_range_dps": gyro_range_dps}
    session_id = session_id or f"demo-{seed}"
    return _demo(start_ns, placement, device_id, session_id, seed, batch_s, swing_every_s, settings)


def _demo(start_ns, placement, device_id, session_id, seed, batch_s, swing_every_s, settings):
    rng = np.random.default_rng([seed, 11])
    message_id = 1
    cycle = 0
    while True:
        cycle_ns = start_ns + round(cycle * swing_every_s * 1e9)
        spec = random_swing(rng, 0.45 * swing_every_s + float(rng.uniform(-0.3, 0.3)))
        session = simulate(
            placement,
            duration_s=swing_every_s,
            swings=[spec],
            activity="waggle",
            start_ns=cycle_ns,
            seed=int(rng.integers(2**31)),
            orientation_seed=seed,
            **settings,
        )
        for send_at_ns, msg in iter_messages(
            session.frames,
            session_id=session_id,
            device_id=device_id,
            batch_s=batch_s,
            first_message_id=message_id,
            t0_ns=cycle_ns,
        ):
            message_id = msg["messageId"] + 1
            yield send_at_ns, msg
        cycle += 1
