"""The committed example policy drives the simulated robot to the profile's goal, in process.

No DDS: the loop is closed here with the daemon's own ObservationBuilder,
WheelOdometry and TwistActionMapper configured from the embedded profile,
the committed daemon/profiles/diffbot_policy.onnx run by onnxruntime, and
DiffDriveSim under domain randomisation, at the profile's 50 Hz.
"""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
pytest.importorskip("mujoco")
ort = pytest.importorskip("onnxruntime")

from edgepilot.daemon.action.twist import TwistActionMapper  # noqa: E402
from edgepilot.daemon.config.profile import default_profile_path, load_profile  # noqa: E402
from edgepilot.daemon.observation.terms import GoalTerm  # noqa: E402
from edgepilot.daemon.observation.builder import ObservationBuilder  # noqa: E402
from edgepilot.daemon.observation.odometry import WheelOdometry  # noqa: E402
from edgepilot.hil.sim_robot import DiffDriveSim, SimParams  # noqa: E402

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


def _run(profile, session, seed: int) -> tuple[float, float, float]:
    goal = next(t for t in profile.observation.terms if isinstance(t, GoalTerm)).goal_xy
    rng = np.random.default_rng(seed)
    sim = DiffDriveSim(SimParams.randomized(rng), rng, render_backend="raycast")
    yaw0 = float(rng.uniform(-math.pi, math.pi))
    sim.reset(yaw_rad=yaw0)  # the odometry frame is the start pose, whatever the world heading
    goal_world = (math.cos(yaw0) * goal[0] - math.sin(yaw0) * goal[1], math.sin(yaw0) * goal[0] + math.cos(yaw0) * goal[1])

    odo_cfg = profile.odometry
    joints = profile.streams[odo_cfg.joint_stream].joints
    js = np.zeros((2, len(joints)))
    imu = np.zeros(10)
    odometry = WheelOdometry(odo_cfg.wheel_radius_m)
    builder = ObservationBuilder(
        profile, {odo_cfg.joint_stream: SimpleNamespace(sample=js), odo_cfg.imu_stream: SimpleNamespace(sample=imu)}, odometry
    )
    mapper = TwistActionMapper(profile.action)
    col = {name: i for i, name in enumerate(joints)}
    li, ri = col[odo_cfg.left_joint], col[odo_cfg.right_joint]
    model_in = np.zeros((1, profile.observation_size()), np.float32)
    action64 = np.zeros(mapper.action_size_needed)  # the mapper's np.take(out=float64) wants float64 input
    dt = 1.0 / profile.loop.rate_hz
    for _ in range(int(round(EPISODE_S / dt))):
        names, pos, vel = sim.joint_state()
        for j, name in enumerate(names):
            js[0, col[name]] = pos[j]
            js[1, col[name]] = vel[j]
        imu[0:3], imu[3:6], imu[6:10] = sim.imu()
        odometry.update(js[0, li], js[0, ri], imu[2], dt)
        model_in[0] = builder.build()
        action = session.run([profile.engine.output_name], {profile.observation.input_name: model_in})[0].reshape(-1)
        np.copyto(action64, action[: len(action64)])
        cmd = mapper.map(action64)
        sim.set_wheel_targets_from_twist(cmd[0], cmd[5])
        sim.step(dt)
    x, y, _ = sim.pose()
    v, _ = sim.body_velocity()
    return math.hypot(x - goal_world[0], y - goal_world[1]), abs(v), sim.time


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_reaches_the_goal_and_stops(profile, session, seed: int) -> None:
    dist, speed, t = _run(profile, session, seed)
    assert t == pytest.approx(EPISODE_S)
    assert dist < GOAL_RADIUS_M, f"seed {seed}: ended {dist:.3f} m from the goal"
    assert speed < 0.05, f"seed {seed}: still moving at {speed:.3f} m/s"
