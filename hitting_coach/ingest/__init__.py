"""Ingest: every message in through one path.

``parse`` checks a Sensor Logger message, ``hub`` is the single entry point (de-duplication,
ring buffers, counters), ``mqtt_consumer`` the paho edge, ``prometheus`` the counters as text.
The HTTP edge (POST /data and the other routes) is :mod:`hitting_coach.web`. No plotting here.
"""
