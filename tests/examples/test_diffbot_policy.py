"""The committed example policy drives the simulated robot to the profile's goal, in process.

No DDS: the loop is closed here with the daemon's own ControlTick
(hil/sim_tick.py) configured from the embedded profile, the committed
daemon/profiles/diffbot_policy.onnx run by the daemon's onnxruntime backend,
and DiffDriveSim under domain randomisation, at the profile's 50 Hz.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
pytest.importorskip("mujoco")
ort = pytest.importorskip("onnxruntime")

from edgepilot.daemon.config.profile import default_profile_path, load_profile  # noqa: E402
from edgepilot.daemon.observation.terms import GoalTerm  # noqa: E402
from edgepilot.hil.sim_robot import DiffDriveSim, SimParams  # noqa: E402
from edgepilot.hil.sim_tick import SimTick  # noqa: E402

EPISODE_S = 15.0
GOAL_RADIUS_M = 0.15


@pytest.fixture(scope="module")
def profile():
    return load_profile(default_profile_path())  # also checks that the committed model file exists


@pytest.fixture(scope="module")
def session(profile):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(profile.model_path), sess_options=opts, providers=["CPUExecutionProvider"])


def test_model_io_matches_the_profile(profile, session) -> None:
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == profile.observation.input_name == "obs"
    assert inp.type == "tensor(float)" and list(inp.shape) == [1, profile.observation_size()] == [1, 5]
    assert out.name == profile.engine.output_name == "action"
    assert out.type == "tensor(float)" and list(out.shape) == [1, 2]
    a = session.run(None, {"obs": np.zeros((1, 5), np.float32)})[0]
    assert np.all(np.abs(a) <= 1.0)


def _run(profile, seed: int) -> tuple[float, float, float]:
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    goal = next(t for t in profile.observation.terms if isinstance(t, GoalTerm)).goal_xy
    rng = np.random.default_rng(seed)
    sim = DiffDriveSim(SimParams.randomized(rng), rng, render_backend="raycast")
    yaw0 = float(rng.uniform(-math.pi, math.pi))
    sim.reset(yaw_rad=yaw0)  # the odometry frame is the start pose, whatever the world heading
    goal_world = (math.cos(yaw0) * goal[0] - math.sin(yaw0) * goal[1], math.sin(yaw0) * goal[0] + math.cos(yaw0) * goal[1])
    backend = OnnxRuntimeBackend(profile.model_path, 1)
    try:
        loop = SimTick(profile, backend)  # the daemon's ControlTick on the simulated sensors
        dt = 1.0 / profile.loop.rate_hz
        for k in range(int(round(EPISODE_S / dt))):
            cmd = loop.step(sim, int(round(k * dt * 1e9)))
            assert loop.tick.ok, loop.tick.watchdog.active_names()
            sim.set_wheel_targets_from_twist(cmd[0], cmd[5])
            sim.step(dt)
    finally:
        backend.close()
    x, y, _ = sim.pose()
    v, _ = sim.body_velocity()
    return math.hypot(x - goal_world[0], y - goal_world[1]), abs(v), sim.time


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_reaches_the_goal_and_stops(profile, seed: int) -> None:
    dist, speed, t = _run(profile, seed)
    assert t == pytest.approx(EPISODE_S)
    assert dist < GOAL_RADIUS_M, f"seed {seed}: ended {dist:.3f} m from the goal"
    assert speed < 0.05, f"seed {seed}: still moving at {speed:.3f} m/s"
