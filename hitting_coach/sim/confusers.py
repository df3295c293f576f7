"""Motions that are not swings, for the simulator: what real recordings showed the detector.

Each confuser is what a hitter (or a player of another sport) does with the arm that wears the
watch, as rotation about an axis fixed in the world at the stance attitude, turning back to the
stance afterwards so later swings keep their axis:

- about a horizontal axis (a vertical plane): ``throw``, ``toss`` (underhand), ``bowling``,
  ``serve``, ``jog`` (the arms swing like pendulums), ``dribble``, ``pick_up`` (bend for the
  ball) and ``tap_plate`` (flicks of the bat on the plate);
- about a steep, tilted axis: ``tennis_stroke`` (a forehand brushing up the ball);
- about the swing's own axis but small: ``waggle`` (the bat rocked back and forth in the
  stance, each way well under a quarter turn);
- swings that are not full swings: ``practice_swing`` (the whole swing at 40-50% of the
  hitter's speed, every device) and ``checked_swing`` (started at speed, stopped after about a
  third of the turn: the detector reports it with ``checked`` True).

Peaks reach the speeds of real swings (throws, serves, bowling up to 1200 °/s at the wrist),
so speed alone cannot tell them apart. :func:`plan` draws one, :func:`add_confuser` adds it
to a device. The watch carries every confuser; the pelvis phone and the bat only the swings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from hitting_coach.sim.devices import Device, SwingSpec, _askew, _Comp, _gauss, _rotate, _unit
from hitting_coach.sim.devices import _conj as _conjugate
from hitting_coach.sim.devices import add_swing as _add_swing

__all__ = ["CONFUSERS", "Confuser", "add_confuser", "plan"]

#: The confuser kinds; only ``checked_swing`` is reported (as checked), none is a swing.
CONFUSERS = (
    "throw",
    "toss",
    "bowling",
    "serve",
    "tennis_stroke",
    "jog",
    "dribble",
    "pick_up",
    "tap_plate",
    "waggle",
    "practice_swing",
    "checked_swing",
)
_SQRT_2PI = math.sqrt(2 * math.pi)
_RETURN_DPS = 100.0  # turning back to the stance, slower than any threshold


@dataclass(frozen=True)
class Confuser:
    """One planned confuser: ``kind`` at ``t_s`` (s from the session start, the fastest
    moment), drawn from ``seed``; ``swing`` is the spec of a practice or checked swing.
    ``start_s``/``end_s`` bound the motion (the ground truth)."""

    kind: str
    t_s: float
    seed: int
    swing: SwingSpec | None = None

    @property
    def start_s(self) -> float:
        return self.t_s - (2.5 if self.kind in ("jog", "dribble") else 1.0)

    @property
    def end_s(self) -> float:
        return self.t_s + (2.5 if self.kind in ("jog", "dribble") else 1.0)


def plan(kind: str, t_s: float, rng: np.random.Generator, hitter: SwingSpec) -> Confuser:
    """A confuser of ``kind`` at ``t_s`` for a hitter whose swings are like ``hitter``.
    Raises ValueError for an unknown kind."""
    if kind not in CONFUSERS:
        raise ValueError(f"unknown confuser {kind!r}; expected one of {', '.join(CONFUSERS)}")
    seed = int(rng.integers(2**31))
    swing = None
    if kind == "practice_swing":
        k = float(rng.uniform(0.4, 0.5))
        swing = replace(
            hitter,
            foot_plant_s=t_s - hitter.pelvis_delay_s - hitter.hand_delay_s,
            pelvis_peak_dps=k * hitter.pelvis_peak_dps,
            hand_peak_dps=k * hitter.hand_peak_dps,
            bat_peak_dps=k * hitter.bat_peak_dps,
            contact=False,
        )
    elif kind == "checked_swing":
        swing = replace(hitter, foot_plant_s=t_s - hitter.pelvis_delay_s - hitter.hand_delay_s)
    return Confuser(kind, float(t_s), seed, swing)


def _world_axis(dev: Device, tilt_deg: float, azimuth: float) -> np.ndarray:
    """Device-frame axis at ``tilt_deg`` from the vertical (at the stance attitude)."""
    tilt = math.radians(tilt_deg)
    world = np.array(
        [math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)]
    )
    return _unit(_rotate(_conjugate(dev.q0), world))


def _turn(dev: Device, axis, t0: float, peak: float, angle: float, rise: float = 0.55) -> float:
    """Turn ``angle`` degrees about ``axis`` peaking at ``peak`` °/s at ``t0`` (signed by
    ``peak``); returns the angle turned."""
    width = 2 * angle / (abs(peak) * _SQRT_2PI)
    sr, sf = rise * width, (1 - rise) * width
    fn = partial(_askew, t0=t0, peak=peak, sig_r=sr, sig_f=sf)
    dev.other.append((axis, _Comp(t0 - 6 * sr, t0 + 6 * sf, fn)))
    return math.copysign(angle, peak)


def _back(dev: Device, axis, after_s: float, net: float) -> None:
    """Turn back by ``net`` degrees about ``axis`` after ``after_s``, slowly."""
    sig = max(0.25, abs(net) / (_RETURN_DPS * _SQRT_2PI))
    t_c = after_s + 3 * sig
    fn = partial(_gauss, t0=t_c, peak=-net / (sig * _SQRT_2PI), sig=sig)
    dev.other.append((axis, _Comp(t_c - 3 * sig, t_c + 3 * sig, fn)))


def _rocking(dev: Device, axis, t0: float, amp_deg: float, f_hz: float, cycles: int) -> None:
    """Back and forth about ``axis``, ``amp_deg`` each way at ``f_hz``, for whole cycles under a
    Hann window centred on t0 (it ends where it began)."""
    span = cycles / f_hz
    lo = t0 - span / 2

    def fn(t: np.ndarray) -> np.ndarray:
        x = (t - lo) / span
        hann = 0.5 - 0.5 * np.cos(2 * math.pi * x)
        return amp_deg * 2 * math.pi * f_hz * np.sin(2 * math.pi * f_hz * (t - lo)) * hann

    dev.other.append((axis, _Comp(lo, lo + span, fn)))


def add_confuser(dev: Device, c: Confuser) -> None:
    """Add confuser ``c`` to ``dev``: practice and checked swings to every device, the rest to
    the watch only."""
    rng = np.random.default_rng([c.seed, 1])
    if c.kind == "practice_swing":
        _add_swing(dev, c.swing, rng)
        return
    if c.kind == "checked_swing":
        _checked(dev, c, rng)
        return
    if dev.kind != "wrist":
        return
    az = rng.uniform(0, 2 * math.pi)
    level = _world_axis(dev, rng.uniform(80.0, 90.0), az)  # a horizontal axis
    t, net = c.t_s, 0.0
    if c.kind in ("throw", "serve", "bowling"):
        fast = {"throw": (800, 1100), "serve": (900, 1250), "bowling": (600, 1100)}[c.kind]
        net += _turn(dev, level, t - 0.45, -rng.uniform(200, 300), rng.uniform(100, 150))
        net += _turn(dev, level, t, rng.uniform(*fast), rng.uniform(260, 360))
    elif c.kind == "toss":
        net += _turn(dev, level, t, rng.uniform(400, 650), rng.uniform(120, 180))
    elif c.kind == "tennis_stroke":
        steep = _world_axis(dev, rng.uniform(65.0, 80.0), az)
        net = _turn(dev, steep, t, rng.uniform(700, 1100), rng.uniform(220, 300))
        _back(dev, steep, t + 0.3, net)
        return
    elif c.kind == "pick_up":
        net += _turn(dev, level, t - 0.4, -rng.uniform(300, 450), rng.uniform(80, 110))
        net += _turn(dev, level, t + 0.4, rng.uniform(300, 450), abs(net))
    elif c.kind == "tap_plate":
        for i in range(int(rng.integers(2, 4))):
            t_i = t + 0.35 * i
            net += _turn(dev, level, t_i, rng.uniform(400, 650), rng.uniform(20, 35))
            net += _turn(dev, level, t_i + 0.12, -rng.uniform(400, 650), rng.uniform(20, 35))
    elif c.kind in ("jog", "dribble"):
        f, amp = (rng.uniform(1.3, 1.5), rng.uniform(40, 60))
        if c.kind == "dribble":
            f, amp = rng.uniform(1.6, 2.2), rng.uniform(30, 40)
        _rocking(dev, level, t, amp, f, cycles=int(4 * f))
        return
    elif c.kind == "waggle":
        for i in range(2 * int(rng.integers(1, 3))):
            sign = 1 if i % 2 == 0 else -1
            peak = sign * rng.uniform(450, 600)
            net += _turn(dev, dev.axis, t + 0.2 * i, peak, rng.uniform(35, 55), rise=0.5)
        _back(dev, dev.axis, t + 0.5, net)
        return
    _back(dev, level, t + 0.4, net)


def _checked(dev: Device, c: Confuser, rng: np.random.Generator) -> None:
    """A swing started at speed and stopped: the hands turn about a third of a swing's way,
    braking hard after the peak; the hips start to open."""
    s = c.swing
    if dev.kind == "wrist":
        peak, angle, t = s.hand_peak_dps * rng.uniform(0.7, 0.9), rng.uniform(110, 140), c.t_s
    elif dev.kind == "pelvis":
        peak, angle, t = s.pelvis_peak_dps * 0.6, rng.uniform(25, 35), s.pelvis_peak_s
    else:
        peak, angle, t = s.bat_peak_dps * 0.5, rng.uniform(60, 80), c.t_s
    net = _turn(dev, dev.axis, t, peak, angle, rise=0.7)
    _back(dev, dev.axis, t + 0.3, net)
