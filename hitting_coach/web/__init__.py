"""The server's web edge: every route, handler, WebSocket and login check beside the Panel
pages. The route table is :func:`hitting_coach.web.routes.routes`; each handler is given the
:class:`~hitting_coach.web.app.App` it serves."""
