"""Sim-to-real calibration: residual logging, fitting the gap, and compensating for it in the daemon.

Modules: ``fields`` (field names), ``sim_models`` (what the simulator expects next), ``residual_logger``
(the loop's tap and the logger thread), ``mcap_log`` (rotating MCAP files), ``online_stats``,
``compensation`` (the file and what the loop applies), ``loop_hooks`` (the daemon's entry points,
SIGHUP reload), ``fit`` / ``fit_report`` (``edgepilot calibrate fit``), ``randomization``
(``export-randomization``), ``int8_capture`` (``capture``), ``cli``. Imports stay lazy: the profile
loader imports only ``residuals_config``.
"""
