"""Every error Hitting Coach raises on purpose.

    HittingCoachError
     ├── ConfigError        a setting has a bad value (names the setting and what is allowed)
     ├── StartupError       the server cannot start (data dir unwritable, port taken, ...)
     ├── MessageError       a pushed message is malformed; rejected whole, nothing kept
     │    └── TooLarge      the message is over the size limit
     ├── Busy               a well-formed message the server has no room for now (retry later)
     ├── RecordingError     the journal or a session file could not be written
     ├── SessionError       a session, take or export cannot be found or read
     │    └── ExportsBusy   as many exports as allowed are being made now (retry later: 503)
     ├── ReplayError        a replay target cannot be reached, refuses us, or rejects a message
     └── ReportError        a report could not be produced (a cell failed, output unwritable)

The CLI prints one line for any of these and exits 1; the HTTP handler answers
``{"error": ...}`` with the message (400 for a MessageError, 413 for TooLarge, 503 with
``Retry-After`` for Busy: the sender did nothing wrong and should send it again later).
"""

from __future__ import annotations

__all__ = [
    "Busy",
    "ConfigError",
    "ExportsBusy",
    "HittingCoachError",
    "MessageError",
    "RecordingError",
    "ReplayError",
    "ReportError",
    "SessionError",
    "StartupError",
    "TooLarge",
]


class HittingCoachError(Exception):
    """Base class of every error we raise on purpose."""


class ConfigError(HittingCoachError):
    """A setting has a value we cannot use."""


class StartupError(HittingCoachError):
    """The server cannot start as configured."""


class MessageError(HittingCoachError):
    """A message is malformed.

    ``reason`` is a short, stable label used for counters (``not_json``, ``bad_field``, ...);
    ``field`` is the path of the offending field, e.g. ``payload[3].values.x``.
    """

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}" if field else detail)


class TooLarge(MessageError):
    """A message is over the size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__("too_large", f"message of {size} bytes is over the limit of {limit}")


class Busy(HittingCoachError):
    """A well-formed message the server cannot take now (e.g. too many live devices): not the
    sender's fault, so not a :class:`MessageError`; it should be sent again later.

    ``reason`` and ``field`` as for :class:`MessageError` (the refusal is counted by reason).
    """

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}" if field else detail)


class RecordingError(HittingCoachError):
    """Recording to disk failed."""


class SessionError(HittingCoachError):
    """A recorded session or take cannot be found or read."""


class ExportsBusy(SessionError):
    """As many exports as ``HITTING_COACH_MAX_EXPORTS`` allows are being made right now; the
    web handler answers 503 (try again when one is done)."""


class ReplayError(HittingCoachError):
    """The replay target cannot be reached, refuses us, or rejects a message."""


class ReportError(HittingCoachError):
    """The report could not be produced (a notebook cell failed, the output is unwritable)."""
