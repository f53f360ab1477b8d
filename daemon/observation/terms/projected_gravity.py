"""``projected_gravity``: the unit gravity direction in the base frame (3 values), from the IMU orientation.

World ``[0, 0, -1]`` expressed in the base frame, as Isaac Lab's and legged_gym's ``projected_gravity``
(``quat_rotate_inverse(base_quat, [0, 0, -1])``); level and upright gives ``[0, 0, -1]``. An all-zero
(absent) quaternion gives NaN, which the watchdog faults on.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.imu_mounting import ImuMountedTermConfig, rpy_matrix
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm


class ProjectedGravityTerm(ImuMountedTermConfig):
    """Unit gravity direction in the base frame (3 values), from the IMU orientation quaternion."""

    kind: Literal["projected_gravity"]

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "orientation"),)


class ProjectedGravity(StackedTerm):
    def __init__(self, term: ProjectedGravityTerm, inputs: TermInputs) -> None:
        from edgepilot.daemon.streams.ingest import IMU_ORIENTATION

        super().__init__(inputs.out, 3, term)
        self._rot = rpy_matrix(*term.imu_mounting_rpy)
        self._q = inputs.snapshots[term.stream].sample[IMU_ORIENTATION]
        self._g_imu = np.zeros(3)

    def read(self) -> None:
        x, y, z, w = self._q  # sensor_msgs/Imu order
        n2 = x * x + y * y + z * z + w * w  # an all-zero (absent) quaternion gives NaN: the watchdog faults
        s = 2.0 / n2 if n2 > 0.0 else math.nan
        g = self._g_imu
        # World [0, 0, -1] in the IMU frame = minus the third row of R(q) (R(q): IMU -> world).
        g[0] = -s * (x * z - w * y)
        g[1] = -s * (y * z + w * x)
        g[2] = -(1.0 - s * (x * x + y * y))
        np.matmul(self._rot, g, out=self.raw)


register_term(ProjectedGravityTerm, ProjectedGravity)
