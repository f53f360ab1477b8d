"""Benchmarks. ``python -m bench --json OUT.json`` runs the control-loop performance suite (see __main__.py);
the other modules here are stand-alone scripts (``python bench/ros2_io.py`` ...)."""
