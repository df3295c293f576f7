"""The simulator's device model: rigid bodies turning and accelerating, sampled as sensors.

A :class:`Device` (pelvis phone, watch on the wrist, or bat phone) turns about axes fixed in
its frame; its angular velocity and acceleration are sums of components (signal shapes in
°/s or m/s² over time in s). :func:`new_device` places one on the body at random,
:func:`add_swing` adds one swing of a :class:`~hitting_coach.sim.simulate.SwingSpec` and
:func:`add_activity` what the hitter does between swings; :func:`sample_readings` integrates
the attitude (quaternions, device → world) and samples each sensor with jitter, gaps, noise
and clipping in Sensor Logger units. :func:`hitting_coach.sim.simulate.simulate` puts these together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np

from hitting_coach.sensors import ACCELEROMETER, GRAVITY, GYROSCOPE, SENSORS

__all__ = [
    "SwingSpec",
    "ACTIVITIES",
    "SENSORS_BY_DEVICE",
    "Device",
    "add_activity",
    "attitude_at",
    "horizontal_axis",
    "add_swing",
    "new_device",
    "sample_readings",
]


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
    #: How far the pelvis drops into the stride before the foot lands (g, the downward phase
    #: of the vertical acceleration); ``stride`` False: no stride (the feet stay down).
    foot_plant_g: float = 0.2
    stride: bool = True
    #: The upward load from foot plant into the rotation peak (g, at the pelvis peak).
    load_g: float = 0.7
    #: The vertical acceleration turns upward this long after the foot lands (s).
    load_lag_s: float = 0.01
    #: How far the hands turn about their axis in the swing (°, 0-30% more from swing to swing): a
    #: slower swing takes longer.
    hand_turn_deg: float = 260.0
    #: The forearm's roll-over after contact, as a share of the hand peak (a watch on the lead
    #: wrist: above 1, its largest reading, as in real swings; on the top hand: under 1), and
    #: how long after the hand peak it peaks (s). 0: none.
    rollover: float = 0.0
    rollover_delay_s: float = 0.06

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


_G_MS2 = 9.80665
_RAD = math.pi / 180.0
#: What the hitter does between swings.
ACTIVITIES = ("stand", "waggle", "walk", "jog")
#: Sensor names each device kind produces (the registry's ``simulated_on``), the gyroscope
#: first: the random draws follow this order, so a seed gives the same session as before.
SENSORS_BY_DEVICE = {
    kind: tuple(
        sorted(
            (s.name for s in SENSORS.values() if kind in s.simulated_on),
            key=lambda name: name != GYROSCOPE,
        )
    )
    for kind in ("pelvis", "bat", "wrist")
}
_TILT_DEG = {"pelvis": (0.0, 5.0), "wrist": (10.0, 35.0), "bat": (20.0, 50.0)}
#: How much the segment wobbles off its swing axis (a share of 8-20% of its peak): the belt
#: phone less, as real pelvis phones turn close to one axis.
_WOBBLE = {"pelvis": 0.5, "wrist": 1.0, "bat": 1.0}
_RADIUS_M = {"pelvis": 0.12, "wrist": 0.35, "bat": 0.10}
_GRID_S = 1e-3


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
class Device:
    """One simulated device (``kind`` "pelvis", "wrist" or "bat") at attitude ``q0`` at t = 0.

    ``main`` components turn it about ``axis`` (its swing axis, device frame), ``other`` about
    their own axes; ``world_acc`` and ``body_acc`` add linear acceleration in the world and
    device frames. It sits ``radius_m`` along ``e_r`` from the rotation axis.
    """

    kind: str
    q0: np.ndarray
    axis: np.ndarray
    e_r: np.ndarray
    radius_m: float
    main: list[_Comp] = field(default_factory=list)
    other: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)
    #: The forearm's roll-over after contact (a watch: about its x axis), kept apart so the
    #: truth can give the hands' speed into contact without it.
    roll: list[_Comp] = field(default_factory=list)
    world_acc: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)
    body_acc: list[tuple[np.ndarray, _Comp]] = field(default_factory=list)

    def omega_dps(self, t: np.ndarray, roll: bool = True) -> np.ndarray:
        """Angular velocity (n, 3) in °/s, device frame, at times ``t`` (s); without the
        forearm's roll-over when ``roll`` is False."""
        w = np.outer(_eval(self.main, t), self.axis)
        for ax, comp in self.other:
            w += np.outer(_eval([comp], t), ax)
        if roll and self.roll:
            w += np.outer(_eval(self.roll, t), _FOREARM)
        return w

    def user_accel(self, t: np.ndarray, q: np.ndarray) -> np.ndarray:
        """User acceleration (n, 3) in m/s², device frame, at times ``t`` (s), attitudes ``q``."""
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
_FOREARM = np.array([1.0, 0.0, 0.0])  # a watch's x axis
_FORWARD = np.array([1.0, 0.0, 0.0])


def new_device(kind: str, orng: np.random.Generator) -> Device:
    """A device of ``kind`` with a random swing axis and a random, tilted attitude."""
    axis = orng.normal(size=3)
    if kind == "wrist":
        # a watch's x axis runs along the forearm: the hands swing across it (the forearm is a
        # radius of the swing), the roll-over after contact turns about it
        axis[0] = 0.0
    axis = _unit(axis)
    e_r = _unit(np.cross(axis, orng.normal(size=3)))
    tilt = math.radians(orng.uniform(*_TILT_DEG[kind]))
    az = orng.uniform(0, 2 * math.pi)
    world_axis = np.array([math.sin(tilt) * math.cos(az), math.sin(tilt) * math.sin(az)])
    world_axis = np.append(world_axis, math.cos(tilt))
    cross = np.cross(axis, world_axis)
    between = _qaxis(cross, math.acos(float(np.clip(axis @ world_axis, -1, 1))))
    q0 = _qmul(_qaxis(world_axis, orng.uniform(0, 2 * math.pi)), between)
    if kind == "pelvis":
        # the phone sits in front of the spine, level: its lever arm is horizontal, so the
        # pelvis turning does not shake it up and down (as in real swings)
        e_r = _rotate(_conj(q0), _unit(np.cross(world_axis, _UP)))
    return Device(kind, q0, axis, e_r, _RADIUS_M[kind])


def attitude_at(dev: Device, t_s: float) -> np.ndarray:
    """The device's attitude (quaternion, device → world) at ``t_s`` from the rotation added so
    far, integrated from ``q0`` at 0 s."""
    grid = np.arange(0.0, t_s + _GRID_S / 2, _GRID_S)
    return _integrate(dev.q0, dev.omega_dps(grid) * _RAD, _GRID_S)[-1]


def _back_to_stance(dev: Device, t1_s: float) -> None:
    """A slow turn after t1_s about one axis that brings the device back to its stance
    attitude ``q0``: what a hitter does after a swing (the forearm unrolls, the hips square)."""
    delta = _qmul(_conj(attitude_at(dev, t1_s)), dev.q0)
    delta = delta if delta[0] >= 0 else -delta
    angle = 2 * math.degrees(math.acos(min(1.0, float(delta[0]))))
    if angle < 1.0:
        return
    sig = max(0.2, angle / (110.0 * math.sqrt(2 * math.pi)))
    t_c = t1_s + 3 * sig
    fn = partial(_gauss, t0=t_c, peak=angle / (sig * math.sqrt(2 * math.pi)), sig=sig)
    dev.other.append((_unit(delta[1:]), _Comp(t_c - 3 * sig, t_c + 3 * sig, fn)))


def horizontal_axis(dev: Device, direction: np.ndarray) -> np.ndarray:
    """The device-frame axis that is horizontal in the world at the device's starting attitude
    (its stance), along the horizontal part of ``direction`` (world frame)."""
    world = _unit(np.array([direction[0], direction[1], 0.0]))
    return _rotate(_conj(dev.q0), world)


def add_swing(dev: Device, s: SwingSpec, rng: np.random.Generator) -> None:
    """Add one swing to ``dev``: load, the segment's rotation, its return to the stance and, for
    the pelvis, the stride and foot plant; for the bat, the contact pulse."""
    fp = s.foot_plant_s
    wobble_axis = _unit(np.cross(dev.axis, rng.normal(size=3)))
    if dev.kind == "wrist":  # before contact the forearm does not roll: no wobble about it
        wobble_axis = _unit(np.cross(dev.axis, _FOREARM))
    if dev.kind in ("pelvis", "wrist"):
        if dev.kind == "pelvis":
            tp, peak = s.pelvis_peak_s, s.pelvis_peak_dps
            sr, sf, t_load = rng.uniform(0.07, 0.10), rng.uniform(0.05, 0.07), fp - 0.25
        else:
            tp, peak = s.hand_peak_s, s.hand_peak_dps
            # the hands go round (hand_turn_deg) whatever the speed: slower swings last longer
            width = 2 * s.hand_turn_deg / (peak * math.sqrt(2 * math.pi))
            rise, turn = rng.uniform(0.55, 0.62), rng.uniform(1.0, 1.3)
            width *= turn  # one swing turns a little further than another: 260-340° by default
            sr, sf, t_load = rise * width, (1 - rise) * width, fp - 0.2
        swing = _Comp(
            tp - 6 * sr, tp + 6 * sf, partial(_askew, t0=tp, peak=peak, sig_r=sr, sig_f=sf)
        )
        k, lag = rng.uniform(0.08, 0.2) * _WOBBLE[dev.kind], rng.uniform(0.0, 0.02)
        wob = partial(_askew, t0=tp - lag, peak=k * peak, sig_r=sr, sig_f=sf)
        dev.other.append((wobble_axis, _Comp(tp - lag - 6 * sr, tp + 6 * sf, wob)))
        end = tp + 6 * sf
        roll = None
        if dev.kind == "wrist" and s.rollover > 0:
            roll = (tp + s.rollover_delay_s, rng.uniform(0.015, 0.025), s.rollover * peak)
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
    if dev.kind == "wrist" and roll is not None:
        _add_rollover(dev, *roll)
    if dev.kind != "bat":
        _back_to_stance(dev, t_ret + 2.5 * sig)
    if dev.kind == "pelvis":
        _add_stride(dev, s, rng)


def _add_rollover(dev: Device, t_roll: float, sig: float, peak: float) -> None:
    """The forearm rolling over after contact (about the watch's x axis) and unrolling at
    once, half as fast and twice as long, as the real lead wrist does. It turns the same way
    about the vertical as the swing (in the real swings the roll-over adds to the hands' turn)."""
    up = _rotate(_conj(attitude_at(dev, t_roll)), _UP)  # the vertical, in the device frame
    sign = math.copysign(1.0, float(dev.axis @ up)) * math.copysign(1.0, float(up[0]))
    fn = partial(_gauss, t0=t_roll, peak=sign * peak, sig=sig)
    dev.roll.append(_Comp(t_roll - 5 * sig, t_roll + 5 * sig, fn))
    t_back = t_roll + 4 * sig
    back = partial(_gauss, t0=t_back, peak=-0.5 * sign * peak, sig=2 * sig)
    dev.roll.append(_Comp(t_back - 10 * sig, t_back + 10 * sig, back))


def _half_sine(t: np.ndarray, t0: float, t1: float, peak: float) -> np.ndarray:
    x = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    return peak * np.sin(np.pi * x)


def _add_stride(dev: Device, s: SwingSpec, rng: np.random.Generator) -> None:
    """The stride and foot plant as a belt phone feels them (real swings, CMU motion capture
    and force plates): the pelvis drifts forward and drops into the stride (the vertical
    acceleration is downward); the lead foot lands, the forward drift stops and the vertical
    acceleration turns upward ``load_lag_s`` later, growing into an upward load that peaks
    with the pelvis rotation, not at foot plant. Without a stride, only the load."""
    fp, tp = s.foot_plant_s, s.pelvis_peak_s
    turn = fp + s.load_lag_s
    if s.stride:
        a_stride = rng.uniform(1.5, 3.0)
        for t0, a, sg in ((fp - 0.35, a_stride, 0.08), (fp - 0.08, -a_stride, 0.06)):
            dev.world_acc.append(
                (_FORWARD, _Comp(t0 - 0.5, t0 + 0.5, partial(_gauss, t0=t0, peak=a, sig=sg)))
            )
        t_drop = turn - rng.uniform(0.15, 0.25)
        drop = partial(_half_sine, t0=t_drop, t1=turn, peak=-s.foot_plant_g * _G_MS2)
        dev.world_acc.append((_UP, _Comp(t_drop, turn, drop)))
    end = turn + 2 * max(tp - turn, 0.03)
    load = partial(_half_sine, t0=turn, t1=end, peak=s.load_g * _G_MS2)
    dev.world_acc.append((_UP, _Comp(turn, end, load)))


def add_activity(
    dev: Device,
    activity: str,
    duration_s: float,
    specs: Sequence[SwingSpec],
    rng: np.random.Generator,
) -> None:
    """Add what the hitter does between ``specs`` (one of :data:`ACTIVITIES`) and a slow sway.
    Raises ValueError for an unknown activity."""
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
            # the arm swings like a pendulum: about a horizontal axis
            dev.other.append(
                (horizontal_axis(dev, rng.normal(size=3)), sway(rng.uniform(lo, hi), f))
            )
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
            n += n % 2  # back and forth: a waggle leaves the hands where they were
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


def sample_readings(
    dev: Device,
    rates: Mapping[str, float],
    duration_s: float,
    gaps_s: Sequence[tuple[float, float]],
    gyro_range_dps: float,
    accel_range_g: float,
    noise: float,
    rng: np.random.Generator,
) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
    """The device's sensors sampled over ``duration_s``: sensor name to (times s, values,
    column names), in Sensor Logger units, with timing jitter, ``gaps_s``, noise (scaled by
    ``noise``) and clipping at the ranges. ``rates`` gives each sensor's rate in Hz."""
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
    for name in SENSORS_BY_DEVICE[dev.kind]:
        t = _times(rng, duration_s, rates[name], gaps_s)
        q = attitude(t)
        columns = SENSORS[name].columns
        if name == GYROSCOPE:
            out[name] = (t, gyro(t), columns)
        elif name == ACCELEROMETER:
            out[name] = (t, accel(t, q), columns)
        elif name == GRAVITY:
            out[name] = (t, gravity(q), columns)
        else:  # wrist motion: rotation rate, acceleration (g), gravity (g), attitude
            v = np.hstack([gyro(t), accel(t, q) / _G_MS2, gravity(q) / _G_MS2, q])
            out[name] = (t, v, columns)
    return out
