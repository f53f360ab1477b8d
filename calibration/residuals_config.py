"""The ``residuals`` section's models live with the profile's schema (daemon/config/calibration_sections.py); this
name stays for importers."""

from edgepilot.daemon.config.calibration_sections import (IdealActuatorConfig, IdealDiffDriveConfig, OnnxSimModelConfig,
                                                          ResidualsConfig, SimModelConfig)

__all__ = ["IdealActuatorConfig", "IdealDiffDriveConfig", "OnnxSimModelConfig", "ResidualsConfig", "SimModelConfig"]
