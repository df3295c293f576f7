"""``panel serve --setup``: build and start the runtime before the first request."""

from hitting_coach.runtime import get_runtime

get_runtime()
