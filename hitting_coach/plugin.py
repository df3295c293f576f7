"""``panel serve --plugins hitting_coach.plugin``: POST /data, status.json and metrics, and
the files the sessions page links to (reports, exports), and the live plots' WebSocket."""

from hitting_coach.ingest.handlers import routes
from hitting_coach.runtime import get_runtime
from hitting_coach.ui.live_feed import feed_routes
from hitting_coach.web_files import file_routes

ROUTES = [
    *file_routes(get_runtime),
    *routes(get_runtime),
    *feed_routes(lambda: get_runtime().feed, lambda: get_runtime().settings.extra_origins),
]
