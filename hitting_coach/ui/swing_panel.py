"""The dashboard's swing panel: the last swing's two or three numbers, large, with their
quality flags and where they sit against the reference figures, then the session's swing list.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import panel as pn

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.swings import place_against_reference

__all__ = ["SwingPanel", "headline", "swing_list_html"]

_LOW_RATE_HZ = 80.0
_STYLE = """
<style>
.hc-swing { display: flex; gap: 28px; align-items: flex-end; flex-wrap: wrap; }
.hc-metric { min-width: 150px; }
.hc-metric .v { font-size: 44px; font-weight: 700; line-height: 1.05; }
.hc-metric .u { font-size: 16px; font-weight: 400; margin-left: 4px; }
.hc-metric .l { font-size: 13px; color: #555; text-transform: uppercase; letter-spacing: .04em; }
.hc-metric .r { font-size: 12px; color: #555; }
.hc-flag { color: #b35900; font-weight: 600; }
table.hc-swings { border-collapse: collapse; font-size: 13px; }
table.hc-swings td, table.hc-swings th { padding: 2px 10px; text-align: right; }
table.hc-swings tr:nth-child(even) { background: #f4f4f4; }
</style>
"""


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _flags(row: dict[str, Any], segment: str) -> list[str]:
    flags = []
    if row.get(f"{segment}_clipped"):
        flags.append("gyro clipped")
    rate = row.get(f"{segment}_rate_hz")
    if _present(rate) and rate < _LOW_RATE_HZ:
        flags.append(f"low rate {rate:.0f} Hz")
    if row.get(f"{segment}_gap"):
        flags.append("sampling gap")
    return flags


def _reference(metric: str, value: float) -> str:
    ref = place_against_reference(metric, value)
    college = ref[ref["level"] == "college"].iloc[0]
    return (
        f"college median {college['median']:.0f} [{college['q1']:.0f}–{college['q3']:.0f}]: "
        f"{college['position']}"
    )


def _metric(
    label: str,
    row: dict[str, Any],
    key: str,
    unit: str,
    segment: str | None,
    reference: str | None = None,
    note: str = "",
) -> str:
    value = row.get(key)
    flags = _flags(row, segment) if segment else []
    if _present(value):
        shown = f"{value:.0f}"
    elif (
        segment
        and row.get(f"{segment}_clipped")
        and _present(row.get(f"{segment}_peak_measured_dps"))
    ):
        measured = row[f"{segment}_peak_measured_dps"]
        if key == "bat_speed_mph":
            measured = row.get("bat_speed_measured_mph", math.nan)
        shown = f"≥{measured:.0f}"  # clipped: only a lower bound is known
    else:
        shown = "–"
    ref = _reference(reference, value) if reference and _present(value) else note
    flag_html = "".join(f' <span class="hc-flag">{html.escape(f)}</span>' for f in flags)
    return (
        f'<div class="hc-metric"><div class="l">{html.escape(label)}</div>'
        f'<div class="v">{shown}<span class="u">{unit}</span></div>'
        f'<div class="r">{html.escape(ref)}{flag_html}</div></div>'
    )


def headline(row: dict[str, Any] | None) -> str:
    """HTML of the last swing's headline numbers (bat: bat speed and time to contact)."""
    if row is None:
        return (
            '<div class="hc-swing"><div class="hc-metric"><div class="l">Swings</div>'
            '<div class="v">–</div><div class="r">no swing yet: take a swing</div></div></div>'
        )
    parts = [
        f'<div class="hc-metric"><div class="l">Swing</div><div class="v">#{row["number"]}'
        f'</div><div class="r">{html.escape(str(row["placement"]))}</div></div>'
    ]
    if row["placement"] == "bat":
        parts.append(_metric("Bat speed", row, "bat_speed_mph", "mph", "bat", "bat_speed_mph"))
        parts.append(_metric("Time to contact", row, "time_to_contact_ms", "ms", None))
    else:
        if "pelvis" in row["placement"]:
            parts.append(
                _metric("Pelvis peak", row, "pelvis_peak_dps", "°/s", "pelvis", "pelvis_peak_dps")
            )
        if "wrist" in row["placement"]:
            parts.append(_metric("Hand peak", row, "hand_peak_dps", "°/s", "hand", "hand_peak_dps"))
        if _present(row.get("peak_gap_ms")):
            order = "pelvis first" if row.get("sequence_ok") else "hand first: out of sequence"
            parts.append(_metric("Pelvis → hand", row, "peak_gap_ms", "ms", None, note=order))
    return '<div class="hc-swing">' + "".join(parts) + "</div>"


def _cell(row: dict[str, Any], key: str, segment: str | None = None) -> str:
    value = row.get(key)
    if _present(value):
        return f"{value:.0f}"
    if segment and row.get(f"{segment}_clipped"):
        return "clipped"
    return ""


def swing_list_html(rows: list[dict[str, Any]], last: int = 12) -> str:
    """The session's swings, newest first, as an HTML table."""
    if not rows:
        return ""
    head = (
        "<tr><th>#</th><th>time</th><th>placement</th><th>pelvis °/s</th><th>hand °/s</th>"
        "<th>gap ms</th><th>bat mph</th><th>flags</th></tr>"
    )
    body = []
    for row in reversed(rows[-last:]):
        flags = sorted({f for s in ("pelvis", "hand", "bat") for f in _flags(row, s)})
        clock = time.strftime("%H:%M:%S", time.localtime(row["start_ns"] / 1e9))
        body.append(
            f"<tr><td>{row['number']}</td><td>{clock}</td><td>{html.escape(str(row['placement']))}"
            f"</td><td>{_cell(row, 'pelvis_peak_dps', 'pelvis')}</td>"
            f"<td>{_cell(row, 'hand_peak_dps', 'hand')}</td><td>{_cell(row, 'peak_gap_ms')}</td>"
            f"<td>{_cell(row, 'bat_speed_mph', 'bat')}</td><td>{html.escape(', '.join(flags))}</td></tr>"
        )
    return f'<table class="hc-swings">{head}{"".join(body)}</table>'


class SwingPanel(pn.viewable.Viewer):
    """Headline numbers of the last swing and the swing list, for one device."""

    def __init__(self, swings: LiveSwings, **params: Any) -> None:
        super().__init__(**params)
        self.swings = swings
        self.device: str | None = None
        self._shown = -1
        self.headline = pn.pane.HTML(
            _STYLE + headline(None), sizing_mode="stretch_width", css_classes=["hc-headline"]
        )
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["hc-swing-list"])
        self._layout = pn.Column(self.headline, self.table, sizing_mode="stretch_width")

    def update(self, device: str | None) -> None:
        """Show ``device``'s swings if anything changed since the last update."""
        count = self.swings.count(device) if device else 0
        if device == self.device and count == self._shown:
            return
        self.device, self._shown = device, count
        rows = self.swings.rows(device) if device else []
        self.headline.object = _STYLE + headline(rows[-1] if rows else None)
        self.table.object = _STYLE + swing_list_html(rows)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
