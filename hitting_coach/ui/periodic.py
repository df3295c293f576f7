"""Periodic callbacks for the served pages' components."""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
from panel.io.state import set_curdoc

__all__ = ["every"]


def every(callback: Callable[[], None], period_ms: int) -> Callable[[], None]:
    """Call ``callback`` every ``period_ms``; returns the function that stops it.

    In a server session this is a plain Bokeh periodic callback on the session's document:
    Panel's own (``pn.state.add_periodic_callback``) also books every run as a busy event in
    the process-wide ``pn.state``, which with many tabs cost more than the tick itself."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return pn.state.add_periodic_callback(callback, period=period_ms).stop

    def run() -> None:
        with set_curdoc(doc):
            callback()

    handle = doc.add_periodic_callback(run, period_ms)

    def stop() -> None:
        if handle in doc.session_callbacks:
            doc.remove_periodic_callback(handle)

    return stop
