"""The phone card: what a coach holding a phone at the cage needs on the first screen.

On a narrow screen (under ``PHONE_MAX_PX`` wide) the dashboard opens with this card: the last
swing's headline numbers in large, high-contrast type, its placement and quality, where it sits
against the college reference, and the last few swings as a compact table that fits 360 px.
On wider screens the card is hidden (CSS media query) and the full dashboard is what shows.
Nothing depends on hover: everything is plain text.
"""

from __future__ import annotations

import html
import time
from typing import Any

import panel as pn

from hitting_coach.analysis.corrections import MarkedLiveSwings
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.reference import versus_reference
from hitting_coach.ui.swing_panel import swing_flags
from hitting_coach.values import show_value

__all__ = ["PHONE_MAX_PX", "PhoneCard", "phone_html"]

#: Screens narrower than this (CSS px) get the phone card first; wider ones the full dashboard.
PHONE_MAX_PX = 700

PHONE_CSS = f"""
:host {{ width: 100%; }}
@media (min-width: {PHONE_MAX_PX}px) {{ :host {{ display: none !important; }} }}
.hc-phone {{ color: #000; background: #fff; font-family: system-ui, sans-serif;
  padding: 4px 2px 8px 2px; }}
.hc-phone .top {{ font-size: 20px; font-weight: 700; }}
.hc-phone .top .q {{ font-weight: 600; }}
.hc-phone .nums {{ display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 4px 0; }}
.hc-phone .num .l {{ font-size: 15px; font-weight: 700; text-transform: uppercase; }}
.hc-phone .num .v {{ font-size: 44px; font-weight: 800; line-height: 1.0; }}
.hc-phone .num .u {{ font-size: 18px; font-weight: 700; margin-left: 3px; }}
.hc-phone .num .r {{ font-size: 14px; font-weight: 600; }}
.hc-phone .warn {{ background: #000; color: #ffd400; padding: 0 4px; font-weight: 800; }}
.hc-phone table {{ border-collapse: collapse; width: 100%; font-size: 17px; margin-top: 4px; }}
.hc-phone th {{ font-size: 13px; text-align: right; border-bottom: 2px solid #000;
  padding: 1px 4px; }}
.hc-phone td {{ text-align: right; padding: 2px 4px; font-weight: 600;
  border-bottom: 1px solid #999; }}
.hc-phone .empty {{ font-size: 22px; font-weight: 700; }}
"""


def _present(value: Any) -> bool:
    return value is not None and value == value


def _value(row: dict[str, Any], key: str, segment: str | None = None) -> str:
    return show_value(row, key)


def _versus_college(metric: str, value: Any) -> str:
    return versus_reference(metric, value, "college")


def _numbers(row: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, value, unit, note) of the swing's headline numbers for its placement."""
    placement = str(row.get("placement") or "")
    if placement == "bat":
        return [
            (
                "Bat speed",
                _value(row, "bat_speed_mph", "bat"),
                "mph",
                _versus_college("bat_speed_mph", row.get("bat_speed_mph")),
            ),
            ("To contact", _value(row, "time_to_contact_ms", None), "ms", ""),
        ]
    out = []
    if "pelvis" in placement:
        out.append(
            (
                "Pelvis",
                _value(row, "pelvis_peak_dps", "pelvis"),
                "°/s",
                _versus_college("pelvis_peak_dps", row.get("pelvis_peak_dps")),
            )
        )
    if "wrist" in placement:
        out.append(
            (
                "Hand",
                _value(row, "hand_peak_dps", "hand"),
                "°/s",
                _versus_college("hand_peak_dps", row.get("hand_peak_dps")),
            )
        )
    if _present(row.get("peak_gap_ms")):
        order = "pelvis first" if row.get("sequence_ok") else "HAND FIRST"
        out.append(("Pelvis→hand", _value(row, "peak_gap_ms", None), "ms", order))
    return out


def _clock(time_ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(time_ns / 1e9))


def _short_row(row: dict[str, Any]) -> str:
    bat = row.get("placement") == "bat"
    cells = [
        str(row["swing"]),
        _clock(row["start_ns"]),
        *(
            [_value(row, "bat_speed_mph", "bat"), _value(row, "time_to_contact_ms", None)]
            if bat
            else [
                _value(row, "pelvis_peak_dps", "pelvis"),
                _value(row, "hand_peak_dps", "hand"),
                _value(row, "peak_gap_ms", None),
            ]
        ),
    ]
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def phone_html(rows: list[dict[str, Any]], last: int = 5) -> str:
    """The card's HTML for a device's swings (oldest first): the newest swing large, then the
    last ``last`` swings, newest first."""
    if not rows:
        return '<div class="hc-phone"><div class="empty">No swing yet: take a swing.</div></div>'
    row = rows[-1]
    number = f"Swing #{row['swing']}" + (" (added by coach)" if row.get("added_by_coach") else "")
    flags = swing_flags(row)
    quality = (
        "".join(f' <span class="warn">{html.escape(f)}</span>' for f in flags)
        if flags
        else ' <span class="q">· data ok</span>'
    )
    top = (
        f'<div class="top">{html.escape(number)} · {html.escape(str(row.get("placement") or ""))}'
        f" · {_clock(row['start_ns'])}{quality}</div>"
    )
    nums = "".join(
        f'<div class="num"><div class="l">{html.escape(label)}</div>'
        f'<div class="v hc-phone-number">{html.escape(value)}<span class="u">{unit}</span></div>'
        f'<div class="r">{html.escape(note)}</div></div>'
        for label, value, unit, note in _numbers(row)
    )
    bat = row.get("placement") == "bat"
    head = ["#", "time", *(["mph", "ms"] if bat else ["pelvis °/s", "hand °/s", "gap ms"])]
    table = (
        '<table class="hc-phone-swings"><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(_short_row(r) for r in reversed(rows[-last:]))
        + "</table>"
    )
    return f'<div class="hc-phone">{top}<div class="nums">{nums}</div>{table}</div>'


class PhoneCard(pn.viewable.Viewer):
    """The phone card for one device; :meth:`update` redraws it when the swings change."""

    def __init__(self, swings: LiveSwings | MarkedLiveSwings, **params: Any) -> None:
        super().__init__(**params)
        self.swings = swings
        self._shown: Any = ()
        self.pane = pn.pane.HTML(
            phone_html([]),
            stylesheets=[PHONE_CSS],
            sizing_mode="stretch_width",
            css_classes=["hc-phone-card"],
        )

    def update(self, device: str | None) -> None:
        if device is None:
            revision: Any = None
        elif isinstance(self.swings, MarkedLiveSwings):
            revision = self.swings.revision(device)
        else:
            revision = self.swings.count(device)
        if (device, revision) == self._shown:
            return
        self._shown = (device, revision)
        self.pane.object = phone_html(self.swings.rows(device) if device else [])

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane
