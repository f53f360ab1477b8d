"""The daemon's control tick and the simulated robot in one process, on a simulated clock.

Used by the sim-to-real bench and its CI test to run many episodes fast, without DDS. The tick is the
daemon's own :class:`~edgepilot.daemon.tick.ControlTick` (through :class:`~.sim_tick.SimTick`, which writes the
simulated sensors into its rings), with the ONNX Runtime backend and
:class:`~edgepilot.calibration.loop_hooks.CalibrationHooks` for compensation and residual logging:

sensors into the rings -> ``ControlTick.step`` (``begin_tick`` -> odometry -> observation -> inference ->
action mapping -> ``compensate``) -> command to the robot -> ``record_policy`` -> physics for one period.

What it leaves out is transport and timing (DDS, the stall supervisor, real-time pacing), which the DDS tests
cover, and the start-up hold (hil/sim_tick.py says why). The residual logger's records are drained on this
thread every ``drain_every`` ticks instead of by its thread, so a seed reproduces a run exactly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgepilot.daemon.config.profile import Profile
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

from .sim_robot import DiffDriveSim, SimParams
from .sim_tick import SimTick


@dataclass
class EpisodeResult:
    """Ground truth from the simulator and the daemon's own view, at the end of one episode.

    Distances in metres, in the world frame (start pose at the origin facing ``yaw0_rad``).
    """

    final_distance_m: float  # robot to goal, ground truth
    min_distance_m: float
    odometry_error_m: float  # the daemon's odometry position vs the true position
    heading_error_rad: float  # odometry yaw vs true yaw
    final_speed_mps: float
    ticks: int
    diagnostics: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def run_episode(profile: Profile, params: SimParams, *, seed: int, duration_s: float, yaw0_rad: float = 0.0,
                drain_every: int = 25, log: io.TextIOBase | None = None) -> EpisodeResult:
    """Drive the simulated robot to the profile's goal for ``duration_s`` with the daemon's components."""
    from edgepilot.calibration.loop_hooks import CalibrationHooks

    dt = 1.0 / profile.loop.rate_hz
    backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    try:
        loop = SimTick(profile, backend, tick_hooks=CalibrationHooks, log=log or io.StringIO())
    except BaseException:
        backend.close()
        raise
    hooks = loop.hooks
    assert hooks is not None
    goal = next(t.goal_xy for t in profile.observation.terms if t.kind == "goal_relative")
    sim = DiffDriveSim(params, np.random.default_rng(seed), render_backend="raycast")
    sim.reset(0.0, 0.0, yaw0_rad)
    c, s = math.cos(yaw0_rad), math.sin(yaw0_rad)
    gx, gy = c * goal[0] - s * goal[1], s * goal[0] + c * goal[1]
    n_ticks = int(round(duration_s / dt))
    min_d = math.inf
    try:
        for k in range(n_ticks):
            now = int(round(k * dt * 1e9))
            command = loop.step(sim, now)
            sim.set_wheel_targets_from_twist(float(command[0]), float(command[5]))
            if loop.tick.ok:
                hooks.record_policy(now, k, command)
            else:
                hooks.record_zero(now, k)
            sim.step(dt)
            x, y, _ = sim.pose()
            min_d = min(min_d, math.hypot(gx - x, gy - y))
            if hooks.logger is not None and k % drain_every == drain_every - 1:
                hooks.logger.drain()
    finally:
        hooks.stop()
        backend.close()
        sim.close()
    odometry = loop.odometry
    x, y, yaw = sim.pose()
    # The odometry frame is the start pose: express the true pose in it.
    dx, dy = x, y
    tx, ty = c * dx + s * dy, -s * dx + c * dy
    v, _ = sim.body_velocity()
    return EpisodeResult(
        final_distance_m=math.hypot(gx - x, gy - y),
        min_distance_m=min_d,
        odometry_error_m=math.hypot(odometry.x - tx, odometry.y - ty),
        heading_error_rad=abs(math.remainder(odometry.yaw - (yaw - yaw0_rad), math.tau)),
        final_speed_mps=abs(v),
        ticks=n_ticks,
        diagnostics=hooks.diagnostics(),
    )
