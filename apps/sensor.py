"""The live dashboard served at /sensor/ (``hitting-coach serve``).

On a phone (narrow screen) the page opens with the phone card (the last swing, large); tablets
and desktops get the full dashboard, the card hidden."""

import panel as pn

from hitting_coach.runtime import served_runtime
from hitting_coach.store.players import PlayerNames
from hitting_coach.ui.clip_view import ClipView
from hitting_coach.ui.dashboard import Dashboard
from hitting_coach.ui.shell import SHELL_CSS, header
from hitting_coach.ui.swing_panel import SHRINKS
from hitting_coach.ui.takes_panel import TakesPanel
from hitting_coach.web.login import FAVICON

runtime = served_runtime()
settings = runtime.settings

pn.extension(sizing_mode="stretch_width")
dashboard = Dashboard(
    runtime.hub,
    status=runtime.status,
    window=settings.window_points or None,  # the points window, when set, wins
    window_s=settings.window_s,
    period_ms=settings.update_ms,
    swings=runtime.marked_swings,
    players=PlayerNames(settings.data_path),
    feed=runtime.feed,  # the plots are streamed to the browser by the server's one feed
)
# Two roots: what changes size as swings come (the swing list, the status line) is laid out
# again on its own, without the plots (the browser's layout pass is per root).
pn.Column(
    pn.pane.HTML(header("live"), stylesheets=[SHELL_CSS], sizing_mode="stretch_width"),
    *([dashboard.phone_card] if dashboard.phone_card is not None else []),
    TakesPanel(runtime.recorder, runtime.hub, device=dashboard.param.device),
    dashboard.controls,
    ClipView(runtime.marked_swings.rows, settings.data_path, device=dashboard.param.device),
    sizing_mode="stretch_width",
    stylesheets=[SHRINKS],
).servable(title="Hitting Coach")
dashboard.charts.servable()
# Panel's page asks for ./favicon.ico, which is not served under /sensor/: use its local copy.
pn.state.curdoc.template_variables["app_favicon"] = FAVICON
# Panel's page has no viewport tag: without it a phone lays the page out 980 px wide, shrunk.
pn.state.curdoc.template = (
    "{% block postamble %}"
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "{% endblock %}"
)
