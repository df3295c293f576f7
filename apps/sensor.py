"""The live dashboard served at /sensor/ (``hitting-coach serve``)."""

import panel as pn

from hitting_coach.runtime import get_runtime
from hitting_coach.ui.dashboard import Dashboard
from hitting_coach.ui.takes_panel import TakesPanel

runtime = get_runtime()
settings = runtime.settings

pn.extension(sizing_mode="stretch_width")
dashboard = Dashboard(
    runtime.hub,
    status=runtime.status,
    window=settings.window_points,
    period_ms=settings.update_ms,
    swings=runtime.marked_swings,
)
pn.Column(
    pn.pane.Markdown("## Hitting Coach · live sensors"),
    TakesPanel(runtime.recorder, runtime.hub, device=dashboard.param.device),
    dashboard,
    sizing_mode="stretch_width",
).servable(title="Hitting Coach")
