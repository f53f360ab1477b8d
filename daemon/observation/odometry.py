"""Planar wheel/gyro odometry, integrated once per control tick."""

from __future__ import annotations

import math


class WheelOdometry:
    """Pose of a differential-drive robot in the odometry frame.

    The odometry frame is the robot's pose at the first update (x forward,
    y left, yaw counter-clockwise, REP 103). Distance travelled comes from the
    wheel encoder increments (rad x wheel radius), heading from the gyro's z
    rate: wheel slip corrupts a wheel-only heading much more than gyro drift
    does over the length of a run.

    Attributes ``x``, ``y`` (m) and ``yaw`` (rad) are plain floats so the
    control loop reads them without allocation.
    """

    __slots__ = ("wheel_radius_m", "x", "y", "yaw", "_prev_left", "_prev_right", "_initialised")

    def __init__(self, wheel_radius_m: float) -> None:
        self.wheel_radius_m = float(wheel_radius_m)
        self.reset()

    def reset(self) -> None:
        self.x = 0.0
        self.y = 0.0
        self.yaw = 0.0
        self._prev_left = 0.0
        self._prev_right = 0.0
        self._initialised = False

    def update(self, left_pos_rad: float, right_pos_rad: float, gyro_z_rad_s: float, dt_s: float) -> None:
        """Advance by one tick: wheel angles (rad, absolute encoder readings), yaw rate (rad/s), tick length (s)."""
        if not self._initialised:
            # The first reading only sets the encoder reference: encoders do not start at zero.
            self._prev_left = left_pos_rad
            self._prev_right = right_pos_rad
            self._initialised = True
            return
        ds = 0.5 * self.wheel_radius_m * ((left_pos_rad - self._prev_left) + (right_pos_rad - self._prev_right))
        self._prev_left = left_pos_rad
        self._prev_right = right_pos_rad
        dyaw = gyro_z_rad_s * dt_s
        mid = self.yaw + 0.5 * dyaw
        self.x += ds * math.cos(mid)
        self.y += ds * math.sin(mid)
        self.yaw = math.remainder(self.yaw + dyaw, math.tau)

    def goal_in_body(self, goal_x_m: float, goal_y_m: float) -> tuple[float, float]:
        """The goal (odometry frame, m) expressed in the robot's body frame: (forward, left), m."""
        dx = goal_x_m - self.x
        dy = goal_y_m - self.y
        c = math.cos(self.yaw)
        s = math.sin(self.yaw)
        return c * dx + s * dy, -s * dx + c * dy
