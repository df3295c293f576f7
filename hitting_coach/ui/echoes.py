"""A data source the kernel streams into takes no stream sent back by a browser.

In a notebook, Panel's comm sends every chunk the kernel streamed to the browser back to the
kernel (its ``CommManager`` ignores Bokeh's ``sync`` flag). Applied, each chunk sat twice in
the kernel's copy, out of time order. Worse, with JupyterLab 4.4+ and ipykernel 7 the comm's
messages may be handled on a kernel subshell's thread (JupyterLab's ``commsOverSubshells``
setting, jupyterlab/jupyterlab#19719) while the kernel's own periodic callback streams on the
main thread: Bokeh appends column by column, so the two interleaved and left the source with
columns of different lengths ("ColumnDataSource's columns must be of the same length", on the
notebook's stderr). A browser never streams a live plot's data of its own, so a stream with a
setter (the comm that sent it) is dropped; the kernel's own streams (no setter) go through.
"""

from __future__ import annotations

from typing import Any

from bokeh.models import ColumnDataSource

__all__ = ["drop_browser_streams"]


def drop_browser_streams(source: ColumnDataSource) -> ColumnDataSource:
    """Make ``source`` ignore streams that come from a browser (see the module docstring);
    returns it. Calling it again does nothing."""
    if getattr(source, "_hc_drops_browser_streams", False):
        return source
    own = source._stream

    def stream(new_data: Any, rollover: int | None = None, setter: Any = None) -> None:
        if setter is None:
            own(new_data, rollover, setter)

    source._stream = stream
    source._hc_drops_browser_streams = True
    return source
