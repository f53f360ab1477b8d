"""Where a command leaves the policy: model output to a Twist, scaled and clipped."""

from __future__ import annotations

import numpy as np

from edgepilot.daemon.config.profile import ActionConfig
from edgepilot.daemon.streams.kinds.twist import FIELD_INDEX as TWIST_FIELD_INDEX  # one table for sample and command


class TwistActionMapper:
    """Maps the model's action vector to ``command`` = [vx, vy, vz, wx, wy, wz] (m/s, rad/s, body frame).

    Each configured channel is ``clip(action[index] * scale, -limit, limit)``;
    Twist fields without a channel stay exactly zero. ``map`` writes into the
    same preallocated ``command`` array every tick.
    """

    decimates = False  # a policy step every tick (the joint stage's decimation has ticks between them)

    def __init__(self, config: ActionConfig, action_dtype: np.dtype | type = np.float32) -> None:
        self.command = np.zeros(6, dtype=np.float64)
        self._src = np.array([c.index for c in config.channels], dtype=np.intp)
        self._dst = np.array([TWIST_FIELD_INDEX[c.field] for c in config.channels], dtype=np.intp)
        self._scale = np.array([c.scale for c in config.channels], dtype=action_dtype)
        self._limit = np.array([c.limit for c in config.channels], dtype=action_dtype)
        # np.take(out=) needs the model's own dtype; the command itself is float64 like the Twist fields.
        self._work = np.zeros(len(config.channels), dtype=action_dtype)
        self._neg_limit = -self._limit
        # command = ext[fill]: ext holds the channels' values then a zero that every unmapped field takes;
        # a fancy-index assignment would allocate index buffers every tick, take(out=, mode="clip") does not.
        n = len(config.channels)
        self._ext = np.zeros(n + 1, dtype=np.float64)
        self._fill = np.full(6, n, dtype=np.intp)
        self._fill[self._dst] = np.arange(n)
        self._ext_head = self._ext[:n]
        self.action_size_needed = int(self._src.max()) + 1

    def map(self, action: np.ndarray) -> np.ndarray:
        """Fill and return ``self.command`` from a flat action vector. NaN stays NaN so the watchdog sees it."""
        work = self._work
        action.take(self._src, out=work, mode="clip")  # indices checked against the model at load
        np.multiply(work, self._scale, out=work)
        np.minimum(work, self._limit, out=work)  # clip; NaN stays NaN
        np.maximum(work, self._neg_limit, out=work)
        np.copyto(self._ext_head, work)
        self._ext.take(self._fill, out=self.command, mode="clip")
        return self.command

    def skip_policy(self) -> bool:
        return False  # a policy step every tick (never asked: decimates is False)

    def between(self) -> np.ndarray:
        return self.command
