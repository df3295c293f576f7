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
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import HoverTool
from bokeh.plotting import figure

from hitting_coach.analysis.session_overview import (
    HEADLINES,
    SessionListing,
    SessionRow,
    device_trend_rows,
    forget_summary,
    player_trend,
    sessions_page,
)
from hitting_coach.errors import HittingCoachError
from hitting_coach.store.players import display_name, read_players, set_player
from hitting_coach.store.session_admin import (
    delete_session,
    newest_report,
    rename_session,
    report_is_stale,
    report_path,
)
from hitting_coach.ui.swing_panel import SPEED_ONLY_HINT

__all__ = ["ALL_PLAYERS", "PER_PAGE", "SessionsPage", "device_labels", "file_form"]

log = logging.getLogger(__name__)

ALL_PLAYERS = "All players"
#: Sessions shown per page, newest first.
PER_PAGE = 20
#: Lists and summaries are made here, never on the event loop (the server's one thread that
#: answers the phones): one worker, so pages opened at once wait their turn.
_worker = ThreadPoolExecutor(1, thread_name_prefix="sessions-page")
#: Session cards added to a served page per tick of its event loop (each costs the loop tens
#: of milliseconds of Bokeh models).
_CARDS_PER_TICK = 2
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


def device_labels(devices: list[str], players: dict[str, str]) -> dict[str, str]:
    """``{label: device id}`` for a picker: the player's name (or the id), with the id added
    where a name reads like another device's name or id, so no device's label hides
    another's (a device named "phoneA — Maya" does not push out the device phoneA)."""
    names = {d: display_name(d, players) for d in devices}
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    ids = set(devices)
    labels: dict[str, str] = {}
    for d, name in names.items():
        clash = seen[name] > 1 or (name != d and name in ids)
        label = f"{name} ({d})" if clash and name != d else name
        while label in labels:  # still taken (e.g. a name that is "x (y)")
            label += " ·"
        labels[label] = d
    return labels


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
        self.page_number = 0
        self.total = 0
        self._jobs_seen: dict[tuple[str, str], Any] = {}
        self._loads = 0  # the newest load asked for; an older one's result is dropped
        self._lock = threading.Lock()
        self._doc = pn.state.curdoc
        self._background = self._doc is not None and self._doc.session_context is not None
        self._report_panes: dict[tuple[str, str], tuple[pn.pane.HTML, SessionRow]] = {}
        self.message = pn.pane.HTML("", css_classes=["hc-message"], sizing_mode="stretch_width")
        self.player_filter = pn.widgets.Select(
            label="Player", options=[ALL_PLAYERS], width=260, css_classes=["hc-player-filter"]
        )
        self.refresh_button = pn.widgets.Button(
            label="↻ Refresh", width=110, css_classes=["hc-refresh"]
        )
        self.device_select = pn.widgets.Select(
            label="Device", options=[], width=300, css_classes=["hc-device-select"]
        )
        self.player_name = pn.widgets.TextInput(
            label="Player name",
            placeholder="e.g. Maya — belt phone",
            width=260,
            css_classes=["hc-player-name"],
        )
        self.name_button = pn.widgets.Button(
            label="Name this device", width=160, css_classes=["hc-name-device"]
        )
        self.trend = pn.Column(sizing_mode="stretch_width", css_classes=["hc-trend"])
        self.listing = pn.Column(
            pn.pane.HTML('<p class="hc-loading">Reading the sessions…</p>'),
            sizing_mode="stretch_width",
            css_classes=["hc-sessions"],
        )
        self.newer = pn.widgets.Button(label="← Newer", width=110, css_classes=["hc-newer"])
        self.older = pn.widgets.Button(label="Older →", width=110, css_classes=["hc-older"])
        self.page_info = pn.pane.HTML("", css_classes=["hc-page-info"], width=260)
        self.newer.on_click(lambda event: self._turn(-1))
        self.older.on_click(lambda event: self._turn(+1))
        self.player_filter.param.watch(lambda event: self._filter_changed(), "value")
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
            pn.Row(self.newer, self.page_info, self.older),
            self.listing,
            pn.Row(self.newer, self.page_info, self.older),
            sizing_mode="stretch_width",
            stylesheets=[CSS],
        )
        if self._background:  # once the page is connected: its list arrives after it
            pn.state.onload(self.refresh)
        else:
            self.refresh()
        if pn.state.curdoc is not None and period_ms:
            self._callback = pn.state.add_periodic_callback(self._poll_reports, period=period_ms)

    def __panel__(self) -> pn.Column:
        return self.layout

    # ----------------------------------------------------------------------------- state
    def refresh(self) -> None:
        """Read the sessions of the current page again and show them: in the background when
        served (the page shows what it has meanwhile), else right away."""
        with self._lock:
            self._loads += 1
            ticket = self._loads
        device = self._device()
        page = self.page_number
        if not self._background:
            self._apply(ticket, *self._load(page, device))
            return
        doc = self._doc

        def work() -> None:
            try:
                result = self._load(page, device)
            except Exception:  # a page must show something: the error, not a spinner
                log.exception("cannot list the sessions")
                result = (None, [], {}, "cannot list the sessions (see the server's log)")
            try:
                doc.add_next_tick_callback(lambda: self._apply(ticket, *result))
            except Exception:  # the page was closed meanwhile
                log.debug("sessions page gone before its list was ready", exc_info=True)

        _worker.submit(work)

    def _device(self) -> str | None:
        value = self.player_filter.value
        return None if value in (None, ALL_PLAYERS) else value

    def _load(
        self, page: int, device: str | None
    ) -> tuple[SessionListing | None, list[SessionRow], dict[str, str], str]:
        """What a refresh shows (run off the event loop): the page of sessions, the chosen
        device's trend rows, the player names, and an error to say."""
        try:
            listing = sessions_page(
                self.data_dir, page, PER_PAGE, device=device, growing=self.recording
            )
            trend = (
                device_trend_rows(self.data_dir, device, self.recording)
                if device is not None
                else []
            )
        except (HittingCoachError, OSError) as e:
            return None, [], {}, f"cannot list the sessions: {e}"
        return listing, trend, read_players(self.data_dir), ""

    def _apply(
        self,
        ticket: int,
        listing: SessionListing | None,
        trend: list[SessionRow],
        names: dict[str, str],
        error: str,
    ) -> None:
        with self._lock:
            if ticket != self._loads:
                return  # a newer load is on its way
        if error:
            self._say(error, error=True)
        if listing is None:
            self.rows, self.total, devices = [], 0, sorted(names)
        else:
            self.rows, self.total, devices = listing.rows, listing.total, listing.devices
            self.page_number = listing.page
        self._trend_rows = trend
        labels = device_labels(devices, names)
        current = self.player_filter.value
        self._applying = True
        try:
            self.player_filter.options = {ALL_PLAYERS: ALL_PLAYERS, **labels}
            if current not in labels.values():
                self.player_filter.value = ALL_PLAYERS
        finally:
            self._applying = False
        every = device_labels(sorted(set(devices) | set(names)), names)
        chosen = self.device_select.value
        self.device_select.options = every
        self.device_select.value = (
            chosen if chosen in every.values() else next(iter(every.values()), None)
        )
        self._fill_player_name()
        self._show()

    def _filter_changed(self) -> None:
        if getattr(self, "_applying", False):
            return
        self.page_number = 0
        self.refresh()

    def _turn(self, step: int) -> None:
        self.page_number = max(0, self.page_number + step)
        self.refresh()

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
        rows = self.rows
        self._report_panes = {}
        if not rows:
            self.listing.objects = [pn.pane.HTML("<p>No sessions recorded yet.</p>")]
        elif not self._background:
            self.listing.objects = [self._session_card(r) for r in rows]
        else:  # a few cards a tick: the phones' POSTs are answered in between
            self.listing.objects = [self._session_card(r) for r in rows[:_CARDS_PER_TICK]]
            self._add_cards(self._loads, rows[_CARDS_PER_TICK:])
        first = self.page_number * PER_PAGE
        self.page_info.object = (
            f'<span class="hc-muted">sessions {first + 1:,}–{first + len(rows):,} of '
            f"{self.total:,}, newest first</span>"
            if rows
            else ""
        )
        self.newer.disabled = self.page_number == 0
        self.older.disabled = first + len(rows) >= self.total
        device = self._device()
        self.trend.objects = [] if device is None else self._trend(device)

    def _add_cards(self, ticket: int, rest: list[SessionRow]) -> None:
        if not rest:
            return

        def more() -> None:
            if ticket != self._loads:
                return  # a newer list replaced this one
            self.listing.extend([self._session_card(r) for r in rest[:_CARDS_PER_TICK]])
            self._add_cards(ticket, rest[_CARDS_PER_TICK:])

        self._doc.add_next_tick_callback(more)

    def _session_card(self, row: SessionRow) -> pn.Column:
        title = _e(row.name) if row.name else _e(row.session_id)
        if row.swings is not None:
            swings = f"{row.swings} swings" + (" so far" if row.so_far else "")
        elif row.problem:
            swings = f'<span class="hc-problem" style="color:#b00020">{_e(row.problem)}</span>'
        else:
            swings = "recording now: swings are counted when it stops"
        if row.not_counted:
            swings += f" (+{row.not_counted} listed, not counted)"
        hint = (
            f'<div class="hc-speed-only">{row.speed_only} swings judged by speed only. '
            f"{_e(SPEED_ONLY_HINT)}</div>"
            if row.speed_only
            else ""
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
        export = file_form("export", *row.key)
        info = pn.pane.HTML(
            f'<hr><div class="hc-session"><b class="hc-player">{_e(row.player)}</b> · '
            f'<span class="hc-title">{title}</span> {session_line}<br>'
            f"{_when(row.start)} · {_length(row.duration_s)} · "
            f'<span class="hc-swing-count">{swings}</span> · {row.readings:,} readings'
            + (f"<ul>{takes}</ul>" if takes else "")
            + hint
            + f"<br>{export}</div>",
            sizing_mode="stretch_width",
        )
        report_pane = pn.pane.HTML(
            self._report_html(row), css_classes=["hc-report"], sizing_mode="stretch_width"
        )
        self._report_panes[row.key] = (report_pane, row)
        self._jobs_seen.pop(row.key, None)  # a new card: its first poll looks again
        make = pn.widgets.Button(label="Make report", width=130, css_classes=["hc-make-report"])
        make.on_click(lambda event, r=row: self._make_report(r))
        rename_input = pn.widgets.TextInput(
            value=row.name, placeholder="session name", width=220, css_classes=["hc-rename-input"]
        )
        rename = pn.widgets.Button(label="Rename", width=100, css_classes=["hc-rename"])
        rename.on_click(lambda event, r=row, w=rename_input: self._rename(r, w.value))
        delete = pn.widgets.Button(
            label="Delete…", color="danger", width=100, css_classes=["hc-delete"]
        )
        confirm = pn.Row(visible=False, css_classes=["hc-confirm"])
        delete.on_click(lambda event, r=row, c=confirm: self._ask_delete(r, c))
        return pn.Column(
            info,
            pn.Row(make, report_pane),
            pn.Row(rename_input, rename, delete),
            confirm,
            sizing_mode="stretch_width",
            css_classes=["hc-session-card"],
        )

    def _report_html(self, row: SessionRow) -> str:
        job = self.report_status(self.data_dir, *row.key) if self.report_status else None
        link = file_form("report", *row.key)
        if job is not None and job.state in ("queued", "running"):
            return f'<span class="hc-report-state">making the report: {_e(job.progress)}…</span>'
        if report_path(self.data_dir, *row.key, row.end_ns).is_file():
            return link
        if job is not None and job.state == "failed":
            return f'<span class="hc-report-state" style="color:#b00020">report failed: {_e(job.error)}</span>'
        if newest_report(self.data_dir, *row.key) is not None and report_is_stale(
            self.data_dir, *row.key
        ):
            return (
                f'{link} <span class="hc-report-stale" style="color:#8a5a00">made before your '
                "last mark; make again</span>"
            )
        return '<span class="hc-muted">no report yet</span>'

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
        """Show each card's report state again where its job changed (the job table is in
        memory; the files are looked at only then: this runs every second on the loop)."""
        seen = self._jobs_seen
        for key, (pane, row) in self._report_panes.items():
            job = self.report_status(self.data_dir, *key) if self.report_status else None
            state = None if job is None else (id(job), job.state, job.progress, job.path)
            if key in seen and seen[key] == state:
                continue
            seen[key] = state
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
            label="Yes, delete it", color="danger", width=140, css_classes=["hc-delete-yes"]
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
        forget_summary(self.data_dir, row.device_id, row.session_id)
        self._say(f"deleted session {row.name or row.session_id}")
        self.refresh()

    # ---------------------------------------------------------------------------- trend
    def _trend(self, device: str) -> list[Any]:
        rows = getattr(self, "_trend_rows", [])
        player = display_name(device, read_players(self.data_dir))
        trend = player_trend(rows, device)
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
