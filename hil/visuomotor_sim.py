"""The visuomotor example's world: the diffbot and one red target it can only see (hil/robots/visuomotor.xml).

:class:`TargetSim` is :class:`~edgepilot.hil.sim_robot.DiffDriveSim` on the visuomotor scene, with the target
moved each episode and camera noise (so a standing robot's frames are not bit-identical: the daemon's frozen-camera
check, ``max_identical_s``, would otherwise fire at rest, as it should for a real frozen driver).
:func:`expert_action` is the privileged teacher the example's policy is cloned from: it knows where the target is.

Units and frames as in sim_robot.py: metres, radians, world frame x forward at the start, y left, z up.
Actions are the policy's normalised outputs in [-1, 1]: ``[linear, angular]``, scaled by the profile's action
channels (daemon/profiles/visuomotor.yaml: 0.4 m/s and 1.5 rad/s).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgepilot.hil.sim_robot import DiffDriveSim, RenderBackend, SimParams

MODEL_PATH = Path(__file__).resolve().parent / "robots" / "visuomotor.xml"

#: The camera's position ahead of the axle midpoint (diffbot.xml ``front_camera``), m.
CAMERA_X_M = 0.095
#: Half the camera's horizontal field of view for 4:3 frames at fovy 60 deg, rad (atan(tan(30 deg) * 4/3)).
HALF_HFOV_RAD = math.atan(math.tan(math.radians(30.0)) * 4.0 / 3.0)
#: The expert steers to a target it would see: bearing from the camera inside this (a margin inside the view), rad.
VISIBLE_BEARING_RAD = HALF_HFOV_RAD - 0.06
#: The expert stops with the target centre this close to the axle midpoint, m (the chassis front is 0.1 m ahead).
STOP_DISTANCE_M = 0.35
#: Success: the episode ends with the target centre within this of the axle midpoint, m.
SUCCESS_DISTANCE_M = 0.45
#: Where targets are placed: distance from the start pose, m, and any bearing.
TARGET_DISTANCE_M = (0.8, 2.5)
#: Searching (target out of view): turn left at this normalised rate (x 1.5 rad/s).
SEARCH_TURN = 0.9


class TargetSim(DiffDriveSim):
    """The diffbot in the visuomotor scene: ``place_target``, ``target_xy``, noisy camera frames.

    Args:
        params, rng, render_backend: as for DiffDriveSim.
        camera_noise_std: white noise added to every pixel of every rendered frame, 8-bit levels (0: none).
    """

    def __init__(self, params: SimParams | None = None, rng: np.random.Generator | int | None = None, *,
                 render_backend: RenderBackend | None = None, camera_noise_std: float = 2.0) -> None:
        super().__init__(params, rng, render_backend=render_backend, model_path=MODEL_PATH)
        self._mocap = int(self.model.body_mocapid[self.model.body("target").id])
        self.camera_noise_std = camera_noise_std
        self._target = (1.5, 0.0)

    def place_target(self, x_m: float, y_m: float) -> None:
        """Stand the target at (x, y) m, world frame. Call after :meth:`reset` (which restores the scene's default)."""
        import mujoco

        self.data.mocap_pos[self._mocap, 0:2] = (x_m, y_m)
        self._target = (float(x_m), float(y_m))
        mujoco.mj_kinematics(self.model, self.data)  # the next frame already shows it

    def reset_episode(self, rng: np.random.Generator) -> tuple[float, float]:
        """Robot at the origin with a random heading, target at a random place; the target's (x, y), m."""
        self.reset(yaw_rad=float(rng.uniform(-math.pi, math.pi)))
        d = float(rng.uniform(*TARGET_DISTANCE_M))
        b = float(rng.uniform(-math.pi, math.pi))
        self.place_target(d * math.cos(b), d * math.sin(b))
        return self._target

    @property
    def target_xy(self) -> tuple[float, float]:
        return self._target

    def target_range_bearing(self) -> tuple[float, float]:
        """Ground truth: distance from the axle midpoint to the target centre (m), and its bearing from the
        camera (rad, counter-clockwise from the robot's forward axis, in (-pi, pi])."""
        x, y, yaw = self.pose()
        dx, dy = self._target[0] - x, self._target[1] - y
        c, s = math.cos(yaw), math.sin(yaw)
        fwd, left = c * dx + s * dy, -s * dx + c * dy
        return math.hypot(fwd, left), math.atan2(left, fwd - CAMERA_X_M)

    def camera_rgb(self, width: int = 64, height: int = 48) -> np.ndarray:
        img = super().camera_rgb(width, height)
        if self.camera_noise_std <= 0.0:
            return img
        noisy = img + self.rng.normal(0.0, self.camera_noise_std, img.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def expert_action(distance_m: float, bearing_rad: float) -> tuple[float, float]:
    """The teacher: normalised (linear, angular) for a target at this range and camera bearing.

    Out of view: turn left on the spot (a rule a camera-only policy can learn: no red, turn left). In view:
    steer the bearing to zero, drive forward as the target gets centred, slowing to a stop at STOP_DISTANCE_M.
    """
    if abs(bearing_rad) > VISIBLE_BEARING_RAD:
        return 0.0, SEARCH_TURN
    angular = max(-1.0, min(1.0, 1.6 * bearing_rad))
    if distance_m <= STOP_DISTANCE_M:
        return 0.0, 0.0
    ahead = max(0.0, 1.0 - abs(bearing_rad) / 0.45)
    linear = min(1.0, 1.5 * (distance_m - STOP_DISTANCE_M)) * ahead
    return linear, angular
