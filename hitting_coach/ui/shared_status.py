"""What every dashboard tab shows alike (the device list and the status), computed at most
once per ``max_age_s`` for all the server's sessions rather than once per session and tick:
with 20 tabs open, the hub's lock is taken for ``status()`` a few times a second, not 40."""

from __future__ import annotations

import html
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from hitting_coach.ingest.hub import Hub
from hitting_coach.values import plural

__all__ = ["SharedStatus", "shared_status", "status_text"]

#: How stale a shared status may be: the status line says ages to 0.1 s and refreshes each second.
MAX_AGE_S = 0.25


class SharedStatus:
    """``hub.devices()`` and ``status()`` cached for ``max_age_s`` seconds."""

    def __init__(
        self, hub: Hub, status: Callable[[], dict[str, Any]], max_age_s: float = MAX_AGE_S
    ) -> None:
        self.hub = hub
        self.status_fn = status
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._devices: tuple[float, list[str]] | None = None
        self._status: tuple[float, dict[str, Any]] | None = None

    def devices(self, fresh: bool = False) -> list[str]:
        """The hub's live devices (a fresh copy when ``fresh``); callers must not mutate it."""
        with self._lock:
            now = time.monotonic()
            if fresh or self._devices is None or now - self._devices[0] > self.max_age_s:
                self._devices = (now, self.hub.devices())
            return self._devices[1]

    def status(self, fresh: bool = False) -> dict[str, Any]:
        """The status dict (a fresh one when ``fresh``); callers must not mutate it."""
        with self._lock:
            now = time.monotonic()
            if fresh or self._status is None or now - self._status[0] > self.max_age_s:
                self._status = (now, self.status_fn())
            return self._status[1]


_shared: weakref.WeakKeyDictionary[Hub, SharedStatus] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_status(hub: Hub, status: Callable[[], dict[str, Any]]) -> SharedStatus:
    """The one :class:`SharedStatus` of ``hub`` with this ``status`` function (bound methods of
    the same object compare equal); a different function gets its own, unshared."""
    with _shared_lock:
        shared = _shared.get(hub)
        if shared is None or shared.status_fn != status:
            shared = SharedStatus(hub, status)
            if hub not in _shared:
                _shared[hub] = shared
        return shared


#: Swings listed but not counted, as the status line names them.
_NOT_COUNTED = (("practice", "practice"), ("arms_only", "arms only"), ("checked", "checked"))


def _rejected(count: int, by_reason: dict[str, int], last: str | None) -> str:
    """``3 rejected, mostly changed type`` (the most frequent reason in words)."""
    if not count or not by_reason:
        return f"{count} rejected"
    top = max(by_reason.items(), key=lambda kv: kv[1])[0].replace("_", " ")
    return f"{count} rejected, mostly {top}" + (f" (last: {last[:120]})" if last else "")


def _server(status: dict[str, Any]) -> list[str]:
    """The server's counters: its message rate, last message, refusals and their top reason."""
    age = status["last_message_age_s"]
    return [
        f"{status['messages_per_s']:.1f} msg/s",
        "no message yet" if age is None else f"last message {age:.1f} s ago",
        _rejected(
            status["rejected"], status.get("rejected_by_reason", {}), status.get("last_rejection")
        ),
    ]


def status_text(status: dict[str, Any], device: str | None) -> str:
    """The one-line status of the device shown: its message rate, last message age, its
    refused messages with the main reason, the sources, a recording failure, what its swing
    detection did not count, per reason, and its sensors' rates. With no device live yet, the
    server's counters (a phone whose every message is refused, e.g. for its token, is no
    device: its refusals are counted here). The server's own status is status.json's."""
    mine = status.get("device_status", {}).get(device or "")
    if mine is None:
        parts = ["no device yet" if device is None else f"{device}: silent", *_server(status)]
    else:
        parts = [
            f"{mine['messages_per_s']:.1f} msg/s",
            f"last message {mine['last_message_age_s']:.1f} s ago",
            _rejected(mine["rejected"], mine["rejected_by_reason"], mine["last_rejection"]),
        ]
    for name, state in sorted(status.get("sources", {}).items()):
        late = f" ({state['late']})" if state.get("late") else ""  # a cage's queue arriving
        parts.append(f"{name.upper()}: {state.get('state', '?')}{late}")
    recording = status["recording"]
    if recording["enabled"] and not recording["ok"]:
        parts.append(f"recording FAILED: {recording['error']}")
    swings = status.get("swings", {}).get("devices", {}).get(device or "", {})
    not_counted = [f"{swings[key]} {label}" for key, label in _NOT_COUNTED if swings.get(key)] + [
        f"{n} {reason}" for reason, n in sorted(swings.get("discarded", {}).items())
    ]
    if not_counted:
        parts.append("not counted: " + ", ".join(not_counted))
    if device:
        rates = status["devices"].get(device, {})
        shown = [f"{s} {r['rate_hz']:.0f} Hz" for s, r in rates.items() if r.get("rate_hz")]
        if shown:
            parts.append(", ".join(shown[:4]))
    return " · ".join(html.escape(p) for p in parts)


def server_status_text(status: dict[str, Any]) -> str:
    """The server's own one-line status (escaped HTML, for the sessions page's footer): every
    device's messages together, what it refused and why, its sources, the recording, and where
    the whole status is (``status.json``)."""
    parts = [
        f"Server {status.get('version', '')}".strip(),
        plural(len(status.get("device_status", {})), "live device"),
        *_server(status),
    ]
    for name, state in sorted(status.get("sources", {}).items()):
        parts.append(f"{name.upper()}: {state.get('state', '?')}")
    recording = status["recording"]
    if recording["enabled"]:
        parts.append(
            "recording ok" if recording["ok"] else f"recording FAILED: {recording['error']}"
        )
    text = " · ".join(html.escape(p) for p in parts)
    return f'{text} · <a href="status.json">status.json</a>'
