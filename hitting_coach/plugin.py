"""``panel serve --plugins hitting_coach.plugin``: POST /data, status.json and metrics."""

from hitting_coach.web import routes

ROUTES = routes()
