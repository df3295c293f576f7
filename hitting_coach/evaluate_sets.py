"""The shared real recordings read as Hitting Coach receives them, by the package's own code.

``hitting-coach evaluate`` reads data and never runs code from a data folder: the sets it
knows are turned into sensor readings here.

- **Labelled wrist recordings** (UTD-MHAD, ``../shared/realdata/utd-mhad-wrist``): one CSV per
  recording, ``seconds, ax_g, ay_g, az_g, gx_dps, gy_dps, gz_dps`` at 50 Hz, acceleration in g
  with gravity. :func:`labelled_wrist_frame` makes the ``wrist motion`` an Apple Watch sends
  through Sensor Logger: rotation rate in rad/s, gravity split from the acceleration by a
  complementary filter (what CoreMotion's fusion does; 2% of the accelerometer per sample,
  the rest carried by the gyroscope), user acceleration the rest, the attitude left at
  identity (the source has none).
- **Sets with truth per take** (the CMU motion-capture set, ``../shared/realdata/cmu-124-mocap``):
  each take a folder holding Sensor Logger exports (``phone/``, ``watch/``: the converter's
  output, read by the export reader) and ``truth.json`` (swing times, foot plant, peaks).
  :func:`truth_takes` reads them.
- :func:`mirror_frames`: a recording as a hitter of the other hand would make it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.errors import SessionError

__all__ = [
    "LABELLED_RATE_HZ",
    "Take",
    "labelled_wrist_frame",
    "mirror_frames",
    "truth_takes",
]

#: The labelled wrist recordings' sampling rate (no timestamps in the source).
LABELLED_RATE_HZ = 50.0
_GRAVITY_ALPHA = 0.02  # the accelerometer's weight in the gravity estimate at each sample
_LABELLED_COLUMNS = ("ax_g", "ay_g", "az_g", "gx_dps", "gy_dps", "gz_dps")


def labelled_wrist_frame(path: str | Path, start_ns: int) -> pd.DataFrame:
    """One labelled wrist CSV as ``wrist motion`` readings from ``start_ns`` (epoch ns).
    Raises SessionError naming the file when it cannot be read or lacks a column."""
    path = Path(path)
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise SessionError(f"{path}: cannot read it as a labelled recording: {e}") from None
    missing = [c for c in _LABELLED_COLUMNS if c not in raw.columns]
    if missing or not len(raw):
        what = f"column(s) {', '.join(missing)}" if missing else "readings"
        raise SessionError(f"{path}: a labelled recording needs {what}")
    try:
        acc = raw[list(_LABELLED_COLUMNS[:3])].to_numpy(float)
        rate = np.radians(raw[list(_LABELLED_COLUMNS[3:])].to_numpy(float))
    except (TypeError, ValueError) as e:
        raise SessionError(f"{path}: a value is not a number: {e}") from None
    if not (np.isfinite(acc).all() and np.isfinite(rate).all()):
        raise SessionError(f"{path}: a value is not a finite number")
    dt = 1.0 / LABELLED_RATE_HZ
    g = acc[: min(5, len(acc))].mean(axis=0)
    gravity = np.empty_like(acc)
    for k in range(len(acc)):
        # a vector fixed in the world, seen from the turning wrist: dg/dt = -ω × g
        g = (1 - _GRAVITY_ALPHA) * (g - np.cross(rate[k], g) * dt) + _GRAVITY_ALPHA * acc[k]
        g = g / (np.linalg.norm(g) or 1.0)
        gravity[k] = g
    n = len(acc)
    frame = pd.DataFrame(
        {
            "time_ns": start_ns + np.round(np.arange(n) * 1e9 / LABELLED_RATE_HZ).astype(np.int64),
            **{f"rotationRate{a}": rate[:, i] for i, a in enumerate("XYZ")},
            **{f"acceleration{a}": acc[:, i] - gravity[:, i] for i, a in enumerate("XYZ")},
            **{f"gravity{a}": gravity[:, i] for i, a in enumerate("XYZ")},
            "quaternionW": np.ones(n),
            **{f"quaternion{a}": np.zeros(n) for a in "XYZ"},
        }
    )
    return frame


@dataclass
class Take:
    """One take of a set with truth: its readings and, per true swing, the times (epoch ns) of
    the pelvis peak, the foot plant (None: not known) and the hand peak (the watch's largest
    reading), and the peaks (°/s)."""

    name: str
    frames: dict[str, pd.DataFrame]
    pelvis_peak_ns: list[int] = field(default_factory=list)
    foot_plant_ns: list[int | None] = field(default_factory=list)
    hand_peak_ns: list[int | None] = field(default_factory=list)
    peaks: dict[str, list[float]] = field(default_factory=dict)


def _seconds(start_ns: int, value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return start_ns + round(float(value) * 1e9)


def truth_takes(folder: str | Path, max_bytes: int | None = None) -> list[Take]:
    """The takes under ``folder`` (``*/truth.json`` or ``virtual/*/truth.json``), each with its
    Sensor Logger exports beside the truth (read under ``max_bytes``, as
    :func:`~hitting_coach.store.exports.read_export`). Raises SessionError for a folder without
    takes, an unreadable truth file or export."""
    from hitting_coach.store.exports import read_export

    folder = Path(folder)
    found = sorted(folder.glob("*/truth.json")) or sorted(folder.glob("virtual/*/truth.json"))
    if not found:
        raise SessionError(f"{folder}: no takes with a truth.json")
    out = []
    for truth_path in found:
        take = truth_path.parent
        try:
            truth = json.loads(truth_path.read_text())
            start_ns = int(truth["start_ns"])
            swings = list(truth["swings"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SessionError(f"{truth_path}: not a truth file: {e}") from None
        frames: dict[str, pd.DataFrame] = {}
        exports = [p for p in sorted(take.iterdir()) if p.is_dir() and p.name != "native"]
        for export in exports:
            frames.update(read_export(export, max_bytes=max_bytes).frames)
        if not frames:
            raise SessionError(f"{take}: no Sensor Logger export beside truth.json")
        rec = Take(take.name, frames)
        for sw in swings:
            try:
                rec.pelvis_peak_ns.append(start_ns + round(float(sw["pelvis_peak_s"]) * 1e9))
            except (KeyError, TypeError, ValueError) as e:
                raise SessionError(f"{truth_path}: a swing without pelvis_peak_s: {e}") from None
            rec.foot_plant_ns.append(_seconds(start_ns, sw.get("foot_plant_kinematic_s")))
            rec.hand_peak_ns.append(_seconds(start_ns, sw.get("wrist_watch_peak_s")))
            for seg, key in (("pelvis", "pelvis_peak_dps"), ("hand", "wrist_watch_peak_dps")):
                if sw.get(key) is not None:
                    rec.peaks.setdefault(seg, []).append(float(sw[key]))
        out.append(rec)
    return out


# A mirror through a vertical plane of the world (y → -y), seen by a device whose own y axis is
# mirrored too (for a watch: its x axis still runs along the forearm to the hand). Polar vectors
# (acceleration, gravity) flip their y; axial ones (angular velocity) flip x and z; an attitude
# R becomes S R S, the quaternion (w, -x, y, -z).
_POLAR = np.array([1.0, -1.0, 1.0])
_AXIAL = np.array([-1.0, 1.0, -1.0])
_MIRROR_COLUMNS = {
    "gyroscope": [(("x", "y", "z"), _AXIAL)],
    "accelerometer": [(("x", "y", "z"), _POLAR)],
    "gravity": [(("x", "y", "z"), _POLAR)],
    "totalacceleration": [(("x", "y", "z"), _POLAR)],
    "orientation": [(("qx", "qy", "qz"), _AXIAL)],
    "wrist motion": [
        (tuple(f"rotationRate{a}" for a in "XYZ"), _AXIAL),
        (tuple(f"acceleration{a}" for a in "XYZ"), _POLAR),
        (tuple(f"gravity{a}" for a in "XYZ"), _POLAR),
        (tuple(f"quaternion{a}" for a in "XYZ"), _AXIAL),
    ],
}


def mirror_frames(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The readings a hitter of the other hand makes with the same swing: the motion mirrored
    through a vertical plane, every device worn on the mirrored side. Sensors without a known
    frame (and roll, pitch, yaw) are left as they are."""
    out = {}
    for sensor, frame in frames.items():
        frame = frame.copy()
        for cols, signs in _MIRROR_COLUMNS.get(sensor, ()):
            for col, sign in zip(cols, signs, strict=True):
                if col in frame and sign < 0:
                    frame[col] = -frame[col]
        out[sensor] = frame
    return out
