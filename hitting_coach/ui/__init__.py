"""UI: Panel and Bokeh components.

``dashboard`` is the live page's plots, ``swing_panel`` and ``takes_panel`` its panels,
``report_plots`` draws a report, ``explorer`` is the notebooks' live explorer. The server's
routes and sockets are :mod:`hitting_coach.web`, beside this layer.
"""
