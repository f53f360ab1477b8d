"""The simulated differential-drive robot: MuJoCo physics only, no transport.

:class:`DiffDriveSim` wraps ``hil/robots/diffbot.xml`` and exposes what a real
robot's drivers would: wheel encoders, an IMU and a forward camera on the
sensor side, a Twist-like velocity command on the actuation side. The
hardware-in-the-loop publisher (and the example's trainer) drive it; it knows
nothing about DDS or ROS messages.

Units: metres, seconds, radians; velocities in m/s and rad/s; accelerations in
m/s^2. Frames (REP 103): the world frame has x forward at the start pose, y
left, z up. The chassis (``base_link``) frame sits at the midpoint of the drive
axle, x forward, y left, z up; the IMU is at the same point with the same
axes. Wheel joint angles are positive when the wheel rolls the robot forward.

Domain randomisation is applied once, at construction, from a
:class:`SimParams`; sensor noise is drawn from the ``rng`` given to the
constructor, so a seed reproduces a run exactly.
"""

from __future__ import annotations

import copy
import math
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

# Off-screen rendering without a display: EGL (falls back to the ray caster below if unavailable).
os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402 - MUJOCO_GL must be set before the import

MODEL_PATH = Path(__file__).resolve().parent / "robots" / "diffbot.xml"

#: Nominal geometry, as the robot's own motor controller (and the daemon's odometry) assume it.
NOMINAL_WHEEL_RADIUS_M = 0.05
NOMINAL_WHEEL_SEPARATION_M = 0.30

JOINT_NAMES: tuple[str, str] = ("left_wheel_joint", "right_wheel_joint")
CAMERA_NAME = "front_camera"

RenderBackend = Literal["auto", "gl", "raycast"]


@dataclass(frozen=True)
class SimParams:
    """Domain-randomisation knobs. The defaults are the nominal, noise-free robot.

    Scales are multipliers on the values in ``diffbot.xml``.

    * ``wheel_radius_scale``: both wheels' true radius (nominal 0.05 m).
    * ``left_wheel_radius_scale``, ``right_wheel_radius_scale``: per-wheel
      factor on top of ``wheel_radius_scale`` (left/right asymmetry).
    * ``chassis_mass_scale``: chassis mass and inertia (nominal 2.57 kg with caster and mast).
    * ``ground_friction_scale``: wheel/ground sliding friction (nominal 1.0).
    * ``motor_kv_scale``: velocity-servo gain of both wheel motors (nominal 1.0 N m s/rad).
    * ``command_latency_s``: delay between a command and its arrival at the
      motors, s (rounded to the physics timestep, 5 ms).
    * ``gyro_bias_radps``: constant gyro bias, x y z, rad/s, IMU frame.
    * ``gyro_noise_std_radps``: white gyro noise per reading, rad/s.
    * ``accel_noise_std_mps2``: white accelerometer noise per reading, m/s^2.
    * ``encoder_noise_std_rad``: white noise on each encoder angle reading, rad.
    * ``wheel_velocity_noise_std_radps``: white noise on each wheel speed reading, rad/s.
    * ``steering_bias_radps``: yaw-rate trim the base controller adds to every
      non-zero twist command, rad/s (a miscalibrated controller that makes the
      robot curve when told to go straight); a zero twist still stops the
      wheels. Not randomised in training: it is the sim-to-real bench's gap.
    """

    wheel_radius_scale: float = 1.0
    left_wheel_radius_scale: float = 1.0
    right_wheel_radius_scale: float = 1.0
    chassis_mass_scale: float = 1.0
    ground_friction_scale: float = 1.0
    motor_kv_scale: float = 1.0
    command_latency_s: float = 0.0
    gyro_bias_radps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gyro_noise_std_radps: float = 0.0
    accel_noise_std_mps2: float = 0.0
    encoder_noise_std_rad: float = 0.0
    wheel_velocity_noise_std_radps: float = 0.0
    steering_bias_radps: float = 0.0

    @classmethod
    def randomized(cls, rng: np.random.Generator) -> "SimParams":
        """Draw one randomised robot (uniform in each range), as used for training and the policy tests.

        Ranges: wheel radius +/-5 %, left/right asymmetry +/-2 % each, chassis
        mass +/-20 %, ground friction +/-30 %, motor gain +/-20 %, command
        latency 0 to 30 ms, gyro bias +/-0.02 rad/s per axis, gyro noise
        0.001 to 0.01 rad/s, accelerometer noise 0.01 to 0.1 m/s^2, encoder
        noise 0 to 0.003 rad, wheel speed noise 0 to 0.1 rad/s.
        """
        u = rng.uniform
        return cls(
            wheel_radius_scale=float(u(0.95, 1.05)),
            left_wheel_radius_scale=float(u(0.98, 1.02)),
            right_wheel_radius_scale=float(u(0.98, 1.02)),
            chassis_mass_scale=float(u(0.8, 1.2)),
            ground_friction_scale=float(u(0.7, 1.3)),
            motor_kv_scale=float(u(0.8, 1.2)),
            command_latency_s=float(u(0.0, 0.030)),
            gyro_bias_radps=tuple(float(b) for b in u(-0.02, 0.02, size=3)),  # type: ignore[arg-type]
            gyro_noise_std_radps=float(u(0.001, 0.01)),
            accel_noise_std_mps2=float(u(0.01, 0.1)),
            encoder_noise_std_rad=float(u(0.0, 0.003)),
            wheel_velocity_noise_std_radps=float(u(0.0, 0.1)),
        )

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=4)
def _compiled_model(path: str) -> mujoco.MjModel:
    # Compiling the XML takes milliseconds; instances copy this one (a memcpy) and modify the copy.
    return mujoco.MjModel.from_xml_path(path)


@dataclass
class _RayCamera:
    """Precomputed pixel ray directions (camera frame) for one image size."""

    width: int
    height: int
    dirs_cam: np.ndarray  # (h*w, 3), unit vectors, camera frame (x right, y up, looking along -z)
    vec: np.ndarray = field(init=False)  # (h*w*3,) world-frame directions, reused every frame
    geomid: np.ndarray = field(init=False)
    dist: np.ndarray = field(init=False)
    normal: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.width * self.height
        self.vec = np.zeros(3 * n)
        self.geomid = np.zeros(n, dtype=np.int32)
        self.dist = np.zeros(n)
        self.normal = np.zeros(3 * n)


class DiffDriveSim:
    """A simulated differential-drive robot (physics, sensors, camera).

    Args:
        params: domain-randomisation knobs; ``None`` is the nominal robot.
        rng: source of sensor noise: a ``np.random.Generator``, an int seed, or
            ``None`` (fresh entropy).
        render_backend: ``"auto"`` (try ``mujoco.Renderer`` over EGL, fall back
            to the ray caster if no GL context can be made), ``"gl"`` (renderer
            only) or ``"raycast"`` (ray caster only). ``None`` (the default)
            takes ``$EDGEPILOT_SIM_RENDER`` if set, else ``"auto"``: the test
            suite sets it to ``raycast`` because EGL contexts made on worker
            threads of one process were seen to deadlock a later context on
            another thread of the same process.
        model_path: the MJCF file; defaults to ``hil/robots/diffbot.xml``.

    The robot starts (and :meth:`reset` puts it) at the world origin facing +x.
    Sensor readings are the values MuJoCo computed at the start of the last
    physics step, i.e. they lag :meth:`pose` by one timestep (5 ms), like a
    sampled sensor. Not thread-safe; call :meth:`camera_rgb` from one thread
    (the GL context belongs to the thread that first renders).
    """

    def __init__(
        self,
        params: SimParams | None = None,
        rng: np.random.Generator | int | None = None,
        *,
        render_backend: RenderBackend | None = None,
        model_path: str | Path = MODEL_PATH,
    ) -> None:
        if render_backend is None:
            render_backend = os.environ.get("EDGEPILOT_SIM_RENDER", "auto")  # type: ignore[assignment]
        if render_backend not in ("auto", "gl", "raycast"):
            raise ValueError(f"render_backend must be 'auto', 'gl' or 'raycast', got {render_backend!r}")
        self.params = params if params is not None else SimParams()
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.model = copy.copy(_compiled_model(str(Path(model_path).resolve())))
        self.data = mujoco.MjData(self.model)
        m = self.model

        self._chassis_body = m.body("chassis").id
        self._camera_id = m.camera(CAMERA_NAME).id
        self._wheel_geoms = (m.geom("left_wheel_geom").id, m.geom("right_wheel_geom").id)
        self._floor_geom = m.geom("floor").id
        self._wheel_qpos = tuple(int(m.jnt_qposadr[m.joint(j).id]) for j in JOINT_NAMES)
        self._wheel_dof = tuple(int(m.jnt_dofadr[m.joint(j).id]) for j in JOINT_NAMES)
        adr = {m.sensor(i).name: int(m.sensor_adr[i]) for i in range(m.nsensor)}
        self._gyro = slice(adr["imu_gyro"], adr["imu_gyro"] + 3)
        self._accel = slice(adr["imu_accel"], adr["imu_accel"] + 3)
        self._quat = slice(adr["imu_quat"], adr["imu_quat"] + 4)
        self._jpos = np.array([adr["left_wheel_pos"], adr["right_wheel_pos"]], dtype=np.intp)
        self._jvel = np.array([adr["left_wheel_vel"], adr["right_wheel_vel"]], dtype=np.intp)
        self._ctrl_lo = float(m.actuator_ctrlrange[0, 0])
        self._ctrl_hi = float(m.actuator_ctrlrange[0, 1])

        self._apply_params(self.params)
        p = self.params
        self._gyro_bias = np.asarray(p.gyro_bias_radps, dtype=np.float64)
        self._wheel_radius_true = (
            NOMINAL_WHEEL_RADIUS_M * p.wheel_radius_scale * p.left_wheel_radius_scale,
            NOMINAL_WHEEL_RADIUS_M * p.wheel_radius_scale * p.right_wheel_radius_scale,
        )
        self._timestep = float(m.opt.timestep)
        # Commands in flight: (due sim time s, left target rad/s, right target rad/s).
        self._queue: deque[tuple[float, float, float]] = deque()

        self._render_backend: RenderBackend = render_backend
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._ray_cameras: dict[tuple[int, int], _RayCamera] = {}
        self._geom_rgb: np.ndarray | None = None
        self.render_error: str = ""  # why the GL renderer could not be used, when the ray caster took over

        self.reset()

    # ------------------------------------------------------------------ set-up

    def _apply_params(self, p: SimParams) -> None:
        m = self.model
        for gid, side in zip(self._wheel_geoms, (p.left_wheel_radius_scale, p.right_wheel_radius_scale)):
            r = NOMINAL_WHEEL_RADIUS_M * p.wheel_radius_scale * side
            half_width = float(m.geom_size[gid, 1])
            m.geom_size[gid, 0] = r
            # Keep the collision bounds consistent with the new radius, or the plane test would skip the wheel.
            m.geom_rbound[gid] = math.hypot(r, half_width)
            m.geom_aabb[gid, 3:6] = (r, r, half_width)
            m.geom_friction[gid, 0] *= p.ground_friction_scale
        m.geom_friction[self._floor_geom, 0] *= p.ground_friction_scale
        m.body_mass[self._chassis_body] *= p.chassis_mass_scale
        m.body_inertia[self._chassis_body] *= p.chassis_mass_scale
        m.actuator_gainprm[:, 0] *= p.motor_kv_scale
        m.actuator_biasprm[:, 2] *= p.motor_kv_scale

    def reset(self, x_m: float = 0.0, y_m: float = 0.0, yaw_rad: float = 0.0) -> None:
        """Put the robot at rest at (x, y) m facing ``yaw_rad`` (world frame), clear commands, time 0.

        The chassis is let settle onto its wheels and caster for 0.1 s of
        physics (zero wheel command) before the clock is reset to zero.
        """
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[0:3] = (x_m, y_m, 0.5 * sum(self._wheel_radius_true))
        d.qpos[3:7] = (math.cos(0.5 * yaw_rad), 0.0, 0.0, math.sin(0.5 * yaw_rad))
        self._queue.clear()
        d.ctrl[:] = 0.0
        mujoco.mj_forward(m, d)
        mujoco.mj_step(m, d, int(round(0.1 / self._timestep)))
        d.time = 0.0

    # ------------------------------------------------------------------ actuation

    def set_wheel_targets(self, left_radps: float, right_radps: float) -> None:
        """Command the wheel speed servos directly (rad/s, clipped to +/-20); arrives after the command latency."""
        lo, hi = self._ctrl_lo, self._ctrl_hi
        left = min(max(float(left_radps), lo), hi)
        right = min(max(float(right_radps), lo), hi)
        latency = self.params.command_latency_s
        if latency < 0.5 * self._timestep and not self._queue:
            self.data.ctrl[0] = left
            self.data.ctrl[1] = right
        else:
            self._queue.append((self.data.time + latency, left, right))

    def set_wheel_targets_from_twist(self, v_mps: float, w_radps: float) -> None:
        """Command a body twist: forward speed (m/s) and yaw rate (rad/s, counter-clockwise).

        Converted to wheel speeds with the NOMINAL geometry (radius 0.05 m,
        separation 0.30 m), as the robot's motor controller would: the true,
        randomised wheels then make the robot move slightly differently.
        """
        half = 0.5 * NOMINAL_WHEEL_SEPARATION_M
        if v_mps != 0.0 or w_radps != 0.0:
            w_radps += self.params.steering_bias_radps
        self.set_wheel_targets(
            (v_mps - w_radps * half) / NOMINAL_WHEEL_RADIUS_M,
            (v_mps + w_radps * half) / NOMINAL_WHEEL_RADIUS_M,
        )

    def step(self, dt_s: float) -> None:
        """Advance the physics by ``dt_s`` seconds (rounded to whole 5 ms timesteps, at least one).

        Delayed commands reach the motors at the first timestep at or after they are due.
        """
        m, d, q = self.model, self.data, self._queue
        ts = self._timestep
        remaining = max(1, int(round(dt_s / ts)))
        while remaining > 0:
            while q and q[0][0] <= d.time + 0.5 * ts:
                _, left, right = q.popleft()
                d.ctrl[0] = left
                d.ctrl[1] = right
            if q:
                k = min(max(1, int(round((q[0][0] - d.time) / ts))), remaining)
            else:
                k = remaining
            mujoco.mj_step(m, d, k)
            remaining -= k

    # ------------------------------------------------------------------ sensors

    @property
    def time(self) -> float:
        """Simulation time since the last reset, s."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        """Physics timestep, s."""
        return self._timestep

    def joint_state(self) -> tuple[tuple[str, str], np.ndarray, np.ndarray]:
        """Wheel encoders: (names, positions rad, velocities rad/s), both arrays shape (2,), [left, right].

        Positions are absolute joint angles (zero at reset) plus encoder noise;
        velocities carry wheel-speed noise.
        """
        sd = self.data.sensordata
        p = self.params
        pos = sd[self._jpos]
        vel = sd[self._jvel]
        if p.encoder_noise_std_rad > 0.0:
            pos += self.rng.normal(0.0, p.encoder_noise_std_rad, 2)
        if p.wheel_velocity_noise_std_radps > 0.0:
            vel += self.rng.normal(0.0, p.wheel_velocity_noise_std_radps, 2)
        return JOINT_NAMES, pos, vel

    def imu(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """IMU: (angular velocity xyz rad/s, linear acceleration xyz m/s^2, orientation quaternion x y z w).

        Body (IMU) frame vectors; the acceleration is specific force (+9.81 on
        z at rest, as a real accelerometer reads). The gyro carries the
        constant bias plus white noise. The orientation is the chassis
        attitude in the world frame, converted from MuJoCo's w-first order.
        """
        sd = self.data.sensordata
        p = self.params
        gyro = sd[self._gyro] + self._gyro_bias
        if p.gyro_noise_std_radps > 0.0:
            gyro += self.rng.normal(0.0, p.gyro_noise_std_radps, 3)
        accel = sd[self._accel].copy()
        if p.accel_noise_std_mps2 > 0.0:
            accel += self.rng.normal(0.0, p.accel_noise_std_mps2, 3)
        w, x, y, z = sd[self._quat]
        quat_xyzw = np.array((x, y, z, w))
        return gyro, accel, quat_xyzw

    def pose(self) -> tuple[float, float, float]:
        """Ground truth: chassis (axle midpoint) x, y (m) and yaw (rad, in (-pi, pi]) in the world frame."""
        q = self.data.qpos
        w, x, y, z = q[3], q[4], q[5], q[6]
        yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
        return float(q[0]), float(q[1]), yaw

    def body_velocity(self) -> tuple[float, float]:
        """Ground truth: forward speed (m/s, along the chassis x axis) and yaw rate (rad/s)."""
        d = self.data
        _, _, yaw = self.pose()
        vx, vy = d.qvel[0], d.qvel[1]  # free joint: linear velocity in the world frame
        return float(vx * math.cos(yaw) + vy * math.sin(yaw)), float(d.qvel[5])  # angular: body frame

    # ------------------------------------------------------------------ camera

    @property
    def render_backend(self) -> str:
        """The camera renderer in use: ``"gl"`` (mujoco.Renderer) or ``"raycast"``; resolves it if not yet done."""
        if self._render_backend == "auto":
            self._gl_renderer(64, 48)
        return self._render_backend

    def _gl_renderer(self, width: int, height: int) -> mujoco.Renderer | None:
        key = (width, height)
        r = self._renderers.get(key)
        if r is not None:
            return r
        if self._render_backend == "raycast":
            return None
        try:
            r = mujoco.Renderer(self.model, height=height, width=width)
        except Exception as err:  # noqa: BLE001 - no GL / EGL on this machine: use the ray caster
            if self._render_backend == "gl":
                raise
            self.render_error = f"{type(err).__name__}: {err}"
            self._render_backend = "raycast"
            return None
        self._render_backend = "gl"
        self._renderers[key] = r
        return r

    def camera_rgb(self, width: int = 64, height: int = 48) -> np.ndarray:
        """Render ``front_camera``: uint8 array (height, width, 3), RGB. Reflects the state after the last step."""
        r = self._gl_renderer(width, height)
        if r is not None:
            r.update_scene(self.data, camera=self._camera_id)
            return r.render()
        return self._raycast_rgb(width, height)

    def _raycast_rgb(self, width: int, height: int) -> np.ndarray:
        """Fallback renderer: one ray per pixel (``mj_multiRay``) from the camera.

        A pixel takes the colour of the geom its ray hits (material colour if the
        geom has one), shaded by the surface normal against the view ray and
        darkened with distance; the floor gets a 0.5 m checker like its texture;
        rays that hit nothing take a sky gradient.
        """
        m, d = self.model, self.data
        cam = self._ray_cameras.get((width, height))
        if cam is None:
            fovy = math.radians(float(m.cam_fovy[self._camera_id]))
            f = 0.5 * height / math.tan(0.5 * fovy)
            u = (np.arange(width) + 0.5 - 0.5 * width) / f
            v = -(np.arange(height) + 0.5 - 0.5 * height) / f
            uu, vv = np.meshgrid(u, v)
            dirs = np.stack([uu, vv, -np.ones_like(uu)], axis=-1).reshape(-1, 3)
            dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
            cam = _RayCamera(width, height, dirs)
            self._ray_cameras[(width, height)] = cam
        if self._geom_rgb is None:
            rgb = m.geom_rgba[:, :3].copy()
            has_mat = m.geom_matid >= 0
            rgb[has_mat] = m.mat_rgba[m.geom_matid[has_mat], :3]
            self._geom_rgb = rgb
        xmat = d.cam_xmat[self._camera_id].reshape(3, 3)
        pnt = d.cam_xpos[self._camera_id].copy()
        world = cam.dirs_cam @ xmat.T
        cam.vec[:] = world.ravel()
        n = width * height
        mujoco.mj_multiRay(m, d, pnt, cam.vec, None, 1, self._chassis_body, cam.geomid, cam.dist, cam.normal, n, 50.0)
        hit = cam.geomid >= 0
        img = np.empty((n, 3))
        # Sky: gradient with elevation, as the skybox texture.
        elev = np.clip(world[:, 2], 0.0, 1.0)[:, None]
        img[:] = (1.0 - elev) * np.array([0.9, 0.95, 1.0]) + elev * np.array([0.55, 0.7, 0.9])
        if hit.any():
            gid = cam.geomid[hit]
            dist = cam.dist[hit]
            col = self._geom_rgb[gid].copy()
            normal = cam.normal.reshape(-1, 3)[hit]
            lambert = 0.45 + 0.55 * np.abs(np.einsum("ij,ij->i", normal, world[hit]))
            fade = np.clip(1.0 - 0.05 * dist, 0.4, 1.0)
            floor = gid == self._floor_geom
            if floor.any():
                pts = pnt + world[hit][floor] * dist[floor, None]
                parity = (np.floor(pts[:, 0] / 0.5) + np.floor(pts[:, 1] / 0.5)) % 2.0
                col[floor] *= (0.8 + 0.35 * parity)[:, None]
            img[hit] = col * (lambert * fade)[:, None]
        return np.clip(img * 255.0, 0.0, 255.0).astype(np.uint8).reshape(height, width, 3)

    def close(self) -> None:
        """Release the GL renderers (if any)."""
        for r in self._renderers.values():
            try:
                r.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        self._renderers.clear()

    def __enter__(self) -> "DiffDriveSim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
