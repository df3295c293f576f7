"""The live plots' window: which readings a live plot shows, defined once.

A plot shows the newest ``seconds`` of readings, or, when ``points`` is set, the last
``points`` readings (the points setting wins). Three places apply it, all from this one
definition: a notebook's plot (:class:`hitting_coach.ui.dashboard.LivePlot`), the server's
feed when it sends a page its window (:class:`hitting_coach.web.live.LiveFeed`), and the
browser's half of a served page (``hitting_coach/ui/live_plot.js``, given :meth:`LiveWindow.js_args`
and checked against :meth:`LiveWindow.kept` by ``tests/test_live_plot_js.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BACKLOG_READINGS", "LiveWindow"]

#: Readings a seconds-window plot is given when it starts (more than any window holds).
BACKLOG_READINGS = 60_000


@dataclass(frozen=True)
class LiveWindow:
    """``seconds`` of the newest readings, or the last ``points`` readings when set."""

    seconds: float = 10.0
    points: int | None = None

    def __post_init__(self) -> None:
        if not self.points:  # 0 and None: a window in seconds
            object.__setattr__(self, "points", None)

    @property
    def backlog(self) -> int:
        """Readings to start a plot with: the window's points, or :data:`BACKLOG_READINGS`."""
        return self.points or BACKLOG_READINGS

    def cutoff_ms(self, newest_ms: float) -> float:
        """In a seconds window, the oldest time (ms) still shown when ``newest_ms`` is newest."""
        return newest_ms - self.seconds * 1000.0

    def kept(self, t_ms: np.ndarray) -> np.ndarray:
        """Which of ``t_ms`` (a plot's times, in order of arrival) the plot shows: a mask."""
        keep = np.zeros(len(t_ms), bool)
        if not len(t_ms):
            return keep
        if self.points is not None:
            keep[-self.points :] = True
            return keep
        return np.asarray(t_ms) >= self.cutoff_ms(float(np.max(t_ms)))

    def js_args(self) -> dict[str, Any]:
        """The window as ``live_plot.js`` takes it (``window_points`` 0: a seconds window)."""
        return {"window_s": self.seconds, "window_points": self.points or 0}
