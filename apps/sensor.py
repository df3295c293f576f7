"""The live dashboard served at /sensor/ (``hitting-coach serve``)."""

import panel as pn

from hitting_coach.plots import Dashboard
from hitting_coach.runtime import get_runtime

runtime = get_runtime()
settings = runtime.settings

pn.extension(sizing_mode="stretch_width")
pn.Column(
    pn.pane.Markdown("## Hitting Coach · live sensors"),
    Dashboard(
        runtime.hub,
        status=runtime.status,
        window=settings.window_points,
        period_ms=settings.update_ms,
    ),
    sizing_mode="stretch_width",
).servable(title="Hitting Coach")
