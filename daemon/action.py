"""Where a command leaves the policy: model output to a Twist, scaled and clipped."""

from __future__ import annotations

import numpy as np

from .config import ActionConfig

TWIST_FIELD_INDEX = {"linear.x": 0, "linear.y": 1, "linear.z": 2, "angular.x": 3, "angular.y": 4, "angular.z": 5}


class TwistActionMapper:
    """Maps the model's action vector to ``command`` = [vx, vy, vz, wx, wy, wz] (m/s, rad/s, body frame).

    Each configured channel is ``clip(action[index] * scale, -limit, limit)``;
    Twist fields without a channel stay exactly zero. ``map`` writes into the
    same preallocated ``command`` array every tick.
    """

    def __init__(self, config: ActionConfig, action_dtype: np.dtype | type = np.float32) -> None:
        self.command = np.zeros(6, dtype=np.float64)
        self._src = np.array([c.index for c in config.channels], dtype=np.intp)
        self._dst = np.array([TWIST_FIELD_INDEX[c.field] for c in config.channels], dtype=np.intp)
        self._scale = np.array([c.scale for c in config.channels], dtype=action_dtype)
        self._limit = np.array([c.limit for c in config.channels], dtype=action_dtype)
        # np.take(out=) needs the model's own dtype; the command itself is float64 like the Twist fields.
        self._work = np.zeros(len(config.channels), dtype=action_dtype)
        self._neg_limit = -self._limit
        self.action_size_needed = int(self._src.max()) + 1

    def map(self, action: np.ndarray) -> np.ndarray:
        """Fill and return ``self.command`` from a flat action vector. NaN stays NaN so the watchdog sees it."""
        work = self._work
        np.take(action, self._src, out=work)
        work *= self._scale
        np.clip(work, self._neg_limit, self._limit, out=work)
        self.command[self._dst] = work
        return self.command
