"""The joint PD loop the daemon runs for ``action.output: joint_torques``.

``tau = clip(kp * (target - q) - kd * qdot, -limit, limit)`` per joint (N m;
rad, rad/s), evaluated on the control loop's thread every loop tick from the
newest joint state, while the policy updates ``target`` every ``decimation``
ticks (Isaac Lab's and legged_gym's ``decimation``: the simulator's PD runs at
``policy rate * decimation``). Preallocated arrays only.
"""

from __future__ import annotations

import numpy as np


class PdController:
    """Per-joint PD with torque limits; all arrays in the policy's joint order."""

    def __init__(self, kp: np.ndarray, kd: np.ndarray, torque_limit: np.ndarray) -> None:
        self.kp = np.asarray(kp, dtype=np.float64).copy()
        self.kd = np.asarray(kd, dtype=np.float64).copy()
        self.limit = np.asarray(torque_limit, dtype=np.float64).copy()
        if not (self.kp.shape == self.kd.shape == self.limit.shape) or np.any(self.limit <= 0):
            raise ValueError("kp, kd and torque limits need one value per joint, limits > 0")
        self._neg_limit = -self.limit
        self.torque = np.zeros_like(self.kp)
        self._tmp = np.zeros_like(self.kp)

    def compute(self, target: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """Torques into ``self.torque`` (the same array every call)."""
        tau = self.torque
        tmp = self._tmp
        np.subtract(target, q, out=tau)
        np.multiply(tau, self.kp, out=tau)
        np.multiply(qd, self.kd, out=tmp)
        np.subtract(tau, tmp, out=tau)
        np.minimum(tau, self.limit, out=tau)  # NaN stays NaN
        np.maximum(tau, self._neg_limit, out=tau)
        return tau

    def damp(self, kd: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """``-kd * qdot``, clipped: the damping safe action."""
        tau = self.torque
        np.multiply(qd, kd, out=tau)
        np.negative(tau, out=tau)
        np.minimum(tau, self.limit, out=tau)
        np.maximum(tau, self._neg_limit, out=tau)
        return tau
