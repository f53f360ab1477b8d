"""What base_angular_velocity and projected_gravity share: an Imu stream and the IMU's mounting rotation.

``imu_mounting_rpy`` (roll, pitch, yaw in rad, fixed axes X then Y then Z, as a URDF joint's ``rpy``: the IMU
frame's orientation expressed in the base frame) rotates IMU-frame vectors into the base frame:
``v_base = R(rpy) @ v_imu``.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from edgepilot.daemon.config.base import Bounded
from edgepilot.daemon.observation.terms.base import IMU, TermContext
from edgepilot.daemon.observation.terms.stacked import StackedTermConfig, require_read_by


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (fixed axes X, Y, Z; URDF ``rpy``): v_parent = R @ v_child."""
    cr, sr, cp, sp, cy, sy = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


class ImuMountedTermConfig(StackedTermConfig):
    stream: str = Field(description="Name of a sensor_msgs/Imu stream in 'streams'.")
    imu_mounting_rpy: tuple[Bounded, Bounded, Bounded] = Field(
        default=(0.0, 0.0, 0.0), description="IMU frame in the base frame: roll, pitch, yaw, rad (fixed axes XYZ).")

    def values_per_tick(self, ctx: TermContext) -> int:
        return 3

    def describe_values(self, ctx: TermContext) -> str:
        return "[x, y, z] in the base frame"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def check_references(self, ctx: TermContext, where: str) -> None:
        ctx.stream_of(where, self.stream, (IMU,), "an Imu stream")
        require_read_by(ctx, self.stream, where)
