"""The live plots' feed in this process: one read and one encoded frame per device and tick for
every page, what each page is sent (decoded as the browser does), and its WebSocket."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
import tornado.websocket

from hitting_coach.config import Settings
from hitting_coach.ingest.hub import Hub
from hitting_coach.web.live import (
    LIVE_SENSORS,
    Chunk,
    LiveFeed,
    LiveSocket,
    decode_frame,
    encode_frame,
)
from support import free_port, ingest_all, motion_messages, times_ms

T0 = 1_700_000_000_000_000_000


class Page:
    """A page's socket as the feed sees it: every frame it was sent, decoded."""

    def __init__(self, done: bool = True) -> None:
        self.raw: list[bytes] = []
        self.closed: tuple[int | None, str | None] | None = None
        self.done = done
        self.futures: list[Future] = []

    def write_message(self, message: bytes, binary: bool = False) -> Future:
        assert binary
        self.raw.append(message)
        future: Future = Future()
        if self.done:
            future.set_result(None)
        self.futures.append(future)
        return future

    def close(self, code=None, reason=None) -> None:
        self.closed = (code, reason)

    @property
    def frames(self) -> list[dict]:
        return [decode_frame(f) for f in self.raw]

    def shown(self, sensor: str) -> list[float]:
        """The times a browser would hold after applying every frame (no window cut)."""
        times: list[float] = []
        for frame in self.frames:
            if frame["reset"]:
                times = []
            times += frame["sensors"][sensor]["t_ms"].tolist()
        return times


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def feed(hub) -> LiveFeed:
    return LiveFeed(hub, LIVE_SENSORS, period_ms=500)


def test_a_frame_keeps_times_to_the_microsecond_and_values_as_float32():
    t = np.array([T0, T0 + 1_234_567, T0 + 9_999_999_999], np.int64)
    values = np.array([[1.5, -2.25, 3.0], [0.1, 0.2, 0.3], [np.nan, 7.0, -8.0]], np.float32)
    frame = decode_frame(encode_frame("phone-1", [Chunk("gyroscope", t, values)], reset=True))
    got = frame["sensors"]["gyroscope"]
    assert frame["device"] == "phone-1" and frame["reset"] is True
    assert np.abs(got["t_ms"] - t / 1e6).max() < 1e-3  # within a microsecond
    assert got["x"].tolist() == [1.5, -2.25, 3.0] and math.isnan(got["z"][0])
    # an hour between the first and last reading: times go as float64 ms instead
    late = np.array([T0, T0 + 3_600 * 10**9], np.int64)
    frame = decode_frame(encode_frame("p", [Chunk("a", late, np.zeros((3, 2), np.float32))]))
    assert frame["sensors"]["a"]["t_ms"].tolist() == (late / 1e6).tolist()
    # 2 sensors x 100 readings: 16 bytes a reading plus a short header
    t100 = np.arange(100, dtype=np.int64) + T0
    chunks = [Chunk(sensor, t100, np.zeros((3, 100))) for sensor in ("a", "b")]
    assert len(encode_frame("phone-1", chunks)) < 2 * 100 * 16 + 200


def test_every_page_gets_the_same_frame_read_once_and_a_late_page_misses_nothing(hub, feed):
    messages = motion_messages(20, start_ns=T0)
    ingest_all(hub, messages[:5])
    first, second, late = Page(), Page(), Page()
    subs = [feed.subscribe(window_s=3600.0) for _ in range(3)]
    for sub in subs:
        feed.follow(sub.token, "phone-1")
    assert feed.attach(subs[0].token, first) and feed.attach(subs[1].token, second)
    ingest_all(hub, messages[5:8])
    feed.tick()
    ingest_all(hub, messages[8:12])
    assert feed.attach(subs[2].token, late)  # joins between ticks
    feed.tick()
    ingest_all(hub, messages[12:])
    feed.tick()
    for page in (first, second, late):
        assert page.frames[0]["reset"] and not any(f["reset"] for f in page.frames[1:])
        for sensor in LIVE_SENSORS:  # everything so far, each reading once, in order
            assert page.shown(sensor) == pytest.approx(times_ms(messages, sensor), abs=1e-3)
    # the pages that were there from the start were sent the very same bytes each tick
    assert first.raw[1:] == second.raw[1:] and len(first.raw) == 4
    assert late.raw[-1] == first.raw[-1]


def test_values_are_scaled_like_the_plots_and_a_new_device_starts_with_its_window(hub, feed):
    phone = motion_messages(10, start_ns=T0, device="phone-1")
    watch = motion_messages(10, start_ns=T0, device="watch-1")
    ingest_all(hub, phone + watch)
    page = Page()
    sub = feed.subscribe(window_s=1.0)  # 1 s of readings (the newest minus one second)
    feed.follow(sub.token, "phone-1")
    feed.attach(sub.token, page)
    frame = page.frames[-1]
    gyro = frame["sensors"]["gyroscope"]
    kept = [t for t in times_ms(phone, "gyroscope") if t >= times_ms(phone, "gyroscope")[-1] - 1e3]
    assert gyro["t_ms"].tolist() == pytest.approx(kept, abs=1e-3)
    readings = sorted(
        (r for m in phone for r in m["payload"] if r["name"] == "gyroscope"),
        key=lambda r: r["time"],
    )
    assert gyro["x"][-1] == pytest.approx(readings[-1]["values"]["x"] * 180 / math.pi, rel=1e-6)
    feed.follow(sub.token, "watch-1")
    feed.tick()
    assert page.frames[-1]["reset"] and page.frames[-1]["device"] == "watch-1"


def test_a_page_that_cannot_keep_up_is_skipped_then_sent_its_window_afresh(hub, feed):
    messages = motion_messages(30, start_ns=T0)
    ingest_all(hub, messages[:2])
    slow = Page(done=False)  # its writes never finish (a stalled browser)
    sub = feed.subscribe(window_s=3600.0)
    feed.follow(sub.token, "phone-1")
    feed.attach(sub.token, slow)
    for k in range(2, 12):
        ingest_all(hub, messages[k : k + 1])
        feed.tick()
    assert len(slow.raw) == 4 and feed.counters["skipped"] > 0  # bounded: no pile-up
    assert feed.status()["pages"] == 1 and feed.status()["skipped"] == feed.counters["skipped"]
    for future in slow.futures:
        future.set_result(None)
    ingest_all(hub, messages[12:])
    feed.tick()
    assert slow.frames[-1]["reset"]  # caught up: the window again, then new points
    assert slow.shown("accelerometer") == pytest.approx(
        times_ms(messages, "accelerometer"), abs=1e-3
    )


def test_an_unknown_token_is_refused_and_an_ended_session_closes_its_page(hub, feed):
    assert not feed.attach("guessed", Page())
    assert feed.counters["refused"] == 1
    page = Page()
    sub = feed.subscribe(window_s=10.0)
    feed.attach(sub.token, page)
    feed.drop(sub.token)
    assert page.closed is not None and page.closed[0] == 4404
    assert not feed.attach(sub.token, Page())


def test_a_swing_reaches_the_pages_following_its_device_at_once(hub):
    revision = {"phone-1": 0}
    feed = LiveFeed(hub, LIVE_SENSORS, swing_revision=revision.__getitem__)
    heard = []
    sub = feed.subscribe(window_s=10.0)
    sub.on_swings = lambda: heard.append(sub.token)
    feed.follow(sub.token, "phone-1")
    feed.tick()
    assert heard == []
    revision["phone-1"] = 1
    feed._swings_now("phone-1")  # what swings_changed schedules on the server's loop
    assert heard == [sub.token]
    feed.tick()
    assert heard == [sub.token]  # once per change


def test_the_websocket_sends_frames_and_refuses_what_it_should(hub, feed):
    """A real tornado server and WebSocket client in this process."""

    async def main() -> None:
        settings = Settings.load(environ={}, env_file=None)
        served = SimpleNamespace(
            feed=feed, settings=settings.replace(allowed_hosts="coach.example.com")
        )
        app = tornado.web.Application([(r"/live\.ws", LiveSocket, {"app": served})])
        port = free_port()
        server = tornado.httpserver.HTTPServer(app)
        server.listen(port, "127.0.0.1")
        url = f"ws://127.0.0.1:{port}/live.ws"
        try:
            ingest_all(hub, motion_messages(5, start_ns=T0))
            sub = feed.subscribe(window_s=3600.0)
            feed.follow(sub.token, "phone-1")
            ws = await tornado.websocket.websocket_connect(f"{url}?token={sub.token}")
            window = decode_frame(await ws.read_message())
            assert window["reset"] and len(window["sensors"]["accelerometer"]["t_ms"]) == 100
            ingest_all(hub, motion_messages(1, start_ns=T0 + 10**9, first_id=5))
            feed.tick()
            assert len(decode_frame(await ws.read_message())["sensors"]["gyroscope"]["t_ms"]) == 20
            await ws.write_message("hello")  # the page has nothing to say: closed
            assert await ws.read_message() is None and ws.close_code == 1003
            ws.close()
            stranger = await tornado.websocket.websocket_connect(f"{url}?token=nope")
            assert await stranger.read_message() is None and stranger.close_code == 4404
            stranger.close()
            # a page of another site opening the socket (its browser sends its Origin): 403
            handshake = {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                "Origin": "https://evil.example",
            }
            client = tornado.httpclient.AsyncHTTPClient()
            response = await client.fetch(
                f"http://127.0.0.1:{port}/live.ws?token={sub.token}",
                headers=handshake,
                raise_error=False,
            )
            assert response.code == 403
            # the public host behind nginx (HITTING_COACH_ALLOWED_HOSTS) may connect
            proxied = await tornado.websocket.websocket_connect(
                tornado.httpclient.HTTPRequest(
                    f"{url}?token={sub.token}", headers={"Origin": "https://coach.example.com"}
                )
            )
            assert decode_frame(await proxied.read_message())["reset"]
            proxied.close()
            client.close()
        finally:
            feed.stop()
            server.stop()
            await server.close_all_connections()

    # its own thread: Playwright's sync API (the session's Chromium) may hold this one's loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


def test_the_status_line_goes_with_the_frames_once_a_second_even_when_the_phone_stops(hub):
    said = []

    def status(device: str) -> str:
        said.append(device)
        return f"{len(said)} · {device}"

    feed = LiveFeed(hub, LIVE_SENSORS, status=status, status_every_s=0.0)
    ingest_all(hub, motion_messages(2, start_ns=T0))
    pages = [Page(), Page()]
    for page in pages:
        sub = feed.subscribe(window_s=10.0)
        feed.follow(sub.token, "phone-1")
        feed.attach(sub.token, page)
    assert pages[0].frames[0]["status"].endswith("phone-1")  # the window comes with it
    said.clear()
    feed.tick()  # no new reading: a frame with the status line alone
    assert said == ["phone-1"]  # computed once for both pages
    for page in pages:
        last = page.frames[-1]
        assert last["status"] == "1 · phone-1"
        assert all(len(s["t_ms"]) == 0 for s in last["sensors"].values())
    slow = LiveFeed(hub, LIVE_SENSORS, status=status, status_every_s=3600.0)
    page = Page()
    sub = slow.subscribe(window_s=10.0)
    slow.follow(sub.token, "phone-1")
    slow.attach(sub.token, page)
    slow.tick()
    assert len(page.raw) == 1  # nothing new, status not due: nothing sent
