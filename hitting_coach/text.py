"""Showing strings that came from outside (device, session and sensor ids, names, file names)
on a terminal or in a log: control characters escaped, so an id can neither forge a line nor
send a terminal escape sequence.

HTML escaping is the UI's business (``html.escape`` where a pane renders HTML); this module
is for plain text.
"""

from __future__ import annotations

import logging

__all__ = ["SafeFormatter", "printable"]


def _escape(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` with every non-printable character (control characters, line and paragraph
    separators, direction overrides, non-space blanks) written as a ``\\xNN`` / ``\\uNNNN``
    escape, like ``repr`` but without quotes; printable text is unchanged."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


class SafeFormatter(logging.Formatter):
    """A log formatter that escapes control characters in the message, so each event stays
    one line whatever ids it names. A traceback keeps its own lines; each is escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]
        text = super().formatException(ei)
        return "\n".join(printable(line) for line in text.split("\n"))
