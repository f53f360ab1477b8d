"""``sensor_msgs/msg/Imu``: angular velocity, linear acceleration and orientation, IMU frame.

Sample: float64 (10,): angular velocity x, y, z (rad/s), linear acceleration x, y, z (m/s^2), orientation
quaternion x, y, z, w. A covariance whose first element is -1 means "this quantity is not provided"
(sensor_msgs/Imu): if the profile reads that quantity (``imu_*`` terms, odometry's gyro) the message is dropped;
otherwise the quantity is stored as zeros (an all-zero quaternion for orientation, which no term reads).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.streams.kinds.base import Clock, ConverterBase, MalformedMessage, Ring, StreamKind, number

ANGULAR_VELOCITY = slice(0, 3)
LINEAR_ACCELERATION = slice(3, 6)
ORIENTATION = slice(6, 10)
AXIS_INDEX = {"x": 0, "y": 1, "z": 2}  # within a vector block


class ImuConverter(ConverterBase):
    def __init__(self, config: Any, clock: Clock, reads: frozenset[str]) -> None:
        self._clock = clock
        self._reads = reads

    def _absent(self, msg: Any, quantity: str, covariance: str) -> bool:
        # getattr with a default: the covariances are optional in what a foreign message carries. The attribute's
        # name is given, not built: no string is made per message.
        cov = getattr(msg, covariance, None)
        if cov is None:
            return False
        if len(cov) != 9:
            raise MalformedMessage(f"Imu.{quantity}_covariance has {len(cov)} elements, expected 9")
        if number(cov[0], f"Imu.{quantity}_covariance[0]") != -1.0:
            return False
        if quantity in self._reads:
            raise MalformedMessage(f"Imu.{quantity} is marked absent (covariance[0] = -1), and the profile reads it")
        return True

    def write(self, msg: Any, ring: Ring) -> None:
        no_w = self._absent(msg, "angular_velocity", "angular_velocity_covariance")
        no_a = self._absent(msg, "linear_acceleration", "linear_acceleration_covariance")
        no_q = self._absent(msg, "orientation", "orientation_covariance")
        w = msg.angular_velocity
        a = msg.linear_acceleration
        q = msg.orientation
        values = (
            0.0 if no_w else number(w.x, "Imu.angular_velocity.x"),
            0.0 if no_w else number(w.y, "Imu.angular_velocity.y"),
            0.0 if no_w else number(w.z, "Imu.angular_velocity.z"),
            0.0 if no_a else number(a.x, "Imu.linear_acceleration.x"),
            0.0 if no_a else number(a.y, "Imu.linear_acceleration.y"),
            0.0 if no_a else number(a.z, "Imu.linear_acceleration.z"),
            0.0 if no_q else number(q.x, "Imu.orientation.x"),
            0.0 if no_q else number(q.y, "Imu.orientation.y"),
            0.0 if no_q else number(q.z, "Imu.orientation.z"),
            0.0 if no_q else number(q.w, "Imu.orientation.w"),
        )
        slot = ring.begin_write()
        slot[:] = values
        ring.commit_write(self._clock())


def _layout(config: Any) -> tuple[tuple[int, ...], Any]:
    return (10,), np.float64


IMU = StreamKind(
    type="sensor_msgs/msg/Imu",
    layout=_layout,
    converter=ImuConverter,
    value_fields={"angular_velocity": ANGULAR_VELOCITY, "linear_acceleration": LINEAR_ACCELERATION,
                  "orientation": ORIENTATION},
    default_reads=frozenset({"angular_velocity", "linear_acceleration"}),
)
