"""The dashboard's swing panel: the last swing's two or three numbers, large, with their
quality flags and where they sit against the reference figures, then the session's swing list.

With the coach's marks (:class:`~hitting_coach.analysis.corrections.MarkedLiveSwings`) each
swing in the list has a "Not a swing" button, and a missed swing can be added "N seconds ago"
or at a clock time; marks are saved with the device's session and can be undone.
"""

from __future__ import annotations

import html
import math
import re
import time
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
import panel as pn

from hitting_coach.analysis.corrections import MarkedLiveSwings
from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.analysis.reference import versus_reference
from hitting_coach.errors import HittingCoachError
from hitting_coach.values import MISSING, segment_flags, show_value, swing_flags

__all__ = [
    "SHRINKS",
    "SPEED_ONLY_HINT",
    "SwingPanel",
    "headline",
    "parse_swing_time",
    "speed_only_hint",
    "swing_flags",
    "swing_list_html",
    "swing_row_html",
]

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
#: The swing list's columns (header, width in px): every row is its own table, beside its button.
_LIST_COLUMNS = [
    ("#", 44),
    ("time", 96),
    ("placement", 116),
    ("pelvis °/s", 100),
    ("hand °/s", 92),
    ("gap ms", 80),
    ("bat mph", 84),
    ("flags", 200),
]
_LIST_WIDTH = sum(w for _, w in _LIST_COLUMNS)
_LIST_CSS = """
table.hc-swings { border-collapse: collapse; font-size: 14px; table-layout: fixed; }
table.hc-swings td, table.hc-swings th { padding: 4px 8px; text-align: right; overflow: hidden;
  white-space: nowrap; text-overflow: ellipsis; }
table.hc-swings th { font-weight: 600; border-bottom: 1px solid #ccc; }
tr.hc-added td { color: #1a5fb4; }
tr.hc-uncounted td { color: #999; }
"""
#: For a layout holding something wide that scrolls in its own box: Panel gives the layout the
#: widest child's width as its minimum, which would make a phone's page scroll sideways.
SHRINKS = ":host { min-width: 0 !important; }"
_WIDE_ONLY = "@media (max-width: 699px) { :host { display: none !important; } }"
#: A swing list row's button per action: label and class.
_BUTTONS: dict[str, tuple[str, list[str]]] = {
    "remove": ("✕ Remove", ["hc-remove-added"]),
    "not_swing": ("✕ Not a swing", ["hc-not-swing"]),
    "count": ("✓ Count it", ["hc-count"]),
}
#: A row's button does nothing this long after another swing was in its place in the list (a
#: new swing moves every row down one): a tap meant for the swing shown there must not mark
#: another one.
_MOVED_S = 1.0
#: A swing list row's button (px): it comes first in its row, the header leaves its room.
_BUTTON_WIDTH = 130
_HIDDEN = {"display": "none"}
#: How far back "N seconds ago" may reach (the server holds the last few minutes).
_MAX_AGO_S = 3600.0


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _flags(row: dict[str, Any], segment: str) -> list[str]:
    return segment_flags(row, segment)


#: What the page says, once, when a device sends no gravity (its swings are judged by speed).
SPEED_ONLY_HINT = (
    "Swings marked “speed only” were judged by speed alone: this device sends no gravity, "
    "so a throw or a tennis stroke can pass for a swing and the foot plant is not found. "
    "In Sensor Logger, switch on Gravity (or Orientation) for the phone; "
    "for an Apple Watch, switch on Wrist Motion."
)


def speed_only_hint(rows: list[dict[str, Any]]) -> str:
    """HTML of the speed-only hint when any of ``rows`` was judged by speed alone, else ""."""
    if not any(_is(r.get("speed_only")) for r in rows):
        return ""
    return (
        '<div class="hc-hint" style="background:#fff4e0;border-left:4px solid #b35900;'
        f'padding:6px 10px;font-size:14px">{html.escape(SPEED_ONLY_HINT)}</div>'
    )


def uncounted(row: dict[str, Any]) -> bool:
    """A swing listed but left out of counts and medians (practice, arms only)."""
    return _is(row.get("practice")) or _is(row.get("arms_only"))


def _is(value: Any) -> bool:
    """A flag that is set (not missing, not NA)."""
    return _present(value) and value is not pd.NA and bool(value)


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
    shown = show_value(row, key)
    ref = versus_reference(reference, value) if reference and _present(value) else note
    flag_html = "".join(f' <span class="hc-flag">{html.escape(f)}</span>' for f in flags)
    return (
        f'<div class="hc-metric"><div class="l">{html.escape(label)}</div>'
        f'<div class="v">{html.escape(shown)}<span class="u">{unit}</span></div>'
        f'<div class="r">{html.escape(ref)}{flag_html}</div></div>'
    )


def headline(row: dict[str, Any] | None) -> str:
    """HTML of the last swing's headline numbers (bat: bat speed and time to contact)."""
    if row is None:
        return (
            '<div class="hc-swing"><div class="hc-metric"><div class="l">Swings</div>'
            '<div class="v">–</div><div class="r">no swing yet: take a swing</div></div></div>'
        )
    added = bool(row.get("added_by_coach"))
    number = f"#{row['swing']}"
    where = ("added by coach · " if added else "") + str(row.get("placement") or "")
    parts = [
        f'<div class="hc-metric"><div class="l">Swing</div><div class="v">{number}'
        f'</div><div class="r">{html.escape(where)}</div></div>'
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


def _cell(row: dict[str, Any], key: str) -> str:
    shown = show_value(row, key)
    return "" if shown == MISSING else html.escape(shown)


def _colgroup() -> str:
    return (
        "<colgroup>"
        + "".join(f'<col style="width:{w}px">' for _, w in _LIST_COLUMNS)
        + "</colgroup>"
    )


def _list_head() -> str:
    cells = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _LIST_COLUMNS)
    return f'<table class="hc-swings" style="width:{_LIST_WIDTH}px">{_colgroup()}<tr>{cells}</tr></table>'


def _row_cells(row: dict[str, Any]) -> tuple[str, str]:
    flags = swing_flags(row)
    if _present(row.get("stride")) and row["stride"] is not pd.NA and not row["stride"]:
        flags.append("no stride")
    if row.get("added_by_coach"):
        flags.insert(0, "added by coach")
    if row.get("checked"):
        flags.insert(0, "checked swing")
    clock = time.strftime("%H:%M:%S", time.localtime(row["start_ns"] / 1e9))
    cells = (
        f"<td>{row['swing']}</td><td>{clock}</td>"
        f"<td>{html.escape(str(row.get('placement') or ''))}</td>"
        f"<td>{_cell(row, 'pelvis_peak_dps')}</td>"
        f"<td>{_cell(row, 'hand_peak_dps')}</td><td>{_cell(row, 'peak_gap_ms')}</td>"
        f"<td>{_cell(row, 'bat_speed_mph')}</td><td>{html.escape(', '.join(flags))}</td>"
    )
    if row.get("added_by_coach"):
        return cells, ' class="hc-added"'
    return cells, ' class="hc-uncounted"' if uncounted(row) else ""


def swing_row_html(row: dict[str, Any]) -> str:
    """One swing of the list as a one-row table (its columns line up with the header's)."""
    cells, cls = _row_cells(row)
    return (
        f'<table class="hc-swings" style="width:{_LIST_WIDTH}px">{_colgroup()}'
        f"<tr{cls}>{cells}</tr></table>"
    )


def swing_list_html(rows: list[dict[str, Any]], last: int = 12) -> str:
    """The session's swings, newest first, as one HTML table (for views without buttons)."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _LIST_COLUMNS)
    body = []
    for row in reversed(rows[-last:]):
        cells, cls = _row_cells(row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table class="hc-swings"><tr>{head}</tr>{"".join(body)}</table>'


def _action(device: str | None, row: dict[str, Any]) -> tuple[Any, ...]:
    """What the button of ``row`` does, which names its swing: remove an added one, or mark
    a detected one not a swing."""
    if row.get("added_by_coach"):
        return ("remove", device, row["mark_id"])
    if uncounted(row):
        return ("count", device, row["swing"], _time_of(row))
    return ("not_swing", device, row.get("session_id"), row["swing"])


def _time_of(row: dict[str, Any]) -> int:
    """The moment that names a swing for a mark: its peak (hand, pelvis, bat) or its start."""
    for key in ("hand_peak_ns", "pelvis_peak_ns", "bat_peak_ns", "start_ns"):
        value = row.get(key)
        if _present(value):
            return int(value)
    return int(row["start_ns"])


def parse_swing_time(text: str, now_ns: int) -> int:
    """The reading time a coach means by ``text``: seconds ago (``3``, ``2.5``) before
    ``now_ns`` (the device's newest reading), or a clock time (``14:05:32``, local time, the
    last such moment up to ``now_ns``). Raises ValueError with what to type instead."""
    text = text.strip()
    if not text:
        raise ValueError("type how many seconds ago the swing was (e.g. 3), or its clock time")
    if re.fullmatch(r"\d{1,4}(\.\d{1,3})?", text):
        ago = float(text)
        if ago > _MAX_AGO_S:
            raise ValueError(f"{ago:.0f} s ago is too long ago: at most {_MAX_AGO_S:.0f} s")
        return now_ns - round(ago * 1e9)
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?", text)
    if clock is None:
        raise ValueError(f"{text[:40]!r} is neither seconds ago (e.g. 3) nor a time (14:05:32)")
    hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not a time of day")
    now = datetime.fromtimestamp(now_ns / 1e9).astimezone()
    micro = int((clock[4] or "0").ljust(6, "0"))
    when = now.replace(hour=hour, minute=minute, second=second, microsecond=micro)
    at_ns = round(when.timestamp()) * 1_000_000_000 + micro * 1000
    if at_ns > now_ns + 1_000_000_000:  # later today than the newest reading: yesterday
        at_ns -= 86_400_000_000_000
    return at_ns


class SwingPanel(pn.viewable.Viewer):
    """Headline numbers of the last swing and the swing list, for one device. Given
    :class:`MarkedLiveSwings`, the list has the coach's controls: "Not a swing" per swing,
    "Add a swing" at a time, and undo of the last mark."""

    def __init__(self, swings: LiveSwings | MarkedLiveSwings, last: int = 12, **params: Any):
        super().__init__(**params)
        self.swings = swings
        self.marks = swings if isinstance(swings, MarkedLiveSwings) else None
        self.last = last
        self.device: str | None = None
        self._shown: Any = None
        self._undo: tuple[str, str] | None = None  # (device, mark_id) of the last mark made
        self.headline = pn.pane.HTML(
            _STYLE + headline(None),
            sizing_mode="stretch_width",
            css_classes=["hc-headline"],
            stylesheets=[_WIDE_ONLY],  # a phone shows the phone card's headline instead
        )
        self.header = pn.pane.HTML(
            "",
            stylesheets=[_LIST_CSS],
            width=_LIST_WIDTH + 10,
            height=32,  # fixed in both: Bokeh warns (W-1005) of a fixed size without a height
            sizing_mode="fixed",
            css_classes=["hc-swing-head"],
        )
        #: Once, when a swing was judged by speed alone: what to switch on in Sensor Logger.
        self.hint = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["hc-speed-only"])
        # ``last`` rows made once and filled in place: a new swing changes their text, not the
        # page's models (new models make Bokeh walk the whole document, ~100 ms a swing)
        self._slots = [self._slot(i) for i in range(last)]
        self._actions: list[tuple[Any, ...] | None] = [None] * last
        # per place in the list: the swing shown there, and when another took its place
        self._at: list[tuple[Any, ...] | None] = [None] * last
        self._changed = [0.0] * last
        self.list = pn.Column(
            *(row for row, _, _ in self._slots),
            sizing_mode="stretch_width",
            css_classes=["hc-swing-list"],
        )
        # the list is wider than a phone: it scrolls sideways in its own box, not the page
        parts: list[Any] = [
            self.headline,
            self.hint,
            pn.Column(
                # the header lines up with the rows' tables, after their buttons
                pn.Row(pn.Spacer(width=_BUTTON_WIDTH + 10), self.header)
                if self.marks is not None
                else self.header,
                self.list,
                sizing_mode="stretch_width",
                styles={"overflow-x": "auto"},
                stylesheets=[SHRINKS],
                css_classes=["hc-swing-box"],
            ),
        ]
        if self.marks is not None:
            self.add_time = pn.widgets.TextInput(
                label="Add a missed swing",
                placeholder="seconds ago (3) or time (14:05:32)",
                width=260,
                css_classes=["hc-add-time"],
            )
            self.add_button = pn.widgets.Button(
                label="+ Add swing", width=130, height=40, css_classes=["hc-add-swing"]
            )
            self.add_button.on_click(self._add)
            self.message = pn.pane.HTML("", css_classes=["hc-mark-message"])
            self.undo_button = pn.widgets.Button(
                label="↶ Undo", width=100, height=40, visible=False, css_classes=["hc-undo-mark"]
            )
            self.undo_button.on_click(self._undo_last)
            parts.append(
                pn.FlexBox(
                    self.add_time,
                    pn.Column(pn.Spacer(height=18), self.add_button),
                    pn.Column(pn.Spacer(height=18), self.undo_button),
                    pn.Column(pn.Spacer(height=26), self.message),
                    flex_wrap="wrap",
                    sizing_mode="stretch_width",
                )
            )
        self._layout = pn.Column(*parts, sizing_mode="stretch_width", stylesheets=[SHRINKS])

    def _slot(self, i: int) -> tuple[pn.Row, pn.pane.HTML, pn.widgets.Button | None]:
        """One row of the list, hidden until a swing fills it."""
        cell = pn.pane.HTML(
            "",
            stylesheets=[_LIST_CSS],
            width=_LIST_WIDTH + 10,
            height=40,  # the button's: fixed in both (see the header)
            sizing_mode="fixed",
            css_classes=["hc-swing-slot"],
        )
        button = None
        if self.marks is not None:
            button = pn.widgets.Button(
                label=_BUTTONS["not_swing"][0], width=_BUTTON_WIDTH, height=40
            )
            button.on_click(partial(self._clicked, i))
        # the button first: on a phone the row's table scrolls sideways, its button stays on
        # screen at the left
        row = pn.Row(*([button] if button else []), cell, styles=_HIDDEN)
        return row, cell, button

    def _fill(self, i: int, action: tuple[Any, ...] | None, row: Any, position: int) -> None:
        """Show swing ``row`` (its button doing ``action``) in slot ``i``, ``position`` rows
        from the top; None hides the slot. Only changed properties are set: a new class,
        label, size or ``visible`` makes the browser lay its part of the page out again (tens
        of ms on a busy machine), text and styles do not. So the row's class is in its HTML,
        an empty slot is hidden by its style, and its place in the list is its flex order."""
        slot, cell, button = self._slots[i]
        self._actions[i] = action
        text = f'<div class="hc-swing-row">{swing_row_html(row)}</div>' if row is not None else ""
        if cell.object != text:
            cell.object = text
        if button is not None:
            classes = []  # hidden: no class (no hidden matches), the label kept
            if action is not None:
                label, classes = _BUTTONS[action[0]]
                if button.label != label:
                    button.label = label
            if button.css_classes != classes:
                button.css_classes = classes
        # "" removes the hidden row's display: none (a style left out is left as it was)
        styles = {"display": "", "order": str(position)} if row is not None else _HIDDEN
        if slot.styles != styles:
            slot.styles = styles

    def _clicked(self, i: int, event: Any = None) -> None:
        """A row's button: it acts on the swing the row holds, unless another swing was in
        that place of the list until just now (the coach may have tapped that one)."""
        action = self._actions[i]
        if action is None:
            return
        if time.monotonic() - self._changed[self._at.index(action)] < _MOVED_S:
            self._say("The list just changed: check the swing and tap again.")
            return
        if action[0] == "remove":
            self._remove(action[1], action[2])
        elif action[0] == "count":
            self._count(action[1], action[2], action[3])
        else:
            self._not_swing(action[1], action[3], action[2])

    def _revision(self, device: str | None) -> Any:
        if device is None:
            return None
        if self.marks is not None:
            return self.marks.revision(device)
        return self.swings.count(device)

    def update(self, device: str | None, force: bool = False) -> None:
        """Show ``device``'s swings if anything changed since the last update."""
        revision = self._revision(device)
        if not force and device == self.device and revision == self._shown:
            return
        self.device, self._shown = device, revision
        rows = self.swings.rows(device) if device else []
        self.headline.object = _STYLE + headline(rows[-1] if rows else None)
        hint = speed_only_hint(rows)
        if self.hint.object != hint:
            self.hint.object = hint
        self.header.object = _list_head() if rows else ""
        newest = list(reversed(rows[-self.last :])) if self.last else []
        wanted = [(_action(device, row), row) for row in newest]
        # a swing keeps its row while it is listed (its button stays its own); rows of swings
        # no longer listed are freed for new ones
        keys = {action for action, _ in wanted}
        for i, action in enumerate(self._actions):
            if action is not None and action not in keys:
                self._fill(i, None, None, 0)
        placed = {action: i for i, action in enumerate(self._actions) if action is not None}
        free = [i for i, a in enumerate(self._actions) if a is None]
        now = time.monotonic()
        for position in range(self.last):
            shown = wanted[position][0] if position < len(wanted) else None
            if self._at[position] is not None and shown != self._at[position]:
                self._changed[position] = now  # a tap here may have been meant for the last
            self._at[position] = shown
        for position, (action, row) in enumerate(wanted):
            i = placed[action] if action in placed else free.pop(0)
            self._fill(i, action, row, position)

    def _say(self, text: str, undo: tuple[str, str] | None = None) -> None:
        self.message.object = f'<span class="hc-mark-text">{html.escape(text)}</span>'
        self._undo = undo
        self.undo_button.visible = undo is not None

    def _not_swing(self, device: str, number: int, session: str | None = None) -> None:
        try:
            mark = self.marks.mark_not_swing(device, number, session=session)
            self._say(f"Swing #{number} marked not a swing.", (device, mark.mark_id))
        except HittingCoachError as e:
            self._say(f"Cannot mark swing #{number}: {e}")
        self.update(self.device, force=True)

    def _count(self, device: str, number: int, time_ns: int, event: Any = None) -> None:
        try:
            mark = self.marks.add_swing(device, time_ns)
            self._say(f"Swing #{number} counted.", (device, mark.mark_id))
        except HittingCoachError as e:
            self._say(f"Cannot count swing #{number}: {e}")
        self.update(self.device, force=True)

    def _add(self, event: Any = None) -> None:
        device = self.device
        if device is None:
            self._say("No device is streaming yet.")
            return
        now_ns = self.marks.now_ns(device)
        try:
            if now_ns is None:
                raise ValueError(f"the server holds no readings of {device} to add a swing to")
            at_ns = parse_swing_time(self.add_time.value or "", now_ns)
            held = self.marks.held_ns(device)
            if held is None or not held[0] <= at_ns <= now_ns:
                raise ValueError("that time is outside the readings the server still holds")
            mark = self.marks.add_swing(device, at_ns)
        except (ValueError, HittingCoachError) as e:
            self._say(f"Cannot add the swing: {e}")
            return
        clock = time.strftime("%H:%M:%S", time.localtime(at_ns / 1e9))
        self.add_time.value = ""
        self._say(f"Swing added at {clock}.", (device, mark.mark_id))
        self.update(device, force=True)

    def _remove(self, device: str, mark_id: str, event: Any = None) -> None:
        try:
            self.marks.unmark(device, mark_id)
            self._say("Added swing removed.")
        except HittingCoachError as e:
            self._say(f"Cannot remove it: {e}")
        self.update(self.device, force=True)

    def _undo_last(self, event: Any = None) -> None:
        if self._undo is None:
            return
        device, mark_id = self._undo
        try:
            self.marks.unmark(device, mark_id)
            self._say("Mark undone.")
        except HittingCoachError as e:
            self._say(f"Cannot undo: {e}")
        self.update(self.device, force=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
