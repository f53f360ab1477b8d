"""Sim-to-real calibration: residual logging, fitting and compensation (see the issues; not built yet)."""
