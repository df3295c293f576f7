"""The sessions page (``/sensor/sessions``) and the players pages (``/sensor/players``,
``/sensor/player?device=D``) as the server's own HTML: every recorded session and its takes,
with the player, date, duration and swings; per session its report (made in the background,
its progress shown), its export, rename, delete (after a confirmation, never while it is being
recorded). Players: name a device once, list a player's sessions, see their numbers over time.

One page of 20 sessions is one HTML document made off the event loop (by the web layer's
handlers, :mod:`hitting_coach.web.pages`, on a worker thread): no widget model per session, so
it shows at once and costs the phones' POSTs nothing. Its buttons are small forms that POST to
the server's routes (same-origin checked, behind the dashboard login); the only script on the
page polls a report being made.

Ids and names come from phones and users: every one is escaped before it is shown.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from hitting_coach.analysis.session_overview import (
    SessionRow,
    forget_summary,
    sessions_page,
)
from hitting_coach.errors import HittingCoachError
from hitting_coach.store.layout import read_meta, session_dir
from hitting_coach.store.players import display_name, read_players, set_player
from hitting_coach.store.session_admin import (
    delete_session,
    newest_report,
    rename_session,
    report_is_stale,
    report_key,
)
from hitting_coach.store.sessions import indexed_summaries
from hitting_coach.ui.shell import page
from hitting_coach.ui.swing_panel import SPEED_ONLY_HINT

__all__ = [
    "ALL_PLAYERS",
    "PER_PAGE",
    "Done",
    "SessionsPage",
    "device_labels",
    "file_form",
    "report_state",
]

log = logging.getLogger(__name__)

ALL_PLAYERS = "All players"
#: Sessions shown per page, newest first.
PER_PAGE = 20

#: Polls each report being made (``data-pending``) and shows its state as it changes.
_POLL_SCRIPT = """
<script>
(function () {
  function poll() {
    var pending = document.querySelectorAll(".hc-report[data-pending]");
    if (!pending.length) return;
    pending.forEach(function (box) {
      var q = "device=" + encodeURIComponent(box.dataset.device) +
              "&session=" + encodeURIComponent(box.dataset.session);
      fetch("/sensor/sessions/report_state.json?" + q, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          if (box.innerHTML !== s.html) box.innerHTML = s.html;
          if (!s.pending) box.removeAttribute("data-pending");
        }).catch(function () {});
    });
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
</script>
"""

#: Fills the player-name box with the chosen device's name.
_NAME_SCRIPT = """
<script>
(function () {
  var pick = document.querySelector(".hc-device-select select");
  var box = document.querySelector(".hc-player-name input");
  if (!pick || !box) return;
  var names = JSON.parse(pick.dataset.names || "{}");
  pick.addEventListener("change", function () { box.value = names[pick.value] || ""; });
})();
</script>
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fields(**values: Any) -> str:
    return "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in values.items()
    )


def file_form(kind: str, device_id: str, session_id: str) -> str:
    """The button (a small form) that opens a session's report in a new tab or downloads its
    export: a POST, so that no link or image of another site can start one (the server takes
    them from this server's pages only; README, Security)."""
    name, label, target = {
        "report": ("session_report.html", "Open report", ' target="_blank" rel="noopener"'),
        "export": ("session_export.zip", "⬇ Download export (CSV, zip)", ""),
    }[kind]
    css = "hc-open-report" if kind == "report" else "hc-export"
    return (
        f'<form class="{css} hc-inline" method="post" action="/sensor/{name}"{target}>'
        f"{_fields(device=device_id, session=session_id)}"
        f'<button type="submit">{label}</button></form>'
    )


def action_form(
    action: str, device_id: str, session_id: str, label: str, css: str, **more: Any
) -> str:
    """A button that POSTs ``action`` (``/sensor/sessions/<action>``) for one session."""
    danger = " hc-danger" if "delete" in css else ""
    return (
        f'<form class="{css} hc-inline" method="post" action="/sensor/sessions/{action}">'
        f"{_fields(device=device_id, session=session_id, **more)}"
        f'<button type="submit" class="{danger.strip()}">{label}</button></form>'
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


def clock(ns: int | float | None, with_date: bool = True) -> str:
    """A time in the server's local time zone (``2026-05-01 18:02`` or ``18:02:10``)."""
    if ns is None or (isinstance(ns, float) and ns != ns) or not ns:
        return "–"
    when = datetime.fromtimestamp(int(ns) / 1e9).astimezone()
    return when.strftime("%Y-%m-%d %H:%M") if with_date else when.strftime("%H:%M:%S")


def _when(start: pd.Timestamp) -> str:
    return "–" if pd.isna(start) else clock(start.value)


def _length(seconds: float) -> str:
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def card_id(device_id: str, session_id: str) -> str:
    """The HTML id of a session's card (a page can link to it after an action)."""
    digest = hashlib.sha1(f"{device_id}\0{session_id}".encode()).hexdigest()[:12]
    return f"s-{digest}"


def report_state(
    data_dir: Path, device_id: str, session_id: str, end_ns: int, start_ns: int, job: Any
) -> tuple[str, bool]:
    """What a session's card says of its report, and whether one is being made.

    The newest report of the session on disk (``data/derived``, so after a restart too) can
    always be opened; it says the time it covers, and "make again" when the session grew after
    it or its marks changed. ``job`` is the session's report job (``state``, ``progress``,
    ``error``) or None."""
    making = job is not None and job.state in ("queued", "running")
    newest = newest_report(data_dir, device_id, session_id)
    make_label = "Make report"
    parts: list[str] = []
    if newest is not None:
        covered, _ = report_key(newest)
        since = f"{clock(start_ns, with_date=False)}–" if start_ns else "up to "
        parts.append(
            file_form("report", device_id, session_id)
            + f' <span class="hc-report-covers">report of {since}'
            f"{clock(covered, with_date=False)}</span>"
        )
        if end_ns and covered < end_ns:
            parts.append(
                '<span class="hc-report-stale">the session has grown since: make again '
                "for the rest</span>"
            )
            make_label = "Make again"
        elif report_is_stale(data_dir, device_id, session_id):
            parts.append(
                '<span class="hc-report-stale">made before your last mark; make again</span>'
            )
            make_label = "Make again"
        else:
            make_label = ""
    if making:
        parts.append(f'<span class="hc-report-state">making the report: {_e(job.progress)}…</span>')
    elif job is not None and job.state == "failed":
        parts.append(
            f'<span class="hc-report-state hc-problem">report failed: {_e(job.error)}</span>'
        )
        make_label = "Try again"
    if newest is None and not making and (job is None or job.state != "failed"):
        parts.append('<span class="hc-muted">no report yet</span>')
    if make_label and not making:
        parts.append(action_form("report", device_id, session_id, make_label, "hc-make-report"))
    return " ".join(parts), making


@dataclass
class Done:
    """What an action did: a line to show (``error`` when refused) and where to go next
    (``query``: the sessions page's query, or ``to``: another page of the server)."""

    message: str
    error: bool = False
    query: dict[str, str] | None = None
    to: str = ""


class SessionsPage:
    """The sessions and players pages of ``data_dir``, as HTML. ``recording(device, session)``
    says whether a session is being recorded right now (it cannot be deleted);
    ``start_report(data_dir, device, session, end_ns)`` starts making a report,
    ``report_status(data_dir, device, session)`` returns its job or None.

    Every method reads files: call them off the event loop."""

    def __init__(
        self,
        data_dir: Path,
        *,
        recording: Callable[[str, str], bool] = lambda device, session: False,
        start_report: Callable[[Path, str, str, int], Any] | None = None,
        report_status: Callable[[Path, str, str], Any] | None = None,
        footer: Callable[[], str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.recording = recording
        self.start_report = start_report
        self.report_status = report_status
        #: HTML shown at the end of the sessions page (e.g. the server's own status).
        self.footer = footer

    # ------------------------------------------------------------------------ sessions
    def sessions(
        self,
        page_number: int = 0,
        player: str | None = None,
        *,
        said: tuple[str, bool] | None = None,
        ask_delete: tuple[str, str] | None = None,
    ) -> str:
        """The sessions page: page ``page_number`` (0: the newest) of ``player``'s (a device
        id; None: everyone's) sessions, ``said`` (a line, and whether it is an error) at the
        top, and the delete confirmation of ``ask_delete`` (device, session) if given."""
        error = ""
        try:
            listing = sessions_page(
                self.data_dir, page_number, PER_PAGE, device=player, growing=self.recording
            )
            rows, total, devices, page_number = (
                listing.rows,
                listing.total,
                listing.devices,
                listing.page,
            )
        except (HittingCoachError, OSError) as e:
            error = f"cannot list the sessions: {e}"
            rows, total, devices = [], 0, []
        names = read_players(self.data_dir)
        parts = ["<h1>Sessions</h1>"]
        if said and said[0]:
            parts.append(_message(*said))
        if error:
            parts.append(_message(error, True))
        parts.append(self._filter(devices, names, player))
        parts.append(self._name_form(sorted(set(devices) | set(names)), names, "/sensor/sessions"))
        if player is not None:
            who = display_name(player, names)
            parts.append(
                f'<p class="hc-trend-link"><a href="/sensor/player?{urlencode({"device": player})}">'
                f"{_e(who)}: sessions, numbers over time and against the levels →</a></p>"
            )
        pager = self._pager(page_number, len(rows), total, player)
        parts.append(pager)
        if not rows:
            parts.append('<p class="hc-box">No sessions recorded yet.</p>')
        parts.append('<div class="hc-sessions">')
        parts.extend(self._card(r, names, ask_delete) for r in rows)
        parts.append("</div>")
        if rows:
            parts.append(pager)
        if self.footer is not None:
            parts.append(f'<footer class="hc-footer hc-muted">{self.footer()}</footer>')
        return page(
            "Hitting Coach · sessions",
            "".join(parts) + _POLL_SCRIPT + _NAME_SCRIPT,
            active="sessions",
        )

    def _filter(self, devices: list[str], names: dict[str, str], player: str | None) -> str:
        labels = device_labels(devices, names)
        options = [f'<option value="">{ALL_PLAYERS}</option>'] + [
            f'<option value="{_e(d)}"{" selected" if d == player else ""}>{_e(label)}</option>'
            for label, d in labels.items()
        ]
        return (
            '<form class="hc-row hc-filter" method="get" action="/sensor/sessions">'
            '<label class="hc-player-filter">Player'
            f'<select name="player" onchange="this.form.submit()">{"".join(options)}</select>'
            '</label><button type="submit" class="hc-refresh">↻ Show</button></form>'
        )

    def _name_form(self, devices: list[str], names: dict[str, str], back: str) -> str:
        if not devices:
            return ""
        labels = device_labels(devices, names)
        first = next(iter(labels.values()))
        options = "".join(
            f'<option value="{_e(d)}">{_e(label)}</option>' for label, d in labels.items()
        )
        known = html.escape(_json({d: names.get(d, "") for d in devices}), quote=True)
        return (
            '<details class="hc-box hc-players-card" open><summary><b>Players: name a device '
            "once</b></summary>"
            '<form class="hc-row" method="post" action="/sensor/players/name">'
            f"{_fields(back=back)}"
            '<label class="hc-device-select">Device'
            f'<select name="device" data-names="{known}">{options}</select></label>'
            '<label class="hc-player-name">Player name'
            f'<input type="text" name="name" maxlength="80" value="{_e(names.get(first, ""))}" '
            'placeholder="e.g. Maya — belt phone"></label>'
            '<span class="hc-name-device"><button type="submit" class="hc-primary">'
            "Name this device</button></span></form></details>"
        )

    def _pager(self, page_number: int, shown: int, total: int, player: str | None) -> str:
        if not total:
            return ""
        first = page_number * PER_PAGE
        info = (
            f'<span class="hc-page-info hc-muted">sessions {first + 1:,}–{first + shown:,} '
            f"of {total:,}, newest first</span>"
        )
        if total <= PER_PAGE:
            return f'<div class="hc-pager">{info}</div>'

        def link(to: int, label: str, css: str, enabled: bool) -> str:
            if not enabled:
                return f'<span class="hc-button {css}" aria-disabled="true">{label}</span>'
            query = {"page": str(to), **({"player": player} if player else {})}
            return (
                f'<a class="hc-button {css}" href="/sensor/sessions?{urlencode(query)}">{label}</a>'
            )

        return (
            '<div class="hc-pager">'
            + link(page_number - 1, "← Newer", "hc-newer", page_number > 0)
            + info
            + link(page_number + 1, "Older →", "hc-older", first + shown < total)
            + "</div>"
        )

    def _card(
        self, row: SessionRow, names: dict[str, str], ask_delete: tuple[str, str] | None
    ) -> str:
        device, session = row.key
        title = _e(row.name) if row.name else _e(session)
        live = self.recording(device, session)
        if row.swings is not None:
            swings = f"{row.swings} swing{'' if row.swings == 1 else 's'}" + (
                " so far" if row.so_far else ""
            )
        elif row.problem:
            swings = f'<span class="hc-problem">{_e(row.problem)}</span>'
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
        ids = " · ".join(
            ([f"device {_e(device)}"] if row.player != device else [])
            + ([f"session {_e(session)}"] if row.name else [])
        )
        player_link = f"/sensor/player?{urlencode({'device': device})}"
        job = self.report_status(self.data_dir, device, session) if self.report_status else None
        start_ns = 0 if pd.isna(row.start) else int(row.start.value)
        report, pending = report_state(self.data_dir, device, session, row.end_ns, start_ns, job)
        pending_attr = (
            f' data-pending="1" data-device="{_e(device)}" data-session="{_e(session)}"'
            if pending
            else f' data-device="{_e(device)}" data-session="{_e(session)}"'
        )
        if live:
            delete = (
                '<span class="hc-delete"><button type="button" disabled>Delete…</button></span>'
                ' <span class="hc-muted hc-live-note">being recorded right now: it can be '
                "deleted once the phone stops</span>"
            )
        else:
            delete = action_form("delete", device, session, "Delete…", "hc-delete", step="ask")
        confirm = ""
        if ask_delete == row.key and not live:
            confirm = (
                '<div class="hc-confirm"><p class="hc-confirm-text">Delete session '
                f"<b>{title}</b> of {_e(row.player)} ({row.readings:,} readings, its marks and "
                'reports)? This cannot be undone.</p><div class="hc-row">'
                + action_form(
                    "delete", device, session, "Yes, delete it", "hc-delete-yes", step="yes"
                )
                + '<a class="hc-button hc-delete-no" href="/sensor/sessions#'
                + card_id(device, session)
                + '">Keep it</a></div></div>'
            )
        return (
            f'<article class="hc-session-card" id="{card_id(device, session)}">'
            f'<div class="hc-session"><b class="hc-title">{title}</b> · '
            f'<a class="hc-player" href="{_e(player_link)}">{_e(row.player)}</a>'
            + (' <span class="hc-live">● recording</span>' if live else "")
            + f"<br>{_when(row.start)} · {_length(row.duration_s)} · "
            f'<span class="hc-swing-count">{swings}</span> · {row.readings:,} readings'
            + (f"<ul>{takes}</ul>" if takes else "")
            + hint
            + f'<div class="hc-id">{ids}</div></div>'
            f'<div class="hc-report"{pending_attr}>{report}</div>'
            + _clips(row.clips)
            + '<div class="hc-row hc-actions">'
            f'<form class="hc-row" method="post" action="/sensor/sessions/rename">'
            f"{_fields(device=device, session=session)}"
            f'<label class="hc-rename-input">Session name<input type="text" name="name" '
            f'maxlength="80" value="{_e(row.name)}" placeholder="session name"></label>'
            '<span class="hc-rename"><button type="submit">Rename</button></span></form>'
            f"{file_form('export', device, session)} {delete}</div>"
            f"{confirm}</article>"
        )

    # -------------------------------------------------------------------------- players
    def players(self, *, said: tuple[str, bool] | None = None) -> str:
        """The players page: every device by its player's name, and naming one."""
        from hitting_coach.ui.player_page import players_html

        line = _message(*said) if said and said[0] else ""
        return players_html(self.data_dir, self._name_form, line)

    def player(self, device_id: str) -> str | None:
        """One player's page (None for a device that recorded nothing and has no name)."""
        from hitting_coach.ui.player_page import player_html

        return player_html(
            self.data_dir,
            device_id,
            self.recording,
            lambda device, session: file_form("report", device, session),
        )

    def report_state(self, device_id: str, session_id: str) -> dict[str, Any]:
        """``{"html": what the card shows of the report, "pending": whether one is being
        made}`` (the page polls it while a report is made)."""
        end_ns, start_ns = self._span(device_id, session_id)
        job = (
            self.report_status(self.data_dir, device_id, session_id) if self.report_status else None
        )
        text, pending = report_state(self.data_dir, device_id, session_id, end_ns, start_ns, job)
        return {"html": text, "pending": pending}

    def _span(self, device_id: str, session_id: str) -> tuple[int, int]:
        """The session's last and first reading times (0, 0 for an unknown session)."""
        for s in reversed(indexed_summaries(self.data_dir)):
            if s.device_id == device_id and s.session_id == session_id:
                return s.end_ns or 0, s.start_ns or 0
        return 0, 0

    # ------------------------------------------------------------------------- actions
    def act(self, action: str, form: dict[str, str]) -> Done:
        """Do what a button of the page asks (``rename``, ``delete``, ``report``, ``name``:
        the form's fields); say what happened. Nothing changes on a refusal."""
        device, session = form.get("device", ""), form.get("session", "")
        back = {"card": card_id(device, session)}
        try:
            if action == "name":
                return self._name_device(device, form.get("name", ""), form.get("back", ""))
            if action == "rename":
                stored = rename_session(self.data_dir, device, session, form.get("name", ""))
                return Done(f"renamed to {stored}" if stored else "name removed", query=back)
            if action == "delete":
                return self._delete(device, session, form.get("step") == "yes")
            if action == "report":
                return self._make_report(device, session)
        except HittingCoachError as e:
            return Done(str(e), error=True, query=back)
        return Done(f"no such action: {action[:40]}", error=True)

    def _name_device(self, device: str, name: str, back: str) -> Done:
        to = back if back in ("/sensor/sessions", "/sensor/players") else "/sensor/sessions"
        if not device:
            return Done("no device to name yet: record a session first", error=True, to=to)
        set_player(self.data_dir, device, name)
        name = name.strip()
        return Done(f"{device} is now {name}" if name else f"{device} has no name now", to=to)

    def _delete(self, device: str, session: str, confirmed: bool) -> Done:
        title = str(read_meta(session_dir(self.data_dir, device, session)).get("name") or session)
        if self.recording(device, session):  # refused before it asks
            return Done(
                f"{title} is being recorded right now: stop the phone first, then delete it",
                error=True,
                query={"card": card_id(device, session)},
            )
        if not confirmed:
            ask = {"ask_device": device, "ask_session": session, "card": card_id(device, session)}
            return Done("", query=ask)
        delete_session(self.data_dir, device, session, self.recording)
        forget_summary(self.data_dir, device, session)
        return Done(f"deleted session {title}")

    def _make_report(self, device: str, session: str) -> Done:
        back = {"card": card_id(device, session)}
        if self.start_report is None:
            return Done("reports cannot be made from this page here", error=True, query=back)
        end_ns, _ = self._span(device, session)
        if not end_ns:
            return Done(f"no session {session} to report on", error=True)
        try:
            self.start_report(self.data_dir, device, session, end_ns)
        except OSError as e:
            return Done(f"cannot make the report: {e.strerror}", error=True, query=back)
        return Done("making the report: it opens here when it is ready", query=back)


def _clips(clips: list[dict[str, Any]]) -> str:
    """A session's swings on video (collapsed until opened): each swing's clip, looped, with
    its number and headline numbers; the video is fetched only when a clip is played."""
    if not clips:
        return ""
    items = []
    for c in clips:
        clip = c["clip"]
        src = f"/sensor/{clip['video']}#t={clip['start_s']:.3f},{clip['end_s']:.3f}"
        numbers = " · ".join(f"{label} {text}" for label, text in c.get("numbers", []))
        items.append(
            f'<figure class="hc-clip" data-swing="{_e(c["swing"])}">'
            f'<video preload="none" controls loop muted playsinline src="{_e(src)}"></video>'
            f"<figcaption><b>Swing {_e(c['swing'])}</b>"
            + (f" · {_e(numbers)}" if numbers else "")
            + "</figcaption></figure>"
        )
    return (
        f'<details class="hc-clips"><summary>Swing clips ({len(clips)})</summary>'
        f'<div class="hc-clip-list">{"".join(items)}</div></details>'
    )


def _message(text: str, error: bool = False) -> str:
    css = "hc-error" if error else "hc-ok"
    return f'<p class="hc-msg {css}" role="status">{_e(text)}</p>'


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
