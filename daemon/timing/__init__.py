"""Timing: the fixed-rate loop, phase lock to a sensor, real-time scheduling."""
