"""What each Sensor Logger sensor is, declared once: its value keys, unit, plots, export file
name, role in swing detection and the simulated devices that produce it.

Every other table of sensors is derived from :data:`SENSORS`: the value keys a pushed reading
must carry (``ingest.parse.SCHEMAS``), the export file names (``store.exports.SENSOR_FILES``),
the columns the swing detector reads and the sensors each placement needs
(``analysis.swings``), the sensors live detection reads (``analysis.live_swings``), the live
plots (``ui.live_feed.LIVE_SENSORS`` and the dashboard's plots), the report plots' columns
(``ui.report_plots.PLOT_COLUMNS``) and the sensors each simulated device produces
(``sim.devices.SENSORS_BY_DEVICE``). Adding a sensor is adding one :class:`Sensor` here.

Names, keys and units are Sensor Logger's (see SENSOR_LOGGER.md): accelerometer and gravity in
m/s², gyroscope rad/s, magnetometer µT, orientation radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ACCELEROMETER",
    "GRAVITY",
    "GYROSCOPE",
    "SENSORS",
    "WRIST_MOTION",
    "DetectorRole",
    "LiveView",
    "Sensor",
    "detector_sensors",
    "live_sensors",
]

#: The names the code refers to (the swing detector's and the simulator's sensors).
ACCELEROMETER = "accelerometer"
GYROSCOPE = "gyroscope"
GRAVITY = "gravity"
WRIST_MOTION = "wrist motion"

_XYZ = ("x", "y", "z")
_ROTATION_RATE = ("rotationRateX", "rotationRateY", "rotationRateZ")


@dataclass(frozen=True, slots=True)
class LiveView:
    """A sensor's live plot on the dashboard: title, y-axis label and range (in shown units),
    ``scale``, the factor its values are shown with (the gyroscope in °/s), and ``columns``,
    the three value keys drawn as its x, y and z lines."""

    title: str
    axis_label: str
    y_range: tuple[float, float]
    scale: float = 1.0
    columns: tuple[str, str, str] = ("x", "y", "z")


@dataclass(frozen=True, slots=True)
class DetectorRole:
    """How the swing detector reads a sensor: ``columns`` from every reading (a rotation
    rate's first, rad/s), ``optional`` ones when present (NaN otherwise), and the placements
    (``config.PLACEMENTS``) that need the sensor."""

    columns: tuple[str, ...]
    needed_by: tuple[str, ...]
    optional: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sensor:
    """One sensor.

    ``columns``: the value keys every pushed reading carries, all numbers (empty: any keys,
    stored as sent). ``unit``: the unit of ``plot_columns``, the columns a report or the
    explorer draws (empty: the frame's numeric columns, no unit). ``export_file``: Sensor
    Logger's CSV file name without ``.csv``. ``live``: its dashboard plot, if any.
    ``detector``: its role in swing detection, if any. ``simulated_on``: the simulated device
    kinds (``sim.devices``) that produce it.
    """

    name: str
    export_file: str
    columns: tuple[str, ...] = ()
    unit: str = ""
    plot_columns: tuple[str, ...] = ()
    live: LiveView | None = None
    detector: DetectorRole | None = None
    simulated_on: tuple[str, ...] = ()


_SENSORS = (
    Sensor(
        ACCELEROMETER,
        "Accelerometer",
        _XYZ,
        "m/s²",
        _XYZ,
        live=LiveView("Accelerometer", "m/s²", (-60.0, 60.0)),
        detector=DetectorRole(_XYZ, needed_by=("pelvis", "pelvis+wrist")),
        simulated_on=("pelvis", "bat"),
    ),
    Sensor(
        GYROSCOPE,
        "Gyroscope",
        _XYZ,
        "rad/s",
        _XYZ,
        # °/s like the swing numbers; ±2000 °/s is a phone gyroscope's range
        live=LiveView("Gyroscope", "angular speed (°/s)", (-2000.0, 2000.0), 180.0 / math.pi),
        detector=DetectorRole(_XYZ, needed_by=("pelvis", "pelvis+wrist", "bat")),
        simulated_on=("pelvis", "bat"),
    ),
    Sensor(
        GRAVITY,
        "Gravity",
        _XYZ,
        "m/s²",
        _XYZ,
        detector=DetectorRole(_XYZ, needed_by=("pelvis", "pelvis+wrist")),
        simulated_on=("pelvis",),
    ),
    Sensor("magnetometer", "Magnetometer", _XYZ, "µT"),
    Sensor("accelerometeruncalibrated", "AccelerometerUncalibrated", _XYZ),
    Sensor("gyroscopeuncalibrated", "GyroscopeUncalibrated", _XYZ, "rad/s"),
    Sensor("magnetometeruncalibrated", "MagnetometerUncalibrated", _XYZ, "µT"),
    Sensor(
        "totalacceleration",
        "TotalAcceleration",
        _XYZ,
        "m/s²",
        # read only to find gravity when the phone does not send the gravity sensor
        detector=DetectorRole(_XYZ, needed_by=("pelvis", "pelvis+wrist")),
    ),
    Sensor(
        "orientation",
        "Orientation",
        ("qw", "qx", "qy", "qz", "roll", "pitch", "yaw"),
        "rad",
        ("roll", "pitch", "yaw"),
        # read only to find gravity when the phone does not send the gravity sensor
        detector=DetectorRole(("qw", "qx", "qy", "qz"), needed_by=("pelvis", "pelvis+wrist")),
    ),
    Sensor(
        WRIST_MOTION,
        "WristMotion",
        (
            *_ROTATION_RATE,
            *(f"acceleration{a}" for a in "XYZ"),  # g
            *(f"gravity{a}" for a in "XYZ"),  # g
            *(f"quaternion{a}" for a in "WXYZ"),
        ),
        "rad/s",
        _ROTATION_RATE,
        # a watch alone (no phone sensors) shows its rotation rate, in °/s like the gyroscope
        live=LiveView(
            "Wrist motion (watch)",
            "rotation rate (°/s)",
            (-2000.0, 2000.0),
            180.0 / math.pi,
            _ROTATION_RATE,
        ),
        # the watch's gravity, when sent, tells the motion's axis against the vertical; its
        # attitude gives gravity when it does not send it
        detector=DetectorRole(
            _ROTATION_RATE,
            needed_by=("wrist", "pelvis+wrist"),
            optional=(
                *("gravityX", "gravityY", "gravityZ"),
                *("quaternionW", "quaternionX", "quaternionY", "quaternionZ"),
            ),
        ),
        simulated_on=("wrist",),
    ),
    # Stored as sent, exported under their own file names, neither plotted live nor read by
    # the detector.
    Sensor("location", "Location"),
    Sensor("barometer", "Barometer"),
    Sensor("microphone", "Microphone"),
    Sensor("battery", "Battery"),
    Sensor("brightness", "Brightness"),
    Sensor("network", "Network"),
    Sensor("pedometer", "Pedometer"),
    Sensor("bluetooth", "Bluetooth"),
    Sensor("headphone", "Headphone"),
    Sensor("annotation", "Annotation"),
)

#: Every known sensor by its push-message name, in declaration order.
SENSORS: dict[str, Sensor] = {s.name: s for s in _SENSORS}


def detector_sensors() -> dict[str, DetectorRole]:
    """The sensors the swing detector reads and how, in declaration order."""
    return {s.name: s.detector for s in _SENSORS if s.detector is not None}


def live_sensors() -> dict[str, LiveView]:
    """The sensors plotted live, top to bottom, and how."""
    return {s.name: s.live for s in _SENSORS if s.live is not None}
