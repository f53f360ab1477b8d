"""Former home of the joint-policy terms' computing classes, now in daemon/observation/terms/ (one file per
term); kept for the names other modules import from here."""

from edgepilot.daemon.observation.policy_state import PolicyState
from edgepilot.daemon.observation.terms.imu_mounting import rpy_matrix

__all__ = ["PolicyState", "rpy_matrix"]
