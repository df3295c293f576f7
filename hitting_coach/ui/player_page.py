"""The players pages: every player (``/sensor/players``), and one player's page
(``/sensor/player?device=D``): their sessions with a link to each report, the median of their
headline numbers session by session (dated, readable with one session), and their swings
against the level references (:mod:`hitting_coach.analysis.reference`).

Players are keyed by device id (:mod:`hitting_coach.store.players`); names are only shown. The
plots are Bokeh figures embedded in the page, BokehJS loaded from this server (no CDN).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from bokeh.embed import components
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, Range1d
from bokeh.plotting import figure

from hitting_coach.analysis.reference import reference_table
from hitting_coach.analysis.session_overview import (
    HEADLINES,
    SessionRow,
    device_trend_rows,
    player_trend,
)
from hitting_coach.store.players import display_name, read_players
from hitting_coach.store.session_admin import newest_report, report_key
from hitting_coach.store.sessions import indexed_summaries
from hitting_coach.ui.shell import page

__all__ = ["player_html", "players_html", "plural"]

#: BokehJS as the server serves it (Bokeh's static files, under the /sensor prefix).
BOKEH_JS = '<script src="/sensor/static/js/bokeh.min.js"></script>'
#: The reference level the trend plots shade (its middle half).
TREND_LEVEL = "college"
_DAY_NS = 86_400 * 10**9
#: The row of the player's own swings on the levels plots.
PLAYER_ROW = "this player"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def plural(n: int, word: str) -> str:
    """``1 session``, ``2 sessions``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def players_html(
    data_dir: Path, name_form: Callable[[list[str], dict[str, str], str], str], said: str
) -> str:
    """Every device that recorded a session, by its player's name, with its sessions."""
    names = read_players(data_dir)
    by_device: dict[str, list[Any]] = {}
    for s in indexed_summaries(data_dir):
        by_device.setdefault(s.device_id, []).append(s)
    devices = sorted(set(by_device) | set(names), key=lambda d: display_name(d, names).lower())
    items = []
    for device in devices:
        sessions = by_device.get(device, [])
        last = max((s.start_ns or 0 for s in sessions), default=0)
        when = pd.Timestamp(last, unit="ns", tz="UTC").tz_convert(None) if last else None
        items.append(
            f'<li class="hc-player-item hc-box"><a class="hc-player-link" '
            f'href="/sensor/player?{urlencode({"device": device})}"><b>'
            f"{_e(display_name(device, names))}</b></a> · {plural(len(sessions), 'session')}"
            + (f", the last on {when:%Y-%m-%d}" if when is not None else "")
            + f'<div class="hc-id">device {_e(device)}</div></li>'
        )
    body = (
        "<h1>Players</h1>"
        + said
        + name_form(devices, names, "/sensor/players")
        + (
            f'<ul class="hc-players" style="list-style:none;padding:0">{"".join(items)}</ul>'
            if items
            else '<p class="hc-box">No players yet: a phone that records a session shows here, '
            "and you can name it.</p>"
        )
    )
    return page("Hitting Coach · players", body, active="players")


def player_html(
    data_dir: Path,
    device: str,
    recording: Callable[[str, str], bool],
    report_form: Callable[[str, str], str],
) -> str | None:
    """One player's page; None when ``device`` recorded nothing and has no name."""
    names = read_players(data_dir)
    rows = device_trend_rows(data_dir, device, recording)
    if not rows and device not in names:
        return None
    player = display_name(device, names)
    trend = player_trend(rows, device)
    parts = [
        f'<h1 class="hc-player-name-title">{_e(player)}</h1>'
        f'<p class="hc-id">device {_e(device)} · '
        f'<a href="/sensor/sessions?{urlencode({"player": device})}">'
        "their sessions on the sessions page</a></p>"
    ]
    script, plots = "", []
    if trend.empty:
        parts.append(f'<p class="hc-box">No swings measured for {_e(player)} yet.</p>')
    else:
        figures = _trend_figures(trend) + _distribution_figures(rows)
        if figures:
            script, divs = components([f for f, _ in figures])
            plots = [
                f'<div class="hc-plot hc-{kind}">{div}</div>'
                for div, (_, kind) in zip(divs, figures, strict=True)
            ]
        n = len(trend)
        parts.append(
            f'<h2 class="hc-trend-title">Medians over time: {plural(n, "session")}</h2>'
            '<p class="hc-muted">Each point is the median of one session\'s swings; the shaded '
            f"band is the middle half of {TREND_LEVEL} swings (OpenBiomechanics).</p>"
            f'<div class="hc-plots hc-trend">{"".join(p for p in plots if "hc-trend-plot" in p)}</div>'
            '<h2>Swings against the levels</h2><p class="hc-muted">Each bar is the middle half '
            "of a level's swings (OpenBiomechanics, a ~65 mph machine), the tick its median; "
            f"the top row is {_e(player)}'s swings, every dot one swing.</p>"
            f'<div class="hc-plots hc-levels">{"".join(p for p in plots if "hc-level-plot" in p)}</div>'
        )
    parts.append(
        f"<h2>Sessions ({len(rows):,})</h2>" + _sessions_table(data_dir, rows, report_form)
    )
    return page(
        f"{player} · Hitting Coach", "".join(parts), active="players", head=BOKEH_JS + script
    )


def _sessions_table(
    data_dir: Path, rows: list[SessionRow], report_form: Callable[[str, str], str]
) -> str:
    if not rows:
        return "<p>No sessions recorded yet.</p>"
    lines = []
    for r in rows:
        newest = newest_report(data_dir, *r.key)
        if newest is not None:
            covered = pd.Timestamp(report_key(newest)[0], unit="ns", tz="UTC").tz_convert(None)
            report = report_form(*r.key) + f' <span class="hc-muted">up to {covered:%H:%M}</span>'
        else:
            link = f"/sensor/sessions?{urlencode({'player': r.device_id})}"
            report = f'<a href="{_e(link)}">make it on Sessions</a>'
        when = "–" if pd.isna(r.start) else f"{r.start.tz_convert(None):%Y-%m-%d %H:%M}"
        swings = "–" if r.swings is None else f"{r.swings:,}"
        lines.append(
            f"<tr><td>{when}</td><td>{_e(r.name or r.session_id)}</td><td>{swings}</td>"
            f'<td class="hc-session-report">{report}</td></tr>'
        )
    return (
        '<div class="hc-table-wrap hc-box"><table class="hc-player-sessions"><thead><tr>'
        "<th>Started (UTC)</th><th>Session</th><th>Swings</th><th>Report</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def _reference(column: str, level: str) -> tuple[float, float, float] | None:
    table = reference_table()
    hit = table[(table["metric"] == column) & (table["level"] == level)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return float(r["q1"]), float(r["median"]), float(r["q3"])


def _padded(values: list[float], floor: float) -> tuple[float, float]:
    """A range around ``values`` at least ``floor`` wide (one session or close values do not
    make a scale of a fraction of a unit)."""
    low, high = min(values), max(values)
    span = max(high - low, floor)
    middle = (low + high) / 2
    return middle - span * 0.6, middle + span * 0.6


def _trend_figures(trend: pd.DataFrame) -> list[tuple[Any, str]]:
    out = []
    starts = pd.to_datetime(trend["start"], utc=True).dt.tz_convert(None)
    x_ns = starts.astype("int64").tolist()
    pad = max((max(x_ns) - min(x_ns)) * 0.1, 1.5 * _DAY_NS)  # days on the axis, even for one
    for column, (label, unit) in HEADLINES.items():
        if column not in trend.columns or trend[column].isna().all():
            continue
        y = trend[column].astype(float).tolist()
        seen = [v for v in y if math.isfinite(v)]
        ref = _reference(column, TREND_LEVEL)
        bounds = seen + ([ref[0], ref[2]] if ref else [])
        low, high = _padded(bounds, max(abs(v) for v in bounds) * 0.2 or 1.0)
        fig = figure(
            title=f"{label} ({unit})",
            height=240,
            sizing_mode="stretch_width",
            min_width=260,
            toolbar_location=None,
            x_axis_type="datetime",
            x_range=Range1d(min(x_ns) / 1e6 - pad / 1e6, max(x_ns) / 1e6 + pad / 1e6),
            y_range=Range1d(low, high),
            y_axis_label=unit,
            name=f"trend-{column}",
        )
        fig.xaxis.formatter = DatetimeTickFormatter(
            days="%b %d", months="%b %Y", hours="%H:%M", minutes="%H:%M"
        )
        fig.xaxis.ticker.desired_num_ticks = 4
        if ref:
            fig.harea(
                x1=[fig.x_range.start] * 2,
                x2=[fig.x_range.end] * 2,
                y=[ref[0], ref[2]],
                fill_color="#c8d6e5",
                fill_alpha=0.5,
            )
        source = ColumnDataSource(
            {
                "x": starts.tolist(),
                "y": y,
                "session": trend["session"].astype(str).tolist(),
                "swings": trend["swings"].tolist(),
                "day": [f"{t:%Y-%m-%d %H:%M}" for t in starts],
            }
        )
        fig.line("x", "y", source=source, line_width=2)
        fig.scatter("x", "y", source=source, size=10)
        fig.add_tools(
            HoverTool(
                tooltips=[
                    ("session", "@session"),
                    ("started", "@day"),
                    ("swings", "@swings"),
                    (unit, "@y{0.0}"),
                ]
            )
        )
        out.append((fig, "trend-plot"))
    return out


def _distribution_figures(rows: list[SessionRow]) -> list[tuple[Any, str]]:
    table = reference_table()
    out = []
    for column in table["metric"].unique():
        if column not in HEADLINES:
            continue
        values = [v for r in rows for v in r.values.get(column, []) if math.isfinite(v)]
        if not values:
            continue
        label, unit = HEADLINES[column]
        refs = table[table["metric"] == column]
        levels = [PLAYER_ROW, *refs["level"].tolist()][::-1]
        fig = figure(
            title=f"{label} ({unit}): {plural(len(values), 'swing')} against the levels",
            height=60 + 36 * len(levels),
            sizing_mode="stretch_width",
            min_width=260,
            toolbar_location=None,
            y_range=levels,
            x_axis_label=unit,
            name=f"levels-{column}",
        )
        fig.hbar(
            y=refs["level"].tolist(),
            left=refs["q1"].tolist(),
            right=refs["q3"].tolist(),
            height=0.5,
            fill_color="#c8d6e5",
            line_color="#6b7f95",
        )
        fig.scatter(
            refs["median"].tolist(),
            refs["level"].tolist(),
            marker="dash",
            size=18,
            line_width=3,
            color="#12324a",
            angle=math.pi / 2,
        )
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        fig.hbar(
            y=[PLAYER_ROW],
            left=[q1],
            right=[q3],
            height=0.5,
            fill_color="#f6c26b",
            line_color="#b07a1a",
        )
        fig.scatter(
            [median],
            [PLAYER_ROW],
            marker="dash",
            size=18,
            line_width=3,
            color="#7a4b00",
            angle=math.pi / 2,
        )
        rng = np.random.default_rng(0)
        jitter = rng.uniform(-0.2, 0.2, len(values)).tolist()
        fig.scatter(values, [(PLAYER_ROW, j) for j in jitter], size=6, alpha=0.6, color="#b00020")
        lows = [min(values), *refs["q1"].tolist()]
        highs = [max(values), *refs["q3"].tolist()]
        low, high = _padded([min(lows), max(highs)], max(highs) * 0.1)
        fig.x_range = Range1d(low, high)
        out.append((fig, "level-plot"))
    return out
