"""``panel serve --plugins hitting_coach.plugin``: POST /data, status.json and metrics."""

from hitting_coach.ingest.handlers import routes
from hitting_coach.runtime import get_runtime

ROUTES = routes(get_runtime)
