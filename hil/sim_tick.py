"""The daemon's :class:`~edgepilot.daemon.tick.ControlTick` closed around a simulated diff-drive robot, in process.

For the in-process rig (hil/daemon_in_process.py) and the example's training (examples/diffbot/train.py): each
tick writes the simulator's joint state and IMU into the daemon's own stream rings, stamped with the simulated
time, and calls ``step``. Everything else is the daemon's, configured from the profile: odometry, observation,
the stream checks and the watchdog, inference on the given backend, the twist action mapper, tick hooks.

Two differences from a deployed daemon, both so that a run matches the policy's training: the watchdog asks for
one healthy tick, not ``recovery_ticks`` (the robot is driven from the first tick), and only the two simulated
streams are checked (the camera, which the policy does not read, is not simulated). Transport, pacing and the
stall supervisor are the DDS tests' business.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick
from edgepilot.daemon.tick_hooks import TickHooksFactory


class SimTick:
    """``step(sim, now_ns)``: the simulator's sensors (and, with ``camera_stream``, a rendered frame at the camera's
    rate) into the rings, then one ControlTick; the command."""

    def __init__(self, profile: Profile, backend: Any, *, tick_hooks: TickHooksFactory | None = None,
                 log: Any = None, camera_stream: str | None = None) -> None:
        cfg = profile.odometry
        if cfg is None:
            raise ValueError("the in-process run needs a profile with odometry (the diffbot's)")
        names = (cfg.joint_stream, cfg.imu_stream) + ((camera_stream,) if camera_stream else ())
        ingests = {n: make_ingest(n, profile.streams[n], None, profile) for n in names}
        self.snapshots = {n: StreamSnapshot(ing) for n, ing in ingests.items()}
        self._js_ring = ingests[cfg.joint_stream].ring
        self._imu_ring = ingests[cfg.imu_stream].ring
        self._camera_setup(profile, camera_stream, ingests)
        self.js = np.zeros(self._js_ring.shape)
        self.imu = np.zeros(self._imu_ring.shape)
        self._col = {n: i for i, n in enumerate(profile.streams[cfg.joint_stream].joints)}
        self.odometry = WheelOdometry(cfg.wheel_radius_m)
        self.observation = ObservationBuilder(profile, self.snapshots, self.odometry)
        self.mapper = TwistActionMapper(profile.action, backend.outputs[profile.engine.output_name].dtype)
        self.hooks = None if tick_hooks is None else tick_hooks(
            profile, self.snapshots, self.odometry, self.mapper.command, self.observation.obs, log=log)
        self.now_ns = 0
        # With a camera, exactly the simulated streams are watched (a stale or frozen camera is a fault here too).
        watched = profile.streams if camera_stream is None else {n: profile.streams[n] for n in names}
        self.tick = ControlTick(profile, self.snapshots, backend, self.observation, self.mapper,
                                Watchdog(watched, 1), odometry=self.odometry, hooks=self.hooks,
                                clock_ns=self._clock)
        self.tick.started(0)

    def _camera_setup(self, profile: Profile, camera_stream: str | None, ingests: dict[str, Any]) -> None:
        self._cam_ring = ingests[camera_stream].ring if camera_stream else None
        self._next_frame_ns = 0
        self.frames = 0
        if camera_stream:
            cam = profile.streams[camera_stream]
            self.camera_size = (int(cam.width), int(cam.height))  # type: ignore[arg-type]
            self._camera_period_ns = int(round(1e9 / cam.rate_hz))

    def _clock(self) -> int:
        return self.now_ns  # simulated time stands still within a tick: no overrun

    def step(self, sim: Any, now_ns: int) -> np.ndarray:
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
        if self._cam_ring is not None and now_ns >= self._next_frame_ns:
            self._cam_ring.write(sim.camera_rgb(*self.camera_size), now_ns)
            self._next_frame_ns += self._camera_period_ns
            self.frames += 1
        return self.tick.step(now_ns)
