"""The daemon's :class:`~edgepilot.daemon.tick.ControlTick` closed around :class:`~.visuomotor_sim.TargetSim`, in
process, camera included: the in-process rig of the visuomotor example, for its training and its tests.

As hil/sim_tick.py, plus the camera: every tick writes the joint state and IMU into the daemon's rings, and a
newly rendered frame into the camera's ring at the camera's rate, all stamped with the simulated time; the
policy's image input is then the daemon's own image encoder on that ring's newest frame (daemon/inference/
image_feeds.py), as deployed. All of the profile's streams are checked, so a stale or frozen camera is a fault
here too. The watchdog asks for one healthy tick (the robot is driven from the first tick, as in training).

:func:`run_episode` drives one episode and reports how it ended (:class:`EpisodeResult`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick
from edgepilot.hil.visuomotor_sim import SUCCESS_DISTANCE_M, TargetSim


class VisionSimTick:
    """``step(sim, now_ns)``: the simulator's sensors (and, when due, a camera frame) into the rings, one tick.

    ``camera_stream``: the profile's camera stream (its ``rate_hz``, ``width`` and ``height`` are used).
    Returns the tick's command array (the twist mapper's [lin x y z, ang x y z]).
    """

    def __init__(self, profile: Profile, backend: Any, camera_stream: str = "camera") -> None:
        cfg = profile.odometry
        if cfg is None:
            raise ValueError("the in-process run needs a profile with odometry (the diffbot's)")
        names = (cfg.joint_stream, cfg.imu_stream, camera_stream)
        ingests = {n: make_ingest(n, profile.streams[n], None, profile) for n in names}
        self.snapshots = {n: StreamSnapshot(ing) for n, ing in ingests.items()}
        self._js_ring = ingests[cfg.joint_stream].ring
        self._imu_ring = ingests[cfg.imu_stream].ring
        self._cam_ring = ingests[camera_stream].ring
        cam = profile.streams[camera_stream]
        self.camera_size = (int(cam.width), int(cam.height))  # type: ignore[arg-type]
        self._camera_period_ns = int(round(1e9 / cam.rate_hz))
        self._next_frame_ns = 0
        self.frames = 0
        self.js = np.zeros(self._js_ring.shape)
        self.imu = np.zeros(self._imu_ring.shape)
        self._col = {n: i for i, n in enumerate(profile.streams[cfg.joint_stream].joints)}
        self.odometry = WheelOdometry(cfg.wheel_radius_m)
        self.observation = ObservationBuilder(profile, self.snapshots, self.odometry)
        self.mapper = TwistActionMapper(profile.action, backend.outputs[profile.engine.output_name].dtype)
        self.now_ns = 0
        watched = {n: profile.streams[n] for n in names}
        self.tick = ControlTick(profile, self.snapshots, backend, self.observation, self.mapper,
                                Watchdog(watched, 1), odometry=self.odometry, clock_ns=self._clock)
        self.tick.started(0)

    def _clock(self) -> int:
        return self.now_ns  # simulated time stands still within a tick: no overrun

    def step(self, sim: TargetSim, now_ns: int) -> np.ndarray:
        self.now_ns = now_ns
        js, imu, col = self.js, self.imu, self._col
        names, pos, vel = sim.joint_state()
        for j, name in enumerate(names):
            if name in col:
                js[0, col[name]] = pos[j]
                js[1, col[name]] = vel[j]
        gyro, acc, quat = sim.imu()
        imu[0:3] = gyro
        imu[3:6] = acc
        imu[6:10] = quat
        self._js_ring.write(js, now_ns)
        self._imu_ring.write(imu, now_ns)
        if now_ns >= self._next_frame_ns:
            self._cam_ring.write(sim.camera_rgb(*self.camera_size), now_ns)
            self._next_frame_ns += self._camera_period_ns
            self.frames += 1
        return self.tick.step(now_ns)


@dataclass(frozen=True)
class EpisodeResult:
    """How an episode ended: distance from the axle midpoint to the target centre (m), speed (m/s), the first
    time the robot came within the success distance (s; inf if never), and whether it ended there."""

    final_distance_m: float
    final_speed_mps: float
    time_to_target_s: float
    faults: int

    @property
    def success(self) -> bool:
        return self.final_distance_m <= SUCCESS_DISTANCE_M and self.faults == 0


def run_episode(profile: Profile, backend: Any, sim: TargetSim, episode_s: float,
                on_tick: Callable[[VisionSimTick], None] | None = None) -> EpisodeResult:
    """Drive ``sim`` (already reset, target placed) with the profile's tick on ``backend`` for ``episode_s``."""
    loop = VisionSimTick(profile, backend)
    dt = 1.0 / profile.loop.rate_hz
    reached = math.inf
    faults = 0
    for k in range(int(round(episode_s / dt))):
        cmd = loop.step(sim, int(round(k * dt * 1e9)))
        faults += not loop.tick.ok
        if on_tick is not None:
            on_tick(loop)
        sim.set_wheel_targets_from_twist(float(cmd[0]), float(cmd[5]))
        sim.step(dt)
        if reached == math.inf and sim.target_range_bearing()[0] <= SUCCESS_DISTANCE_M:
            reached = sim.time
    v, _ = sim.body_velocity()
    return EpisodeResult(sim.target_range_bearing()[0], abs(v), reached, faults)
