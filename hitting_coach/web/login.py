"""The dashboard login (``--basic-auth``), with wrong passwords throttled per address.

Panel's basic login page checks a password on every POST, as fast as a client can send them.
:class:`ThrottledLoginHandler` counts wrong passwords per client address: after
``MAX_FAILURES`` within ``WINDOW_S`` seconds, that address gets 429 (with ``Retry-After``)
until the oldest failure is out of the window, right password or not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque

from panel.auth import BasicLoginHandler

from hitting_coach.compat import login_handler_of, login_is_valid

__all__ = ["FAVICON", "ThrottledLoginHandler", "throttle"]

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_S = 300.0
_MAX_ADDRESSES = 10_000  # addresses remembered; the oldest are forgotten first


class _Failures:
    """Recent wrong-password times per client address (bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, address: str, now: float) -> float:
        """Seconds ``address`` must wait before it may try again (0: it may try now)."""
        with self._lock:
            times = self._by_address.get(address)
            if times is None:
                return 0.0
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if not times:
                del self._by_address[address]
                return 0.0
            return times[0] + WINDOW_S - now if len(times) >= MAX_FAILURES else 0.0

    def add(self, address: str, now: float) -> None:
        with self._lock:
            times = self._by_address.setdefault(address, deque(maxlen=MAX_FAILURES))
            times.append(now)
            self._by_address.move_to_end(address)
            while len(self._by_address) > _MAX_ADDRESSES:
                self._by_address.popitem(last=False)

    def forget(self, address: str) -> None:
        with self._lock:
            self._by_address.pop(address, None)


class ThrottledLoginHandler(BasicLoginHandler):
    """Panel's login page, refusing an address that keeps sending wrong passwords."""

    failures = _Failures()

    def post(self) -> None:
        address = self.request.remote_ip or "?"
        now = time.monotonic()
        wait = self.failures.wait_s(address, now)
        if wait > 0:
            self.set_status(429)
            self.set_header("Retry-After", str(int(wait) + 1))
            self.finish(f"Too many wrong passwords from {address}; try again in {int(wait) + 1} s.")
            return
        username = self.get_argument("username", "")
        password = self.get_argument("password", "")
        if login_is_valid(self, username, password):
            self.failures.forget(address)
        else:
            self.failures.add(address, now)
            if self.failures.wait_s(address, now) > 0:
                log.warning(
                    "%d wrong passwords from %s: it must wait %d s", MAX_FAILURES, address, WINDOW_S
                )
        super().post()


#: Where the login page (``/sensor/login``) finds the favicon Panel ships: this server, not a CDN.
FAVICON = "static/extensions/panel/images/favicon.ico"


def throttle(provider: object) -> object:
    """Panel builds its basic auth provider itself (``--basic-auth``); give the same object
    :class:`ThrottledLoginHandler` as its login page, Panel's page made offline. Any other
    provider (OAuth) is returned unchanged."""
    return login_handler_of(provider, ThrottledLoginHandler, FAVICON)
