"""``base_angular_velocity``: the IMU's gyro rotated into the base frame, x, y, z (rad/s)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.imu_mounting import ImuMountedTermConfig, rpy_matrix
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm


class BaseAngularVelocityTerm(ImuMountedTermConfig):
    """Base angular velocity x, y, z (rad/s, base frame): the IMU's gyro rotated by the mounting rotation."""

    kind: Literal["base_angular_velocity"]

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "angular_velocity"),)


class BaseAngularVelocity(StackedTerm):
    def __init__(self, term: BaseAngularVelocityTerm, inputs: TermInputs) -> None:
        from edgepilot.daemon.streams.ingest import IMU_ANGULAR_VELOCITY

        super().__init__(inputs.out, 3, term)
        self._rot = rpy_matrix(*term.imu_mounting_rpy)
        self._gyro = inputs.snapshots[term.stream].sample[IMU_ANGULAR_VELOCITY]

    def read(self) -> None:
        np.matmul(self._rot, self._gyro, out=self.raw)


register_term(BaseAngularVelocityTerm, BaseAngularVelocity)
