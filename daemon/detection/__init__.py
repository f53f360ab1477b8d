"""Detectors: detection models run on camera frames beside the control loop (worker.py, detector_set.py)."""
