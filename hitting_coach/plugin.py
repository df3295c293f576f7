"""For ``panel serve --plugins hitting_coach.plugin`` (the command line in
:mod:`hitting_coach.serve`'s docstring): builds and starts the :data:`RUNTIME` from the
settings (environment and ``.env``), serves it to the Panel apps (:func:`served_runtime`) and
lists its routes as :data:`ROUTES`. ``hitting-coach serve`` does the same itself, without this
module."""

import atexit

from hitting_coach.config import Settings
from hitting_coach.runtime import Runtime, serve_runtime
from hitting_coach.web.routes import routes

#: The runtime this ``panel serve`` process serves.
RUNTIME = serve_runtime(Runtime(Settings.load()).start())
atexit.register(RUNTIME.stop)
#: Every route beside the Panel pages, for ``panel serve`` (prefixed with ``--prefix``).
ROUTES = routes(RUNTIME)
