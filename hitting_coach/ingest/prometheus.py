"""The status dictionary in Prometheus' text exposition format."""

from __future__ import annotations

from typing import Any

__all__ = ["prometheus_text"]


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(status: dict[str, Any]) -> str:
    """Render :meth:`Runtime.status` as Prometheus metrics (counters and gauges)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP hitting_coach_{name} {help}")
        lines.append(f"# TYPE hitting_coach_{name} {kind}")
        for labels, value in samples:
            lines.append(f"hitting_coach_{name}{labels} {float(value):g}")

    metric("messages_total", "counter", "Messages accepted.", [("", status["messages"])])
    metric("readings_total", "counter", "Readings accepted.", [("", status["readings"])])
    metric(
        "duplicates_total", "counter", "Duplicate messages dropped.", [("", status["duplicates"])]
    )
    metric(
        "rejected_total",
        "counter",
        "Messages rejected, by reason.",
        [(f'{{reason="{_label(r)}"}}', n) for r, n in sorted(status["rejected_by_reason"].items())]
        or [('{reason="none"}', 0)],
    )
    metric(
        "messages_by_source_total",
        "counter",
        "Messages accepted, by source.",
        [(f'{{source="{_label(s)}"}}', n) for s, n in sorted(status["messages_by_source"].items())],
    )
    metric(
        "messages_per_second",
        "gauge",
        "Accepted messages per second, last 5 s.",
        [("", status["messages_per_s"])],
    )
    age = status["last_message_age_s"]
    metric(
        "last_message_age_seconds",
        "gauge",
        "Seconds since the last accepted message.",
        [("", -1 if age is None else age)],
    )
    recording = status["recording"]
    metric("recording_ok", "gauge", "1 while recording works.", [("", int(recording["ok"]))])
    metric(
        "recording_failures_total",
        "counter",
        "Messages the recorder failed to write.",
        [("", recording["failures"])],
    )
    metric(
        "live_devices",
        "gauge",
        "Devices in memory now (each with its own series below).",
        [("", status.get("live_devices", len(status["devices"])))],
    )
    metric(
        "devices_expired_total",
        "counter",
        "Devices that left memory after being idle.",
        [("", status.get("devices_expired", 0))],
    )
    # One series per live (device, sensor): bounded by the live-device and sensor limits.
    readings = []
    for device, sensors in sorted(status["devices"].items()):
        for sensor, info in sorted(sensors.items()):
            readings.append(
                (f'{{device="{_label(device)}",sensor="{_label(sensor)}"}}', info["readings"])
            )
    metric("sensor_readings_total", "counter", "Readings per device and sensor.", readings)
    for name, state in sorted(status.get("sources", {}).items()):
        if "connected" in state:
            metric(
                f"{name}_connected",
                "gauge",
                f"1 while {name} is connected.",
                [("", int(bool(state["connected"])))],
            )
        if "reconnects" in state:
            metric(
                f"{name}_reconnects_total",
                "counter",
                f"Reconnections of {name}.",
                [("", state["reconnects"])],
            )
    return "\n".join(lines) + "\n"
