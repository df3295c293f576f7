"""Ingest: every message in through one path.

``parse`` checks a Sensor Logger message, ``hub`` is the single entry point (de-duplication,
ring buffers, counters), ``handlers`` are the tornado edges (POST /data, status, readings),
``mqtt_consumer`` the paho edge, ``prometheus`` the counters as text. No plotting here.
"""
