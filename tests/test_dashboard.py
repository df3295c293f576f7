"""The live dashboard's components in this process, no browser: a hub with readings, one tick
called directly, and what the browser would be sent (the Bokeh document's change events)."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnsStreamedEvent, DocumentChangedEvent
from bokeh.models import LayoutDOM

from hitting_coach.analysis.live_swings import LiveSwings
from hitting_coach.errors import MessageError
from hitting_coach.ingest.hub import Hub
from hitting_coach.sim.simulate import simulate
from hitting_coach.ui.dashboard import Dashboard
from support import ingest_all, motion_messages, times_ms

T0 = 1_700_000_000_000_000_000


class Shown:
    """A component put in a Bokeh document, as a browser session would; ``sent`` collects
    every change that would go to the browser from now on."""

    def __init__(self, component) -> None:
        self.document = Document()
        self.document.add_root(pn.panel(component).get_root(self.document))
        self.sent: list[DocumentChangedEvent] = []
        self.document.on_change(self.sent.append)

    def streamed(self) -> dict[str, ColumnsStreamedEvent]:
        """Points streamed since the last call, by source name."""
        out = {e.model.name: e for e in self.sent if isinstance(e, ColumnsStreamedEvent)}
        self.sent.clear()
        return out


def phone_plots(dashboard):
    """The plots a phone's readings fill (accelerometer, gyroscope; not the watch's)."""
    plots = [p for p in dashboard.plots if p.sensor in ("accelerometer", "gyroscope")]
    assert len(plots) == 2
    return plots


def listed_rows(panel) -> list[str]:
    """The swing list's rows as the page shows them: the rows not hidden, in their order."""
    shown = [row for row in panel.list if row.styles.get("display") != "none"]
    return [row[0].object for row in sorted(shown, key=lambda row: int(row.styles["order"]))]


@pytest.fixture
def hub() -> Hub:
    return Hub()


def test_a_tick_sends_only_the_new_points_and_the_window_rolls_over(hub):
    messages = motion_messages(12, start_ns=T0)  # 20 readings per sensor per message
    ingest_all(hub, messages[:5])
    dashboard = Dashboard(hub, window=200)
    shown = Shown(dashboard)
    for plot in phone_plots(dashboard):
        assert list(plot.source.data["t"]) == times_ms(messages[:5], plot.sensor)

    ingest_all(hub, messages[5:7])
    dashboard.tick()
    streamed = shown.streamed()
    assert set(streamed) == {"accelerometer-source", "gyroscope-source"}
    for plot in phone_plots(dashboard):
        event = streamed[f"{plot.sensor}-source"]
        assert list(event.data["t"]) == times_ms(messages[5:7], plot.sensor)  # nothing old
        assert event.rollover == 200
        assert list(plot.source.data["t"]) == times_ms(messages[:7], plot.sensor)

    dashboard.tick()  # nothing new: nothing is sent to the plots
    assert shown.streamed() == {}

    ingest_all(hub, messages[7:])
    dashboard.tick()
    for plot in phone_plots(dashboard):  # 240 readings sent, the plot keeps the newest 200
        assert list(plot.source.data["t"]) == times_ms(messages, plot.sensor)[-200:]


def test_a_tick_echoed_back_by_the_browser_changes_nothing_in_the_kernel(hub):
    """In a notebook, Panel's comm sends each streamed chunk back to the kernel, and with
    JupyterLab's comms over subshells it arrives on another thread than the dashboard's ticks
    (a CI run's notebook showed "ColumnDataSource's columns must be of the same length"): the
    kernel's copy takes no stream from a browser, and its own ticks still go through."""
    messages = motion_messages(12, start_ns=T0)
    ingest_all(hub, messages[:5])
    dashboard = Dashboard(hub, window=200)
    shown = Shown(dashboard)
    ingest_all(hub, messages[5:7])
    dashboard.tick()
    for plot in phone_plots(dashboard):
        before = {k: np.asarray(v).tolist() for k, v in plot.source.data.items()}
        echo = {  # the chunk as the browser's comm sends it back
            "kind": "ColumnsStreamed",
            "model": {"id": plot.source.id},
            "attr": "data",
            "data": {"type": "map", "entries": [[k, v[-40:]] for k, v in before.items()]},
            "rollover": 200,
        }
        shown.document.apply_json_patch({"events": [echo]}, setter="browser")
        after = {k: np.asarray(v).tolist() for k, v in plot.source.data.items()}
        assert after == before
        assert len({len(v) for v in plot.source.data.values()}) == 1
    ingest_all(hub, messages[7:9])
    dashboard.tick()  # the kernel's own stream goes through
    for plot in phone_plots(dashboard):
        assert list(plot.source.data["t"]) == times_ms(messages[:9], plot.sensor)


def test_the_device_picker_appears_with_a_second_device_and_switches_the_plots(hub):
    phone = motion_messages(3, start_ns=T0, device="phone-1")
    ingest_all(hub, phone)
    dashboard = Dashboard(hub, window=200)
    Shown(dashboard)
    assert not dashboard.picker.visible  # one device: nothing to pick
    assert dashboard.device == "phone-1"

    watch = motion_messages(5, start_ns=T0, device="watch-2", session="w")
    ingest_all(hub, watch)
    dashboard.tick()
    assert dashboard.picker.visible
    assert list(dashboard.picker.options) == ["phone-1", "watch-2"]
    assert dashboard.device == "phone-1"  # a new device does not take the plots over
    for plot in phone_plots(dashboard):
        assert list(plot.source.data["t"]) == times_ms(phone, plot.sensor)

    dashboard.picker.value = "watch-2"  # what choosing it in the browser does
    dashboard.tick()
    for plot in phone_plots(dashboard):
        assert list(plot.source.data["t"]) == times_ms(watch, plot.sensor)
    assert "phone-1" not in dashboard.status_html


def test_the_device_picker_shows_players_by_name(hub, tmp_path):
    """A device named once on the sessions page shows as its player on the live page too."""
    from hitting_coach.store.players import PlayerNames, set_player

    ingest_all(hub, motion_messages(2, start_ns=T0, device="0f3a-uuid"))
    ingest_all(hub, motion_messages(2, start_ns=T0, device="9c1e-uuid", session="w"))
    set_player(tmp_path, "0f3a-uuid", "Maya — belt phone")
    dashboard = Dashboard(hub, window=200, players=PlayerNames(tmp_path))
    Shown(dashboard)
    assert dashboard.picker.options == {"Maya — belt phone": "0f3a-uuid", "9c1e-uuid": "9c1e-uuid"}
    set_player(tmp_path, "9c1e-uuid", "Maya — belt phone")  # one player, two devices
    dashboard.tick()
    assert dashboard.picker.options == {
        "Maya — belt phone (0f3a-uuid)": "0f3a-uuid",
        "Maya — belt phone (9c1e-uuid)": "9c1e-uuid",
    }
    dashboard.picker.value = "9c1e-uuid"
    assert dashboard.device == "9c1e-uuid"


def test_the_status_line_says_what_arrived_and_what_was_refused(hub):
    dashboard = Dashboard(hub, window=200)
    shown = Shown(dashboard)
    assert "no message yet" in dashboard.status_html
    assert "0 rejected" in dashboard.status_html

    with pytest.raises(MessageError):
        hub.ingest(b'{"messageId": 1}')  # no deviceId: refused, no device's
    dashboard.tick()
    assert "no device yet" in dashboard.status_html  # the server's counters, with the reason
    assert "1 rejected, mostly missing" in dashboard.status_html
    ingest_all(hub, motion_messages(3, start_ns=T0))
    dashboard.tick()
    line = dashboard.status_html
    assert "no message yet" not in line
    assert re.search(r"last message \d+\.\d s ago", line)
    assert "0 rejected" in line  # the device's own: the refusal above named no device
    assert "accelerometer 100 Hz, gyroscope 100 Hz" in line
    assert any(getattr(e, "attr", None) == "text" for e in shown.sent)  # the browser is told


def test_the_status_line_is_the_device_shown_not_the_server(hub):
    """Issue 25 item 7: a silent watch is not "5.0 msg/s · last message 0.0 s ago" because the
    phone is busy; its refused messages are its own, with their main reason."""
    import orjson

    ingest_all(hub, motion_messages(2, start_ns=T0, device="watch-1", session="w"))
    bad = motion_messages(1, start_ns=T0 + 10**9, device="watch-1", session="w", first_id=50)[0]
    bad["payload"][0]["values"]["x"] = "fast"  # a number before: refused (changed type)
    with pytest.raises(MessageError):
        hub.ingest(orjson.dumps(bad))
    with pytest.raises(MessageError):
        hub.ingest(orjson.dumps({**bad, "messageId": 51}))
    status = hub.status()
    watch = status["device_status"]["watch-1"]
    assert watch["rejected"] == 2 and watch["rejected_by_reason"] == {"bad_reading": 2}
    # ... while the phone streams
    ingest_all(hub, motion_messages(30, start_ns=T0, device="phone-1", session="p"))
    time.sleep(1.05 - time.monotonic() % 1)  # the rates count whole seconds: let this one end
    dashboard = Dashboard(hub, window=200)
    Shown(dashboard)
    dashboard.device = "watch-1"
    dashboard.tick()
    watch_line = dashboard.status_html
    assert "2 rejected, mostly bad reading (last: " in watch_line
    assert "0.4 msg/s" in watch_line  # its 2 messages over the last 5 s, not the phone's
    assert re.search(r"last message \d+\.\d s ago", watch_line)
    dashboard.device = "phone-1"
    dashboard.tick()
    phone_line = dashboard.status_html
    assert "0 rejected" in phone_line and "bad reading" not in phone_line
    assert "6.0 msg/s" in phone_line
    assert hub.status()["rejected"] == 2  # status.json keeps the server's own count


def test_the_swing_panel_shows_the_newest_swing_and_the_list(hub):
    sim = simulate("pelvis+wrist", duration_s=20.0, rate_hz=100, seed=7)
    truth = sim.truth
    messages = sim.messages(device_id="phone-1", session_id="s")
    live = LiveSwings(hub)
    dashboard = Dashboard(hub, window=200, swings=live)
    Shown(dashboard)
    panel = dashboard.swing_panel
    assert "no swing yet" in panel.headline.object

    ingest_all(hub, messages)
    live.poll()
    dashboard.tick()
    headline = panel.headline.object
    assert f'<div class="v">#{len(truth)}</div>' in headline  # the newest swing
    shown = dict(re.findall(r'<div class="l">([^<]+)</div><div class="v">([^<]+)<span', headline))
    for label, column in (("Pelvis peak", "pelvis_peak_dps"), ("Hand peak", "hand_peak_dps")):
        if truth[column.replace("peak_dps", "clipped")].iloc[-1]:
            assert shown[label].startswith("≥")  # past the gyroscope's range: a lower bound
        else:
            assert float(shown[label]) == pytest.approx(truth[column].iloc[-1], rel=0.03)

    listed = "".join(listed_rows(panel))
    rows = re.findall(r"<tr[^>]*><td>(\d+)</td>(.*?)</tr>", listed)
    assert [int(n) for n, _ in rows] == list(range(len(truth), 0, -1))  # newest first
    for (_, cells), (_, swing) in zip(reversed(rows), truth.iterrows(), strict=True):
        time, placement, pelvis, hand, gap, bat, flags = re.findall(r"<td>([^<]*)</td>", cells)
        assert placement == "pelvis+wrist"
        for cell, segment in ((pelvis, "pelvis"), (hand, "hand")):
            if swing[f"{segment}_clipped"]:
                # the same lower bound as the headline and the phone card: ≥N, never "clipped"
                assert re.fullmatch(r"≥\d+", cell) and "gyro clipped" in flags
            else:
                assert float(cell) == pytest.approx(swing[f"{segment}_peak_dps"], rel=0.03)

    dashboard.tick()  # no new swing: the panel stays on the newest
    assert f'<div class="v">#{len(truth)}</div>' in panel.headline.object


def test_new_swings_reach_the_browser_as_text_not_as_a_new_layout(hub):
    """The list keeps its newest 12 swings in rows made once: a new swing changes their text
    and an empty row's style, never the page's models, classes or visibility (each of which
    makes the browser lay the page out again and delays the numbers)."""
    # a swing every 3 s: no time for a watch to turn back to its stance after the forearm's
    # roll-over (the simulated lead wrist's), so this test of the page has none
    sim = simulate(
        "pelvis+wrist", duration_s=60.0, swing_every_s=3.0, rate_hz=100, seed=7, wrist=None
    )
    messages = sim.messages(device_id="phone-1", session_id="s")
    live = LiveSwings(hub)
    dashboard = Dashboard(hub, window=200, swings=live)
    shown = Shown(dashboard)
    panel = dashboard.swing_panel
    rows = list(panel.list)
    (model, _), *_ = panel._layout._models.values()  # the panel's part of the page
    in_panel = model.references()
    layout = {"children", "css_classes", "visible", "label", "width", "height"}
    counts = []
    for start in range(0, len(messages), 25):
        shown.sent.clear()
        ingest_all(hub, messages[start : start + 25])
        live.poll()
        dashboard.tick()
        counts.append(live.count("phone-1"))
        # what lays the page out: a change to a layout model (a pane, a row, a widget)
        changed = {
            e.attr
            for e in shown.sent
            if getattr(e, "model", None) in in_panel and isinstance(e.model, LayoutDOM)
        }
        assert not changed & layout, changed
    assert counts[-1] > 12 and len(set(counts)) > 5  # swings came in many updates
    assert list(panel.list) == rows  # the same rows throughout
    listed = listed_rows(panel)
    numbers = [int(n) for n in re.findall(r"<tr[^>]*><td>(\d+)</td>", "".join(listed))]
    assert numbers == list(range(counts[-1], counts[-1] - 12, -1))  # the newest 12, newest first
    assert all('class="hc-swing-row"' in html for html in listed)


def test_a_window_in_seconds_keeps_the_newest_seconds_and_streams_only_new_points(hub):
    messages = motion_messages(70, start_ns=T0)  # 14 s at 100 Hz, 0.2 s per message
    ingest_all(hub, messages[:60])  # 12 s
    dashboard = Dashboard(hub, window_s=10.0)
    shown = Shown(dashboard)
    for plot in phone_plots(dashboard):  # the last 10 s of the 12 s held, not the last 200 points
        t = times_ms(messages[:60], plot.sensor)
        assert list(plot.source.data["t"]) == [x for x in t if x >= t[-1] - 10_000]
        assert len(plot.source.data["t"]) == 1001

    ingest_all(hub, messages[60:])
    dashboard.tick()
    streamed = shown.streamed()
    for plot in phone_plots(dashboard):
        event = streamed[f"{plot.sensor}-source"]
        t = times_ms(messages, plot.sensor)
        assert list(event.data["t"]) == times_ms(messages[60:], plot.sensor)  # nothing old
        kept = [x for x in t if x >= t[-1] - 10_000]
        assert event.rollover == len(kept)
        assert list(plot.source.data["t"]) == kept


def test_the_gyroscope_is_shown_in_degrees_per_second_like_the_swing_numbers(hub):
    messages = motion_messages(2, start_ns=T0)
    ingest_all(hub, messages)
    dashboard = Dashboard(hub)
    Shown(dashboard)
    gyro = next(p for p in dashboard.plots if p.sensor == "gyroscope")
    assert "°/s" in gyro.figure.yaxis[0].axis_label
    readings = sorted(
        (r for m in messages for r in m["payload"] if r["name"] == "gyroscope"),
        key=lambda r: r["time"],
    )
    for axis in "xyz":
        assert list(gyro.source.data[axis]) == pytest.approx(
            [r["values"][axis] * 180 / math.pi for r in readings]
        )


def test_swings_are_shaded_on_the_plots_and_the_last_ones_sequence_is_drawn(hub):
    sim = simulate("pelvis+wrist", duration_s=20.0, rate_hz=100, seed=7)
    truth = sim.truth
    live = LiveSwings(hub)
    dashboard = Dashboard(hub, window_s=10.0, swings=live)
    Shown(dashboard)
    assert dashboard.sequence.figure.title.text == "Last swing: no swing yet"
    assert not dashboard.sequence.figure.visible  # no empty box before the first swing
    ingest_all(hub, sim.messages(device_id="phone-1", session_id="s"))
    live.poll()
    dashboard.tick()

    rows = live.rows("phone-1")
    assert len(rows) == len(truth)
    for plot in phone_plots(dashboard):
        oldest = min(plot.source.data["t"])
        in_view = [
            (r["start_ns"] / 1e6, r["end_ns"] / 1e6) for r in rows if r["end_ns"] / 1e6 >= oldest
        ]
        shaded = [(b.left, b.right) for b in plot.marks if b.visible]
        assert in_view and shaded == in_view  # every swing in view, and only those
        assert len(in_view) < len(rows)  # the early swings have scrolled out of the 10 s

    last, newest = rows[-1], truth.iloc[-1]
    sequence = dashboard.sequence
    assert sequence.figure.title.text.startswith(f"Swing #{len(truth)}: ")
    assert sequence.figure.visible
    for segment in ("pelvis", "hand"):
        data = sequence.sources[segment].data
        assert len(data["t"]) > 50  # the whole swing at 100 Hz
        assert min(data["t"]) < 0 < (last["end_ns"] - last["start_ns"]) / 1e6 < max(data["t"])
        peak = sequence.peaks[segment]
        assert peak.visible
        assert peak.location == pytest.approx((last[f"{segment}_peak_ns"] - last["start_ns"]) / 1e6)
        if newest[f"{segment}_clipped"]:
            continue
        if segment == "pelvis":
            assert max(data["w"]) == pytest.approx(newest["pelvis_peak_dps"], rel=0.05)
        else:  # the watch's largest reading is the forearm's roll-over, after the hand peak
            assert max(data["w"]) > 1.03 * newest["hand_peak_dps"]
            at = np.argmin(np.abs(data["t"] - peak.location))
            assert data["w"][at] == pytest.approx(newest["hand_peak_dps"], rel=0.05)
    assert sequence.peaks["pelvis"].location < sequence.peaks["hand"].location  # in sequence
    assert not sequence.sources["bat"].data["t"].size
    assert [item.visible for item in sequence.figure.legend.items] == [True, True, False]


def test_start_take_is_disabled_while_a_take_runs_and_stop_while_none_does(tmp_path):
    from hitting_coach.store.recorder import Recorder
    from hitting_coach.ui.takes_panel import TakesPanel

    recorder = Recorder(tmp_path)
    hub = Hub(sink=recorder)
    recorder.open()
    try:
        ingest_all(hub, motion_messages(1, start_ns=T0))
        panel = TakesPanel(recorder, hub)

        def buttons() -> tuple[bool, bool]:
            return panel.start_button.disabled, panel.stop_button.disabled

        assert buttons() == (False, True)
        panel.start_button.clicks += 1  # a tap on Start
        assert "Recording take" in panel.state.object
        assert buttons() == (True, False)  # a second Start cannot be tapped mid-take
        panel.refresh()  # the periodic callback keeps it so
        assert buttons() == (True, False)
        panel.stop_button.clicks += 1
        assert buttons() == (False, True)
        panel.stop()
    finally:
        recorder.close()
