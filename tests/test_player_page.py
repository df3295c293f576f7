"""A player's page (issue 25, item 6) and the sessions page's report state (item 2), in
process: what the coach reads, with one session and after the session grows."""

from __future__ import annotations

import re
import shutil

import pytest

from hitting_coach.store.players import set_player
from hitting_coach.store.session_admin import report_path
from hitting_coach.ui.sessions_page import SessionsPage, report_state


@pytest.fixture
def one_session(recorded_swings, tmp_path):
    source, sim = recorded_swings
    data = tmp_path / "data"
    shutil.copytree(source, data)
    set_player(data, "phone-1", "Maya <b>Lopez</b>")
    return data, sim


def test_with_one_session_the_trend_reads_as_dates_and_a_readable_scale(one_session, monkeypatch):
    from hitting_coach.ui import player_page

    data, sim = one_session
    made = []
    real = player_page.components
    monkeypatch.setattr(player_page, "components", lambda figs: made.extend(figs) or real(figs))
    page = SessionsPage(data).player("phone-1")
    assert page is not None
    assert "Maya &lt;b&gt;Lopez&lt;/b&gt;" in page and "<b>Lopez</b>" not in page
    assert "1 session<" in page and "1 sessions" not in page
    assert 'src="/sensor/static/js/bokeh.min.js"' in page and "cdn.bokeh.org" not in page
    trends = [f for f in made if f.name.startswith("trend-")]
    levels = [f for f in made if f.name.startswith("levels-")]
    assert trends and levels
    for fig in trends:
        assert type(fig.xaxis[0]).__name__ == "DatetimeAxis"
        low, high = fig.y_range.start, fig.y_range.end
        assert high - low >= 0.15 * abs(high + low) / 2, (fig.name, low, high)  # not 729–730
        assert fig.x_range.end - fig.x_range.start >= 12 * 3600 * 1000  # a day around it
    # every level of the references is on the distribution, and the player's swings
    assert re.fullmatch(
        r"peak pelvis speed \(°/s\): \d+ swings against the levels", levels[0].title.text
    )
    assert set(levels[0].y_range.factors) == {
        "this player",
        "high school",
        "college",
        "independent",
        "MiLB",
    }
    assert "no report yet" not in page and "make it on Sessions" in page


def test_an_unknown_device_has_no_player_page(one_session):
    data, _ = one_session
    assert SessionsPage(data).player("nobody") is None


def test_the_report_link_survives_growth_and_says_what_it_covers(one_session):
    data, _ = one_session
    pages = SessionsPage(data)
    end_ns, start_ns = pages._span("phone-1", "sim-swings")
    state, pending = report_state(data, "phone-1", "sim-swings", end_ns, start_ns, None)
    assert "no report yet" in state and "Make report" in state and not pending
    made = report_path(data, "phone-1", "sim-swings", end_ns)
    made.parent.mkdir(parents=True, exist_ok=True)
    made.write_text("<html>report</html>")
    state, _ = report_state(data, "phone-1", "sim-swings", end_ns, start_ns, None)
    assert "Open report" in state and "Make" not in state
    assert re.search(r"report of \d\d:\d\d:\d\d–\d\d:\d\d:\d\d", state)
    # the session grew: the report is still there to open, and says it is older
    grown, _ = report_state(data, "phone-1", "sim-swings", end_ns + 10**10, start_ns, None)
    assert "Open report" in grown and "has grown since" in grown and "Make again" in grown

    class Job:
        state, progress, error = "running", "loading the session", ""

    making, pending = report_state(data, "phone-1", "sim-swings", end_ns, start_ns, Job())
    assert pending and "making the report: loading the session…" in making
    assert "Open report" in making  # the one made before stays reachable meanwhile
