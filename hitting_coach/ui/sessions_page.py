"""The sessions page (``/sensor/sessions``): every recorded session and its takes, with the
player, date, duration and swings; per session: its report (made in the background, progress
shown), its export, rename, delete (after a confirmation). Players: name a device once, filter
by player, and see a player's headline numbers session by session.

Ids and names come from phones and users: every one is escaped before it is shown. The page
never runs a report itself: ``start_report`` and ``report_status`` (see
:mod:`hitting_coach.report_jobs`) do, and a periodic callback of this page reads their state.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import HoverTool
from bokeh.plotting import figure

from hitting_coach.analysis.session_overview import (
    HEADLINES,
    SessionRow,
    player_trend,
    session_rows,
)
from hitting_coach.errors import HittingCoachError
from hitting_coach.store.players import read_players, set_player
from hitting_coach.store.session_admin import delete_session, rename_session, report_path

__all__ = ["ALL_PLAYERS", "SessionsPage", "file_form"]

log = logging.getLogger(__name__)

ALL_PLAYERS = "All players"
CSS = """
.hc-session { font-size: 15px; line-height: 1.4; }
.hc-session b { font-size: 17px; }
.hc-session .hc-muted { color: #555; }
.hc-message { font-size: 15px; }
"""


def file_form(kind: str, device_id: str, session_id: str) -> str:
    """The button (a small form, relative to the sessions page) that opens a session's report
    in a new tab or downloads its export: a POST, so that no link or image of another site can
    start one (the server takes them from this page only; README, Security)."""
    name, label, target = {
        "report": ("session_report.html", "Open report", ' target="_blank" rel="noopener"'),
        "export": ("session_export.zip", "⬇ Download export (CSV, zip)", ""),
    }[kind]
    fields = "".join(
        f'<input type="hidden" name="{k}" value="{_e(v)}">'
        for k, v in (("device", device_id), ("session", session_id))
    )
    return (
        f'<form class="hc-{"open-report" if kind == "report" else "export"}" method="post" '
        f'action="{name}"{target} style="display:inline;margin:0">{fields}'
        '<button type="submit" style="background:none;border:none;padding:0;color:#0645ad;'
        f'text-decoration:underline;cursor:pointer;font:inherit">{label}</button></form>'
    )


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _when(start: pd.Timestamp) -> str:
    if pd.isna(start):
        return "–"
    return datetime.fromtimestamp(start.value / 1e9).astimezone().strftime("%Y-%m-%d %H:%M")


def _length(seconds: float) -> str:
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class SessionsPage(pn.viewable.Viewer):
    """The sessions of ``data_dir``. ``recording(device, session)`` says whether a session is
    being recorded right now (it cannot be deleted); ``start_report(data_dir, device,
    session, end_ns)`` starts making a report, ``report_status(data_dir, device, session)``
    returns its job (``state``, ``progress``, ``error``) or None."""

    def __init__(
        self,
        data_dir: Path,
        *,
        recording: Callable[[str, str], bool] = lambda device, session: False,
        start_report: Callable[[Path, str, str, int], Any] | None = None,
        report_status: Callable[[Path, str, str], Any] | None = None,
        period_ms: int = 1000,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.data_dir = Path(data_dir)
        self.recording = recording
        self.start_report = start_report
        self.report_status = report_status
        self.rows: list[SessionRow] = []
        self._report_panes: dict[tuple[str, str], tuple[pn.pane.HTML, SessionRow]] = {}
        self.message = pn.pane.HTML("", css_classes=["hc-message"], sizing_mode="stretch_width")
        self.player_filter = pn.widgets.Select(
            name="Player", options=[ALL_PLAYERS], width=260, css_classes=["hc-player-filter"]
        )
        self.refresh_button = pn.widgets.Button(
            label="↻ Refresh", width=110, css_classes=["hc-refresh"]
        )
        self.device_select = pn.widgets.Select(
            name="Device", options=[], width=300, css_classes=["hc-device-select"]
        )
        self.player_name = pn.widgets.TextInput(
            name="Player name",
            placeholder="e.g. Maya — belt phone",
            width=260,
            css_classes=["hc-player-name"],
        )
        self.name_button = pn.widgets.Button(
            label="Name this device", width=160, css_classes=["hc-name-device"]
        )
        self.trend = pn.Column(sizing_mode="stretch_width", css_classes=["hc-trend"])
        self.listing = pn.Column(sizing_mode="stretch_width", css_classes=["hc-sessions"])
        self.player_filter.param.watch(lambda event: self._show(), "value")
        self.refresh_button.on_click(lambda event: self.refresh())
        self.name_button.on_click(lambda event: self._name_device())
        self.device_select.param.watch(lambda event: self._fill_player_name(), "value")
        self.layout = pn.Column(
            pn.pane.HTML(
                '<h2>Hitting Coach · sessions</h2><p><a href="./">← live view</a></p>',
                sizing_mode="stretch_width",
            ),
            self.message,
            pn.Row(self.player_filter, self.refresh_button),
            pn.Card(
                pn.Row(self.device_select, self.player_name, self.name_button),
                title="Players: name a device once",
                collapsed=False,
                sizing_mode="stretch_width",
            ),
            self.trend,
            self.listing,
            sizing_mode="stretch_width",
            stylesheets=[CSS],
        )
        self.refresh()
        if pn.state.curdoc is not None and period_ms:
            self._callback = pn.state.add_periodic_callback(self._poll_reports, period=period_ms)

    def __panel__(self) -> pn.Column:
        return self.layout

    # ----------------------------------------------------------------------------- state
    def refresh(self) -> None:
        """Read the sessions again and show them."""
        try:
            self.rows = session_rows(self.data_dir)
        except (HittingCoachError, OSError) as e:
            self._say(f"cannot list the sessions: {e}", error=True)
            self.rows = []
        players = sorted({r.player for r in self.rows})
        current = self.player_filter.value
        self.player_filter.options = [ALL_PLAYERS, *players]
        self.player_filter.value = current if current in players else ALL_PLAYERS
        names = read_players(self.data_dir)
        devices = sorted({r.device_id for r in self.rows} | set(names))
        chosen = self.device_select.value
        self.device_select.options = {
            (f"{d} — {names[d]}" if d in names else d): d for d in devices
        }
        self.device_select.value = chosen if chosen in devices else next(iter(devices), None)
        self._fill_player_name()
        self._show()

    def _say(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "#1b5e20"
        self.message.object = (
            f'<p class="hc-msg" style="color:{color}">{_e(text)}</p>' if text else ""
        )

    def _fill_player_name(self) -> None:
        device = self.device_select.value
        self.player_name.value = read_players(self.data_dir).get(device, "") if device else ""

    def _name_device(self) -> None:
        device = self.device_select.value
        if not device:
            self._say("no device to name yet: record a session first", error=True)
            return
        try:
            set_player(self.data_dir, device, self.player_name.value)
        except HittingCoachError as e:
            self._say(str(e), error=True)
            return
        name = self.player_name.value.strip()
        self._say(f"{device} is now {name}" if name else f"{device} has no name now")
        self.refresh()

    # ------------------------------------------------------------------------- showing
    def _show(self) -> None:
        player = self.player_filter.value
        rows = [r for r in self.rows if player in (ALL_PLAYERS, r.player)]
        self._report_panes = {}
        if not rows:
            self.listing.objects = [pn.pane.HTML("<p>No sessions recorded yet.</p>")]
        else:
            self.listing.objects = [self._session_card(r) for r in rows]
        self.trend.objects = [] if player == ALL_PLAYERS else self._trend(player)

    def _session_card(self, row: SessionRow) -> pn.Column:
        title = _e(row.name) if row.name else _e(row.session_id)
        swings = (
            f"{row.swings} swings" if row.swings is not None else f"swings: – ({_e(row.problem)})"
        )
        takes = "".join(
            f"<li>take <b>{_e(t['name'] or '(no name)')}</b> at {_when(t['start'])}, "
            + ("running" if pd.isna(t["duration_s"]) else _length(t["duration_s"]))
            + "</li>"
            for t in row.takes
        )
        session_line = (
            f'<span class="hc-muted">session {_e(row.session_id)}</span>' if row.name else ""
        )
        info = pn.pane.HTML(
            f'<div class="hc-session"><b class="hc-player">{_e(row.player)}</b> · '
            f'<span class="hc-title">{title}</span> {session_line}<br>'
            f"{_when(row.start)} · {_length(row.duration_s)} · "
            f'<span class="hc-swing-count">{swings}</span> · {row.readings:,} readings'
            + (f"<ul>{takes}</ul>" if takes else "")
            + "</div>",
            sizing_mode="stretch_width",
        )
        report_pane = pn.pane.HTML(
            self._report_html(row), css_classes=["hc-report"], sizing_mode="stretch_width"
        )
        self._report_panes[row.key] = (report_pane, row)
        make = pn.widgets.Button(label="Make report", width=130, css_classes=["hc-make-report"])
        make.on_click(lambda event, r=row: self._make_report(r))
        export = pn.pane.HTML(file_form("export", *row.key), width=240)
        rename_input = pn.widgets.TextInput(
            value=row.name, placeholder="session name", width=220, css_classes=["hc-rename-input"]
        )
        rename = pn.widgets.Button(label="Rename", width=100, css_classes=["hc-rename"])
        rename.on_click(lambda event, r=row, w=rename_input: self._rename(r, w.value))
        delete = pn.widgets.Button(
            label="Delete…", button_type="danger", width=100, css_classes=["hc-delete"]
        )
        confirm = pn.Row(visible=False, css_classes=["hc-confirm"])
        delete.on_click(lambda event, r=row, c=confirm: self._ask_delete(r, c))
        return pn.Column(
            info,
            pn.Row(make, report_pane, export),
            pn.Row(rename_input, rename, delete),
            confirm,
            pn.pane.HTML("<hr>", sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            css_classes=["hc-session-card"],
        )

    def _report_html(self, row: SessionRow) -> str:
        job = self.report_status(self.data_dir, *row.key) if self.report_status else None
        link = file_form("report", *row.key)
        if report_path(self.data_dir, *row.key, row.end_ns).is_file():
            return link
        if job is None:
            return '<span class="hc-muted">no report yet</span>'
        if job.state == "failed":
            return f'<span class="hc-report-state" style="color:#b00020">report failed: {_e(job.error)}</span>'
        return f'<span class="hc-report-state">making the report: {_e(job.progress)}…</span>'

    def _make_report(self, row: SessionRow) -> None:
        if self.start_report is None:
            self._say("reports cannot be made from this page here", error=True)
            return
        try:
            self.start_report(self.data_dir, row.device_id, row.session_id, row.end_ns)
        except (HittingCoachError, OSError) as e:
            self._say(f"cannot make the report: {e}", error=True)
            return
        self._poll_reports()

    def _poll_reports(self) -> None:
        for pane, row in self._report_panes.values():
            text = self._report_html(row)
            if pane.object != text:
                pane.object = text

    def _rename(self, row: SessionRow, name: str) -> None:
        try:
            stored = rename_session(self.data_dir, row.device_id, row.session_id, name)
        except HittingCoachError as e:
            self._say(str(e), error=True)
            return
        self._say(f"renamed to {stored}" if stored else "name removed")
        self.refresh()

    def _ask_delete(self, row: SessionRow, confirm: pn.Row) -> None:
        title = row.name or row.session_id
        yes = pn.widgets.Button(
            label="Yes, delete it", button_type="danger", width=140, css_classes=["hc-delete-yes"]
        )
        no = pn.widgets.Button(label="Keep it", width=100, css_classes=["hc-delete-no"])
        yes.on_click(lambda event: self._delete(row))
        no.on_click(lambda event: setattr(confirm, "visible", False))
        confirm.objects = [
            pn.pane.HTML(
                f'<p class="hc-confirm-text">Delete session <b>{_e(title)}</b> of '
                f"{_e(row.player)} ({row.readings:,} readings, its marks and report)? "
                "This cannot be undone.</p>"
            ),
            yes,
            no,
        ]
        confirm.visible = True

    def _delete(self, row: SessionRow) -> None:
        try:
            delete_session(self.data_dir, row.device_id, row.session_id, self.recording)
        except HittingCoachError as e:
            self._say(str(e), error=True)
            return
        self._say(f"deleted session {row.name or row.session_id}")
        self.refresh()

    # ---------------------------------------------------------------------------- trend
    def _trend(self, player: str) -> list[Any]:
        trend = player_trend(self.rows, player)
        if trend.empty:
            return [pn.pane.HTML(f"<p>No swings measured for {_e(player)} yet.</p>")]
        plots = []
        x = list(range(1, len(trend) + 1))
        for column, (label, unit) in HEADLINES.items():
            if column not in trend.columns or trend[column].isna().all():
                continue
            fig = figure(
                title=f"{label} ({unit}), median per session",
                height=220,
                sizing_mode="stretch_width",
                toolbar_location=None,
                x_axis_label="session",
                name=f"trend-{column}",
            )
            data = {
                "x": x,
                "y": trend[column].tolist(),
                "session": trend["session"].astype(str).tolist(),
                "swings": trend["swings"].tolist(),
            }
            fig.line("x", "y", source=data, line_width=2)
            fig.scatter("x", "y", source=data, size=9)
            fig.add_tools(
                HoverTool(tooltips=[("session", "@session"), ("swings", "@swings"), (unit, "@y")])
            )
            fig.xaxis.ticker = x
            plots.append(pn.pane.Bokeh(fig, sizing_mode="stretch_width", min_width=260))
        heading = pn.pane.HTML(
            f'<h3 class="hc-trend-title">{_e(player)}: {len(trend)} sessions side by side</h3>',
            sizing_mode="stretch_width",
        )
        return [heading, pn.FlexBox(*plots, sizing_mode="stretch_width")]
