"""The sessions page served at /sensor/sessions (``hitting-coach serve``): recorded sessions,
their reports and exports, players."""

import panel as pn

from hitting_coach.runtime import served_runtime
from hitting_coach.ui.sessions_page import SessionsPage

runtime = served_runtime()
pn.extension(sizing_mode="stretch_width")


def recording(device: str, session: str) -> bool:
    return runtime.recorder.device_clock(device)[1] == session


runtime.reports.prepare()  # someone may ask for a report: have a kernel ready for it
SessionsPage(
    runtime.settings.data_path,
    recording=recording,
    start_report=runtime.reports.start,
    report_status=runtime.reports.status,
).servable(title="Hitting Coach · sessions")
pn.state.curdoc.template = (
    "{% block postamble %}"
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "{% endblock %}"
)
