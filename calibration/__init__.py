"""Sim-to-real calibration: residual logging, fitting the gap, and compensating for it in the daemon.

Modules: ``fields`` (field names), ``sim_models`` (what the simulator expects next), ``residual_logger``
(the loop's tap and the logger thread), ``mcap_log`` (rotating MCAP files), ``online_stats``,
``compensation`` (the file and what the loop applies), ``loop_hooks`` (the daemon's entry points,
SIGHUP reload), ``fit`` / ``fit_report`` (``edgepilot calibrate fit``), ``randomization``
(``export-randomization``), ``int8_capture`` (``capture``), ``cli``. Imports stay lazy. The
``residuals`` section's models are the profile's (daemon/config/calibration_sections.py; ``residuals_config``
re-exports them); ``profile_checks`` is the profile loader's check of both sections, registered by
``edgepilot/__init__.py`` (daemon/config/section_checks.py): the daemon never imports calibration.
"""
