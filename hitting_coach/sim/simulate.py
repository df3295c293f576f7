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

This module holds the swing specification, the ground truth, the session and its messages; the
device model (signal shapes, attitude, sampling) is in :mod:`hitting_coach.sim.devices`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.sim.confusers import CONFUSERS, add_confuser, plan
from hitting_coach.sim.devices import (
    ACTIVITIES,
    SwingSpec,
    add_activity,
    add_swing,
    new_device,
    sample_readings,
)
from hitting_coach.sim.devices import SENSORS_BY_DEVICE as _SENSORS

__all__ = [
    "ACTIVITIES",
    "CONFUSERS",
    "DEFAULT_START_NS",
    "HITTER_SPREAD",
    "SENSORS_BY_PLACEMENT",
    "SimulatedSession",
    "iter_demo_messages",
    "iter_messages",
    "random_hitter",
    "random_swing",
    "simulate",
    "to_messages",
]

# The simulator's own physics, written independently of the code it checks.
_MPS_TO_MPH = 1 / 0.44704  # 1 mph is exactly 0.44704 m/s
_SWEET_SPOT_M = 0.686  # 27 in from the knob: 6 in from the tip of a 33-in bat

_G_MS2 = 9.80665
_RAD = math.pi / 180.0
DEFAULT_START_NS = 1_700_000_000_000_000_000
_DEVICES = {"pelvis": ("pelvis",), "wrist": ("wrist",), "pelvis+wrist": ("pelvis", "wrist")}
_DEVICES["bat"] = ("bat",)
SENSORS_BY_PLACEMENT = {p: tuple(s for d in ds for s in _SENSORS[d]) for p, ds in _DEVICES.items()}
_TRUTH_STEP_S = 5e-5
_ROT_ACCEL_AT_S = 0.03


_RANGES: dict[str, tuple[float, float]] = {
    "pelvis_peak_dps": (450.0, 950.0),
    "pelvis_delay_s": (0.05, 0.15),
    "hand_peak_dps": (1200.0, 2500.0),
    "hand_delay_s": (0.03, 0.09),
    "bat_peak_dps": (1800.0, 3000.0),
    "bat_delay_s": (0.0, 0.02),
    "downswing_s": (0.13, 0.22),
    "impact_delay_s": (0.0, 0.008),
    "impact_drop": (0.25, 0.45),
    "foot_plant_g": (0.12, 0.35),  # real: 0.16 g for a 3-4 cm step, 0.29 g for a 12 cm stride
    "load_g": (0.5, 0.9),
    "load_lag_s": (0.0, 0.02),
}


#: The forearm's roll-over per wrist: (share of the hand peak, delay after it in s) ranges.
_ROLLOVER = {"lead": ((1.05, 1.3), (0.05, 0.08)), "top": ((0.3, 0.6), (0.04, 0.07)), None: None}

_DRAWN_LAST = ("load_g", "load_lag_s")

#: A hitter's swings vary this much (±) about their own level.
HITTER_SPREAD = 0.1
_SPEEDS = ("pelvis_peak_dps", "hand_peak_dps", "bat_peak_dps")


def random_hitter(rng: np.random.Generator, speed: float = 1.0) -> dict[str, tuple[float, float]]:
    """Ranges of one hitter's swing speeds for :func:`random_swing`: a level drawn uniformly
    from each speed's range (pelvis, hand, bat °/s), times ``speed`` (1 = today's hitters,
    0.6 = a youth hitter or a swing without a bat), ±10% from swing to swing."""
    out = {}
    for name in _SPEEDS:
        level = float(rng.uniform(*_RANGES[name])) * speed
        out[name] = (level * (1 - HITTER_SPREAD), level * (1 + HITTER_SPREAD))
    return out


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
        if name not in _DRAWN_LAST:
            kw[name] = float(rng.uniform(lo, hi))
    kw["contact"] = bool(rng.random() < 0.75)
    for name in _DRAWN_LAST:  # after contact: the draws before it are those of older versions
        kw[name] = float(rng.uniform(*_RANGES[name]))
    for name, value in overrides.items():
        kw[name] = float(rng.uniform(*value)) if isinstance(value, tuple) else value
    return SwingSpec(foot_plant_s=foot_plant_s, **kw)


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
        row.update(
            swing=i + 1,
            placement=placement,
            start_ns=ns(fp - 0.6),
            foot_plant_ns=ns(fp) if s.stride else pd.NA,
        )
        last = fp
        for dev in devices:
            seg = _SEGMENT[dev.kind]
            tt = np.arange(fp - 0.6, fp + 0.6, _TRUTH_STEP_S)
            w = dev.omega_dps(tt, roll=False)  # the hands' speed into contact
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
    #: Motions that are not full swings: ``kind``, ``start_ns``, ``end_ns``, ``time_ns`` (the
    #: fastest moment); see :mod:`hitting_coach.sim.confusers`.
    confusers: pd.DataFrame = field(default_factory=lambda: _confuser_table([], 0))

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
    hitter_speed: float | None = None,
    confusers: Sequence[tuple[str, float]] = (),
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
    wrist: str | None = "lead",
) -> SimulatedSession:
    """Simulate a session of ``duration_s`` seconds for a placement.

    ``placement`` is "pelvis", "wrist", "pelvis+wrist" (phone on the belt relaying the watch)
    or "bat". ``swings``: explicit swings, or None for a random swing about every
    ``swing_every_s`` s (pass ``[]`` for none): each as fast as any hitter's, or, with
    ``hitter_speed``, all by one hitter (:func:`random_hitter`) at that fraction of today's
    speeds. ``confusers``: (kind, time s) motions that are not swings (:data:`CONFUSERS`),
    in the session's ``confusers`` table; give them 8 s from swings and from each other. ``activity`` between swings: "stand",
    "waggle", "walk" or "jog". ``rate_hz`` for every sensor, ``rates_hz`` per sensor name;
    ``gaps_s``: (start s, length s) spans with no readings. ``orientation_seed`` fixes how the
    devices sit on the body (default: from ``seed``). ``wrist``: where the watch sits, "lead"
    (the lead wrist, where most people wear one: the forearm's roll-over after contact is its
    largest reading, 105-130% of the hand peak, 50-80 ms later, as in real swings), "top" (the
    top hand: a smaller roll-over, 30-60%) or None (no roll-over). Raises ValueError for an
    unknown placement, activity or wrist, a rate outside 1-5000 Hz, or a swing outside the
    session.
    """
    if wrist not in _ROLLOVER:
        raise ValueError(f"unknown wrist {wrist!r}; expected 'lead', 'top' or None")
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
    hrng = np.random.default_rng([seed, 3])
    if swings is None:
        times = np.arange(2.5, duration_s - 2.0, swing_every_s)
        hitter = {} if hitter_speed is None else random_hitter(hrng, hitter_speed)
        specs = [random_swing(rng, float(t + rng.uniform(-0.3, 0.3)), **hitter) for t in times]
    else:
        specs = list(swings)
    if _ROLLOVER[wrist] is not None:
        wrng = np.random.default_rng([seed, 13])
        share, delay = _ROLLOVER[wrist]
        specs = [
            replace(
                s,
                rollover=float(wrng.uniform(*share)),
                rollover_delay_s=float(wrng.uniform(*delay)),
            )
            if s.rollover == 0
            else s
            for s in specs
        ]
    for s in specs:
        if not 1.0 <= s.foot_plant_s <= duration_s - 0.6:
            raise ValueError(f"swing at {s.foot_plant_s} s is outside the {duration_s} s session")
    crng = np.random.default_rng([seed, 5])
    hitter = specs[0] if specs else random_swing(np.random.default_rng([seed, 6]), 0.0)
    plans = [plan(kind, float(t), crng, hitter) for kind, t in confusers]
    for c in plans:
        if not 1.5 <= c.t_s <= duration_s - 2.5:
            raise ValueError(f"{c.kind} at {c.t_s} s is too near the ends of the session")
    orng = np.random.default_rng([seed if orientation_seed is None else orientation_seed, 7])
    frames: dict[str, pd.DataFrame] = {}
    devices = []
    for kind in _DEVICES[placement]:
        dev = new_device(kind, orng)
        for s in specs:
            add_swing(dev, s, rng)
        for c in plans:
            add_confuser(dev, c)
        add_activity(dev, activity, duration_s, specs, rng)
        devices.append(dev)
        readings = sample_readings(
            dev, rates, duration_s, gaps_s, gyro_range_dps, accel_range_g, noise_scale, rng
        )
        for name, (t, v, cols) in readings.items():
            frame = pd.DataFrame(v, columns=list(cols))
            frame.insert(0, "time_ns", start_ns + np.round(t * 1e9).astype(np.int64))
            frames[name] = frame
    truth = _truth(specs, devices, placement, gyro_range_dps, sweet_spot_m, start_ns)
    return SimulatedSession(
        frames,
        truth,
        placement,
        start_ns,
        duration_s,
        gyro_range_dps,
        rates,
        _confuser_table(plans, start_ns),
    )


def _confuser_table(plans, start_ns: int) -> pd.DataFrame:
    def ns(t: float) -> int:
        return start_ns + round(t * 1e9)

    rows = [(c.kind, ns(c.start_s), ns(c.end_s), ns(c.t_s)) for c in plans]
    table = pd.DataFrame(rows, columns=["kind", "start_ns", "end_ns", "time_ns"])
    return table.astype({"kind": "string", "start_ns": "Int64", "end_ns": "Int64"}).astype(
        {"time_ns": "Int64"}
    )


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
