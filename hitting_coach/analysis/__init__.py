"""Analysis: swings found and measured (numpy and pandas only).

``swings`` detects (live and batch alike), ``swing_metrics`` measures, ``reference`` compares
with published figures, ``live_swings`` runs detection on the hub's live data,
``report_data`` is what a report shows.
"""
