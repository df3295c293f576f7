"""Simulation: swings and other motion with known truth, for tests and the demo.

``devices`` models the sensors, ``simulate`` builds sessions and Sensor Logger messages,
``demo`` feeds them through the hub.
"""
