"""Swing detection and coaching metrics from Sensor Logger motion data (pure numpy/pandas).

- :class:`SwingDetector` finds swing windows in one angular-speed stream |ω| (°/s): a window
  opens when |ω| rises above a high threshold, spans from the last sample below the low
  threshold before that to the first one after, and windows closer than ``merge_gap_s`` merge.
  It is fed chunks and gives each window once, ``merge_gap_s`` after it ends.
- :class:`SwingTracker` is the live analyzer: per-sensor chunks in (``gyroscope``,
  ``accelerometer``, ``gravity``, ``wrist motion``), one row of metrics per swing out, shortly
  after the swing ends. :func:`swings` runs the same tracker over a whole recording, so live and
  batch give the same swings.
- :func:`guess_placement` and :func:`swing_traces` (angular speed per segment, for sequence
  plots).

Placements: "pelvis" (phone on the belt), "wrist" (watch, ``wrist motion``), "pelvis+wrist"
(both; the watch drives detection), "bat" (phone on the knob).

What decides that a window of fast rotation is a swing (explainable rules, checked on real
wrist recordings of swings, throws, bowling, tennis serves and forehands, and on real swings
with a belt phone and a lead-wrist watch together, see ``hitting-coach evaluate`` and
docs/benchmarks.md):

1. Speed: the driving sensor passes its high threshold (:data:`THRESHOLDS_DPS`; the wrist's
   is low, 450 °/s, so slow, youth and mimed swings open a window).
2. Rotation axis against gravity (the watch's ``gravity`` columns, the pelvis phone's
   ``gravity`` sensor, or gravity found from the attitude quaternion or the total
   acceleration when they are not sent): a swing turns the hands and hips about a roughly
   vertical axis, so most of its rotation is about the vertical, ``vertical_share`` =
   |∫ω·ĝ dt| / ∫|ω| dt of at least :data:`VERTICAL_SHARE_MIN` (with a watch, up to the
   forearm's roll-over after contact). Throws, bowling, serves, dribbling and running arms
   turn about a horizontal axis, a tennis forehand about a steep tilted one, and fail this.
3. How far the hands turned about the vertical, ``turn_deg`` = |∫ω·ĝ dt| over the window: a
   swing goes round the body, ≥ :data:`TURN_MIN_DEG` (waggles, taps and flicks do not); under
   :data:`CHECKED_TURN_DEG` the hands stopped: the row is kept with ``checked`` True.
4. The hitter's direction: a turn the other way within :data:`RETURN_S` of a swing brings the
   bat back to the stance and is not a swing.
5. A swing turns the pelvis: with a belt phone, a hand motion whose pelvis turned slower than
   :data:`PELVIS_TURN_MIN_DPS` (a bunt, a toss) is listed with ``arms_only`` True.
6. The hitter's level (:class:`HitterLevel`, the player's: see ``live_swings``): once
   :data:`LEVEL_MIN_SWINGS` steady full swings are seen, one slower than
   :data:`LEVEL_FRACTION` of the median of their recent swings is listed with ``practice``
   True. Every full swing joins the level, so it follows the hitter both ways.

Nothing is dropped silently: rows marked ``checked``, ``practice`` or ``arms_only`` are listed
(and left out of counts and medians); a window that is not a swing is counted by reason
(:attr:`SwingTracker.discards`). A watch without gravity (nor attitude) is judged by speed alone
(:data:`WRIST_BLIND_DPS`), a pelvis phone without gravity (nor orientation, nor total
acceleration) by speed (:data:`PELVIS_BLIND_DPS`) and a steady axis; their rows say
``speed_only``. The bat phone is judged by speed by design (its swing plane is too steep to
tell from a throw's by the axis alone). The checks of a placement run whether it was set or
guessed. A pelvis phone alone cannot tell a throw from a swing (the hips turn about the
vertical in both): wear the watch for that.

The per-swing measurements and the swing table's columns live in
:mod:`hitting_coach.analysis.swing_metrics`, the OpenBiomechanics reference figures in
:mod:`hitting_coach.analysis.reference`; their public names (:data:`COLUMNS`, :func:`swing_table`,
:func:`angular_speed_dps`, :func:`reference_table`, :func:`place_against_reference`, ...)
are importable from here too.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.analysis.reference import REFERENCE_SOURCE
from hitting_coach.analysis.reference import place_against_reference as place_against_reference
from hitting_coach.analysis.reference import placed_at as placed_at
from hitting_coach.analysis.reference import reference_table as reference_table
from hitting_coach.analysis.swing_metrics import (
    CLIP_FRACTION,
    COLUMNS,
    MPS_TO_MPH,
    NOT_COUNTED,
    STRIDE_MIN_G,
    SensorData,
    SwingRow,
    SwingWindow,
    angular_speed_dps,
    derived_gravity,
    rotation_shape,
    swing_row,
    swing_table,
)
from hitting_coach.analysis.swing_metrics import counted_swings as counted_swings
from hitting_coach.config import PLACEMENTS
from hitting_coach.sensors import detector_sensors

# Names defined here, then the constants re-exported from swing_metrics and reference (the
# functions re-exported with them are listed in their own modules' __all__).
__all__ = [
    "BAT_GUESS_DPS",
    "CHECKED_TURN_DEG",
    "PELVIS_BLIND_DPS",
    "PELVIS_TURN_MIN_DPS",
    "STEADY_AXIS_MIN",
    "HitterLevel",
    "LEVEL_FRACTION",
    "LEVEL_MIN_SWINGS",
    "LEVEL_STEADY",
    "LEVEL_SWINGS",
    "RETURN_S",
    "VERTICAL_SHARE_CHECKED",
    "TURN_MIN_DEG",
    "VERTICAL_SHARE_MIN",
    "WRIST_BLIND_DPS",
    "MAX_DURATION_S",
    "MERGE_GAP_S",
    "MIN_DURATION_S",
    "PLACEMENTS",
    "SWEET_SPOT_M",
    "THRESHOLDS_DPS",
    "SwingDetector",
    "SwingTracker",
    "guess_placement",
    "swing_traces",
    "swings",
    "CLIP_FRACTION",
    "COLUMNS",
    "STRIDE_MIN_G",
    "MPS_TO_MPH",
    "NOT_COUNTED",
    "REFERENCE_SOURCE",
]

logger = logging.getLogger(__name__)

#: Knob to sweet spot of a 33-in bat (the sweet spot is 6 in from the tip), metres.
SWEET_SPOT_M = 0.686
#: (high, low) hysteresis thresholds of |ω| per segment, °/s. Walking pelvis turns 50-100 °/s
#: and jogging up to ~250; waggles of the hands or bat reach 200-400 °/s; swings peak higher.
#: The wrist's high threshold is low enough for a mimed or youth swing (real ones peak from
#: 490 °/s); the shape of the motion (below) decides what is a swing.
THRESHOLDS_DPS = {"pelvis": (300.0, 120.0), "wrist": (450.0, 150.0), "bat": (800.0, 200.0)}
#: A watch that sends no gravity cannot show the motion's shape: its swings must reach this.
WRIST_BLIND_DPS = 700.0
#: Nor can a belt phone without gravity (nor orientation, nor total acceleration): its swings
#: must reach this (real pelvis peaks 480-950 °/s; waggles and dry turns 150-400).
PELVIS_BLIND_DPS = 450.0
#: The share of the rotation about the vertical, |∫ω·ĝ dt| / ∫|ω| dt, a swing reaches at
#: least (with a watch: up to the forearm's roll-over, the swing proper): its rotation axis is
#: within about 53° of vertical. Throws, bowling, serves, dribbles and a runner's arms turn
#: about a horizontal axis, a tennis forehand about a steep tilted one (real recordings: at
#: most 0.49); real swings 0.73-0.92 at the top hand, 0.85-0.89 at the lead wrist.
VERTICAL_SHARE_MIN = 0.6
#: The hands of a swing turn at least this far about the vertical (°); real swings 180-260.
TURN_MIN_DEG = 80.0
#: Hands that turned less than this about the vertical (°) did not go round: a checked swing
#: when the rotation is as level as a swing's start (VERTICAL_SHARE_CHECKED), else not a swing.
CHECKED_TURN_DEG = 150.0
VERTICAL_SHARE_CHECKED = 0.7
#: With a belt phone, a swing turns the pelvis at least this fast (°/s): a bunt, a toss or a
#: waggle moves the hands with the hips still (a real bunt: 44 °/s; real swings 480-950,
#: walking 50-100). Slower: listed as "arms only", left out of counts and medians.
PELVIS_TURN_MIN_DPS = 200.0
#: Judged by speed only, a pelvis swing turns about one steady axis: |∫ω dt| / ∫|ω| dt over
#: the window at least this (a swing's hips turn one way; jogging and dribbling rock).
STEADY_AXIS_MIN = 0.8
#: A turn the other way starting within this time (s) after a swing brings the bat back.
RETURN_S = 1.0
#: Once a hitter has LEVEL_MIN_SWINGS full swings, a swing slower than this fraction of the
#: median of their last LEVEL_SWINGS is a practice swing (listed, marked, not counted).
LEVEL_FRACTION = 0.55
LEVEL_MIN_SWINGS = 3
LEVEL_SWINGS = 10
#: ... and only while those swings are steady: the fastest within this factor of the slowest.
LEVEL_STEADY = 1.35
#: Swing windows last at least this long (s); longer than MAX_DURATION_S is running or spinning.
MIN_DURATION_S = 0.08
MAX_DURATION_S = 2.0
#: Windows closer than this (s) are one swing; also how long a window waits to be reported
#: (the live numbers' delay). 0.15 s gives the same swings as 0.2 s on every real recording
#: and simulated session we have; 0.1 s splits a real swing's follow-through off as a checked
#: swing.
MERGE_GAP_S = 0.15
#: A phone whose swings reach this |ω| is on a bat (when the placement is not set).
BAT_GUESS_DPS = 1100.0
_PRE_NS = 500_000_000  # data kept before a window: foot plant and downswing start
_POST_NS = 50_000_000
_STALL_NS = 1_000_000_000  # stop waiting for a lagging sensor after this
_KEEP_NS = 10_000_000_000
#: The sensors read and their columns, and the sensors each placement needs: from the
#: registry's detector roles (:mod:`hitting_coach.sensors`).
_SENSOR_COLUMNS = {name: role.columns for name, role in detector_sensors().items()}
#: Columns read when present (NaN when not): the watch's gravity, for the motion's shape.
_OPTIONAL_COLUMNS = {name: role.optional for name, role in detector_sensors().items()}
_REQUIRED = {
    p: tuple(name for name, role in detector_sensors().items() if p in role.needed_by)
    for p in PLACEMENTS
}


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
        #: Windows dropped as shorter than min_duration_s or longer than max_duration_s.
        self.dropped = 0

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
        if p is None:
            return []
        if not self._min_ns <= p[1] - p[0] <= self._max_ns:
            self.dropped += 1
            return []
        return [SwingWindow(int(p[0]), int(p[1]), float(p[2]), int(p[3]))]


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
        keep = np.isfinite(v[:, :3]).all(axis=1) & (t > self.last_ns)
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
            return np.empty(0, np.int64), np.empty((0, self.held[1].shape[1]))
        if len(parts) == 1:  # a batch run has one chunk: slice it, never copy it whole
            t, v = parts[0]
        else:
            t = np.concatenate([p[0] for p in parts])
            v = np.concatenate([p[1] for p in parts])
        i, j = np.searchsorted(t, lo_ns), np.searchsorted(t, hi_ns, side="right")
        return t[i:j], v[i:j]

    def trim(self, before_ns: int) -> None:
        while len(self.chunks) > 1 and self.chunks[0][0][-1] < before_ns:
            self.chunks.pop(0)


class HitterLevel:
    """A hitter's level: the peaks of their recent full swings, per driving sensor. A swing
    under :data:`LEVEL_FRACTION` of the median is a practice swing once the level is known
    (:data:`LEVEL_MIN_SWINGS` steady swings); every full swing joins it, practice ones too, so
    the level follows the hitter both ways (harder, then easier)."""

    def __init__(self) -> None:
        self._peaks: dict[str, list[float]] = {}

    def is_practice(self, sensor: str, peak_dps: float) -> bool:
        level = self._peaks.get(sensor, [])
        steady = len(level) >= LEVEL_MIN_SWINGS and max(level) <= LEVEL_STEADY * min(level)
        return bool(steady and peak_dps < LEVEL_FRACTION * float(np.median(level)))

    def add(self, sensor: str, peak_dps: float) -> None:
        level = self._peaks.setdefault(sensor, [])
        level.append(float(peak_dps))
        del level[:-LEVEL_SWINGS]


class SwingTracker:
    """Live swing analysis: feed readings as they arrive, get one row per swing.

    Readings may come in any order within ``reorder_s`` (50 ms) of the newest of their
    sensor; older ones, repeats and non-finite values are dropped (``late_readings``). Each
    swing is returned once, by the call that brings the data ``reorder_s`` + 0.15 s (the merge
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
        self._count = 1  # the next swing's number: from 1, as everywhere a swing is shown
        #: The hitter's level (their recent full swings); give each player their own.
        self.level = HitterLevel()
        self._last_swing: dict[str, tuple[int, float]] = {}  # (end_ns, turning direction)
        #: Windows of fast rotation that were not listed as swings, by reason (plain words).
        self.discarded: Counter[str] = Counter()
        #: When a list: every window judged, listed or not, as its row with ``reason`` (None
        #: when listed), for evaluations of how near each came to a cut.
        self.judged: list[dict[str, Any]] | None = None

    @property
    def discards(self) -> dict[str, int]:
        """Windows of fast rotation not listed as swings, by reason (plain words): too short
        or too long, or what :meth:`_judge` and the placement's checks said."""
        out = dict(self.discarded)
        dropped = sum(d.dropped for d in self._detectors.values())
        if dropped:
            out["too short or long"] = dropped
        return out

    @property
    def late_readings(self) -> int:
        """Readings dropped as late, duplicate or not finite."""
        return sum(s.late for s in self._streams.values())

    def feed(self, sensor: str, time_ns: Any, values: Any) -> list[SwingRow]:
        """Add readings of one sensor: ``time_ns`` (epoch ns) and ``values``, a mapping of
        column name to array (a DataFrame works) or an (n, 3) array in column order (rad/s or
        m/s² as Sensor Logger sends them). Other sensors are ignored. Returns finished swings.
        Raises ValueError when a needed column is missing or the lengths differ."""
        return self.feed_many({sensor: (time_ns, values)})

    def feed_many(self, chunks: Mapping[str, tuple[Any, Any]]) -> list[SwingRow]:
        """Add readings of several sensors at once, ``{sensor: (time_ns, values)}`` as for
        :meth:`feed` (what one poll of a live stream brings), then return finished swings.
        Every sensor is in before any swing is measured, as in :func:`swings`."""
        for sensor, (time_ns, values) in chunks.items():
            self.add(sensor, time_ns, values)
        return self._drain(final=False)

    def flush(self) -> list[SwingRow]:
        """End of the recording: close open windows and return the swings left."""
        for name, stream in self._streams.items():
            empty = np.empty((0, stream.held[1].shape[1]))
            self._detect(name, *stream.add(np.empty(0, np.int64), empty, final=True))
        for name, det in self._detectors.items():
            for win in det.flush():
                self._enqueue(win, name)
        return self._drain(final=True)

    def add(self, sensor: str, time_ns: Any, values: Any) -> None:
        """Add readings of one sensor as for :meth:`feed` without measuring any swing yet
        (:meth:`feed_many` or :meth:`flush` does): what :func:`swings` does with a whole
        recording, every sensor in before the first swing is measured."""
        cols = _SENSOR_COLUMNS.get(sensor)
        if cols is None:
            return
        optional = _OPTIONAL_COLUMNS.get(sensor, ())
        width = len(cols) + len(optional)
        t = np.asarray(time_ns, dtype=np.int64).ravel()
        if isinstance(values, np.ndarray):
            v = np.asarray(values, dtype=float).reshape(len(t), -1)[:, :width]
        else:
            missing = [c for c in cols if c not in values]
            if missing:
                raise ValueError(f"{sensor} readings need column(s) {', '.join(missing)}")
            nan = np.full(len(t), np.nan)
            v = np.column_stack(
                [np.asarray(values[c], dtype=float) for c in cols]
                + [np.asarray(values[c], dtype=float) if c in values else nan for c in optional]
            )
        if v.ndim != 2 or v.shape[0] != len(t) or v.shape[1] < len(cols):
            raise ValueError(f"{sensor}: {len(t)} times but values of shape {v.shape}")
        if v.shape[1] < width:  # no gravity sent: the shape of the motion is unknown
            v = np.hstack([v, np.full((len(t), width - v.shape[1]), np.nan)])
        stream = self._streams.setdefault(sensor, _Stream(width, self._hold_ns))
        self._detect(sensor, *stream.add(t, v))

    def _detect(self, sensor: str, t: np.ndarray, v: np.ndarray) -> None:
        if sensor in self._detectors and len(t):
            for win in self._detectors[sensor].feed(t, angular_speed_dps(v[:, :3])):
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

    def _drain(self, final: bool) -> list[SwingRow]:
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
            data = _with_gravity({n: d for n, d in data.items() if len(d[0])})
            row = swing_row(win, placement, sensor, data, self)
            row.speed_only = _speed_only(placement, sensor, row, data)
            reason = _implausible(win, placement, row, data) or self._judge(win, sensor, row, data)
            if self.judged is not None:
                self.judged.append({**row.as_dict(), "reason": reason})
            if reason is not None:
                self.discarded[reason] += 1
                logger.debug("not a swing at %d: %s", win.start_ns, reason)
                continue
            row.swing = self._count
            self._count += 1
            logger.debug("swing %d (%s) at %d", row.swing, placement, win.start_ns)
            out.append(row)
        self._trim()
        return out

    def _judge(self, win: SwingWindow, sensor: str, row: SwingRow, data: SensorData) -> str | None:
        """Why a window is not a swing by its shape (module docstring), or None when it is one;
        sets ``checked``, ``arms_only`` and ``practice``. Full swings set the hitter's turning
        direction; every full swing with a turning pelvis (practice ones too) their level."""
        share, turn = row.vertical_share, row.turn_deg
        wrist = sensor == "wrist motion"
        if math.isnan(share):
            if wrist and win.peak_dps < WRIST_BLIND_DPS:
                return "slow, no gravity"
        elif share < VERTICAL_SHARE_MIN:
            return "not about the vertical"
        elif wrist and turn < TURN_MIN_DEG:
            return "small turn"
        direction = 0.0
        if wrist and not math.isnan(share):
            t, v = data[sensor]
            signed = rotation_shape(t, v[:, :3], t, v[:, 3:6], win.start_ns, win.end_ns, True)
            direction = math.copysign(1.0, signed[0])
            last = self._last_swing.get(sensor)
            if last and last[1] != direction and win.start_ns - last[0] <= RETURN_S * 1e9:
                return "bat brought back"
        row.checked = bool(wrist and turn < CHECKED_TURN_DEG)
        if row.checked:
            return None if share >= VERTICAL_SHARE_CHECKED else "checked, tilted"
        self._last_swing[sensor] = (win.end_ns, direction)
        pelvis = row.pelvis_peak_measured_dps
        if row.placement == "pelvis+wrist" and not pelvis >= PELVIS_TURN_MIN_DPS:
            row.arms_only = True  # a bunt, a toss: listed, not a swing of the hitter's
            return None
        # the level is in the swing's own speed (the hands into contact, not the roll-over)
        speed = row.hand_peak_measured_dps if wrist else row.pelvis_peak_measured_dps
        speed = win.peak_dps if speed is None or math.isnan(speed) else speed
        row.practice = self.level.is_practice(sensor, speed)
        self.level.add(sensor, speed)
        return None

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


def _implausible(win: SwingWindow, placement: str, row: SwingRow, data: SensorData) -> str | None:
    """Why a window cannot be a swing of its placement, or None (whether the placement was
    set or guessed): a bat swing is fast; a pelvis swing starts from rest (not jogging with a
    bat) and, judged by speed only, turns about one steady axis."""
    if placement == "bat":
        return None if win.peak_dps >= THRESHOLDS_DPS["bat"][0] else "slow for a bat"
    if placement != "pelvis":
        return None
    t, v = data["gyroscope"]
    before = v[(t >= win.start_ns - _PRE_NS) & (t < win.start_ns)]
    if len(before) and np.median(angular_speed_dps(before)) >= THRESHOLDS_DPS["pelvis"][1]:
        return "not from rest"
    if row.speed_only:
        if win.peak_dps < PELVIS_BLIND_DPS:
            return "slow, no gravity"
        inside = (t >= win.start_ns) & (t <= win.end_ns)
        w = v[inside]
        if (
            len(w) >= 3
            and np.linalg.norm(w.sum(axis=0)) < STEADY_AXIS_MIN * np.linalg.norm(w, axis=1).sum()
        ):
            return "unsteady axis, no gravity"
    return None


def _with_gravity(data: SensorData) -> SensorData:
    """``data`` with gravity where the devices did not send it but it can be found
    (:func:`~hitting_coach.analysis.swing_metrics.derived_gravity`): the phone's from its
    orientation or total acceleration, the watch's from its attitude quaternion."""
    if "gravity" not in data and "gyroscope" in data:
        g = derived_gravity(
            data["gyroscope"], data.get("orientation"), data.get("totalacceleration")
        )
        if g is not None:
            data = {**data, "gravity": g}
    wrist = data.get("wrist motion")
    if wrist is not None and not np.isfinite(wrist[1][:, 3:6]).any():
        t, v = wrist
        g = derived_gravity((t, v[:, :3]), (t, v[:, 6:10]))
        if g is not None:
            v = v.copy()
            v[:, 3:6] = np.column_stack([np.interp(t, g[0], g[1][:, c]) for c in range(3)])
            data = {**data, "wrist motion": (t, v)}
    return data


def _speed_only(placement: str, driver: str, row: SwingRow, data: SensorData) -> bool:
    """Whether the swing was judged by speed alone: its driving device gave no gravity."""
    if placement == "bat":
        return False  # the bat is judged by speed by design
    if driver == "wrist motion":
        return math.isnan(row.vertical_share)
    return "gravity" not in data


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
    judged: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Swings of a recording: one row per swing (columns in :mod:`hitting_coach.analysis.swing_metrics`).

    ``frames`` maps a sensor name to a DataFrame with ``time_ns`` (int64 epoch ns) and its
    value columns (``x, y, z`` for accelerometer, gyroscope and gravity; ``rotationRateX/Y/Z``
    for ``wrist motion``); other sensors are ignored. ``placement`` as for
    :class:`SwingTracker`. Runs the live tracker over the whole recording, so the result equals
    feeding the same readings live. ``judged``: a list that receives every window judged (as
    :attr:`SwingTracker.judged`). Raises ValueError for a missing column or bad placement.
    """
    settings = {"gyro_range_dps": gyro_range_dps, "sweet_spot_m": sweet_spot_m}
    tracker = SwingTracker(placement, wrist_gyro_range_dps=wrist_gyro_range_dps, **settings)
    tracker.judged = judged
    for sensor in _SENSOR_COLUMNS:
        arrays = _frame_arrays(frames, sensor)
        if arrays is not None:
            tracker.add(sensor, *arrays)
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
    sorted_speeds: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}

    def speeds(sensor: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The sensor's times, sorted, and |ω| at each: computed once, sliced per swing."""
        if sensor not in sorted_speeds:
            arrays = _frame_arrays(frames, sensor)
            if arrays is None:
                sorted_speeds[sensor] = None
            else:
                order = np.argsort(arrays[0], kind="stable")
                v = arrays[1][list(_SENSOR_COLUMNS[sensor])].to_numpy(float)[order]
                sorted_speeds[sensor] = (arrays[0][order], angular_speed_dps(v))
        return sorted_speeds[sensor]

    for sw in table.itertuples(index=False):
        ref = sw.foot_plant_ns if not pd.isna(sw.foot_plant_ns) else sw.start_ns
        lo, hi = sw.start_ns - round(pre_s * 1e9), sw.end_ns + round(post_s * 1e9)
        segs = [("pelvis", "gyroscope")] if "pelvis" in sw.placement else []
        segs += [("hand", "wrist motion")] if "wrist" in sw.placement else []
        segs += [("bat", "gyroscope")] if sw.placement == "bat" else []
        for seg, sensor in segs:
            if (arrays := speeds(sensor)) is None:
                continue
            t, omega = arrays
            i, j = np.searchsorted(t, lo), np.searchsorted(t, hi, side="right")
            part = {"swing": sw.swing, "segment": seg, "time_ns": t[i:j], "omega_dps": omega[i:j]}
            parts.append(pd.DataFrame(part).assign(t_ms=(t[i:j] - ref) / 1e6))
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
