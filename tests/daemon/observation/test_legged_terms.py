"""Joint-policy observation and action maths, term by term, against values worked out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edgepilot.daemon.config.profile import ProfileError, parse_profile
from edgepilot.daemon.action.joint import JointActionStage
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.action.pd_controller import PdController
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest

JOINTS_ROBOT = ["b", "a"]   # the order the robot publishes
JOINTS_POLICY = ["a", "b"]  # the policy's order


def profile_data(**action: object) -> dict:
    return {
        "name": "t", "loop": {"rate_hz": 50},
        "streams": {
            "js": {"topic": "/joint_states", "type": "sensor_msgs/msg/JointState", "rate_hz": 100, "max_age_s": 0.1,
                   "joints": ["a", "b"]},
            "imu": {"topic": "/imu", "type": "sensor_msgs/msg/Imu", "rate_hz": 100, "max_age_s": 0.1},
            "cmd": {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10, "max_age_s": 0.5,
                    "required": False},
        },
        "observation": {"input_name": "obs", "terms": [
            {"kind": "base_angular_velocity", "stream": "imu", "imu_mounting_rpy": [0, 0, math.pi / 2], "scale": 0.25},
            {"kind": "projected_gravity", "stream": "imu", "imu_mounting_rpy": [0, 0, math.pi / 2]},
            {"kind": "velocity_command", "stream": "cmd", "fields": ["linear.x", "angular.z"], "limits": [[-1, 1], [-0.5, 0.5]]},
            {"kind": "joint_position_relative", "stream": "js", "scale": 2.0, "clip": [-0.5, 0.5], "history": 3},
            {"kind": "joint_velocity_policy", "stream": "js", "scale": 0.1},
            {"kind": "last_action"},
            {"kind": "gait_phase", "frequency_hz": 1.0},
        ]},
        "engine": {"model": "m.onnx", "output_name": "action"},
        "action": {"output": "joint_positions", "stream": "js", "joints": JOINTS_POLICY, "scale": 0.5, "clip": [-2, 2],
                   "default_positions": {"a": 0.3, "b": -0.7}, "position_limits": {"b": [-1.0, -0.2]}, **action},
        "watchdog": {"stall_timeout_s": 0.03},
    }


class Rig:
    def __init__(self, **action: object) -> None:
        self.t = 1_000_000_000
        self.profile = parse_profile(profile_data(**action))
        clock = lambda: self.t  # noqa: E731
        self.ingests = {n: make_ingest(n, c, clock, self.profile) for n, c in self.profile.streams.items()}
        self.snaps = {n: StreamSnapshot(i) for n, i in self.ingests.items()}
        self.builder = ObservationBuilder(self.profile, self.snaps, None)
        self.published: list[np.ndarray] = []
        pub = NS(publish=lambda x: self.published.append(np.array(x)))
        self.stage = JointActionStage(self.profile.action, self.snaps["js"], ("a", "b"), self.builder.policy_state, pub,
                                      0.1, clock)

    def joints(self, pos_by_name: dict, vel_by_name: dict) -> None:
        self.ingests["js"].on_message(NS(name=JOINTS_ROBOT, position=[pos_by_name[j] for j in JOINTS_ROBOT],
                                         velocity=[vel_by_name[j] for j in JOINTS_ROBOT], effort=[]))

    def imu(self, gyro: tuple, quat_xyzw: tuple) -> None:
        v = lambda x, y, z: NS(x=x, y=y, z=z)  # noqa: E731
        self.ingests["imu"].on_message(NS(angular_velocity=v(*gyro), linear_acceleration=v(0, 0, 9.81),
                                          orientation=NS(x=quat_xyzw[0], y=quat_xyzw[1], z=quat_xyzw[2], w=quat_xyzw[3])))

    def build(self) -> np.ndarray:
        for s in self.snaps.values():
            s.refresh(self.t)
        return self.builder.build().astype(np.float64)


def test_profile_size_and_layout() -> None:
    r = Rig()
    # 3 gyro + 3 gravity + 2 command + 2x3 joint history + 2 velocities + 2 last action + 2 phase
    assert r.profile.observation_size() == 20


def test_terms_by_hand() -> None:
    r = Rig()
    r.joints({"a": 0.4, "b": -0.9}, {"a": 1.0, "b": -2.0})
    # IMU frame x = base y (mounting yaw +90 deg): gyro (1, 2, 3) in the IMU frame is (-2, 1, 3) in the base frame.
    # Orientation: rolled +90 deg about the IMU x axis -> q = (sin45, 0, 0, cos45).
    s = math.sqrt(0.5)
    r.imu((1.0, 2.0, 3.0), (s, 0.0, 0.0, s))
    r.ingests["cmd"].on_message(NS(linear=NS(x=3.0, y=0.0, z=0.0), angular=NS(x=0.0, y=0.0, z=-0.2)))
    obs = r.build()
    np.testing.assert_allclose(obs[0:3], [-2 * 0.25, 1 * 0.25, 3 * 0.25], atol=1e-6)
    # Gravity (0,0,-1) in a frame rolled +90 deg about x is (0, -1, 0) in the IMU frame; yaw +90 to base: (1, 0, 0).
    np.testing.assert_allclose(obs[3:6], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[6:8], [1.0, -0.2], atol=1e-6)  # linear.x limited to 1
    # (q - q0) * 2, clipped to 0.5: a: (0.4-0.3)*2 = 0.2; b: (-0.9+0.7)*2 = -0.4; first value fills the history.
    np.testing.assert_allclose(obs[8:14], [0.2, -0.4] * 3, atol=1e-6)
    np.testing.assert_allclose(obs[14:16], [0.1, -0.2], atol=1e-6)  # velocities in policy order, x 0.1
    np.testing.assert_allclose(obs[16:18], [0.0, 0.0])  # no action yet
    np.testing.assert_allclose(obs[18:20], [0.0, 1.0], atol=1e-6)  # sin 0, cos 0

    # Policy step: action (1, 3) -> clip 2 -> targets a: 0.3 + 0.5 = 0.8; b: -0.7 + 1.0 = 0.3 -> limit -0.2.
    targets = r.stage.map(np.array([1.0, 3.0], np.float32))
    np.testing.assert_allclose(targets, [0.8, -0.2])
    r.stage.publish(targets)

    r.t += 20_000_000
    r.joints({"a": 0.5, "b": -0.7}, {"a": 0.0, "b": 0.0})
    obs = r.build()
    # History oldest first: [t0, t0, t1]; t1: a (0.5-0.3)*2 = 0.4, b: 0.
    np.testing.assert_allclose(obs[8:14], [0.2, -0.4, 0.2, -0.4, 0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[16:18], [1.0, 2.0])  # last action after clip, before scale
    a = 2 * math.pi * 1.0 * 0.02  # one policy step of 20 ms
    np.testing.assert_allclose(obs[18:20], [math.sin(a), math.cos(a)], atol=1e-6)
    # The command stream goes stale (0.5 s): the command is zero.
    r.t += 600_000_000
    r.joints({"a": 0.5, "b": -0.7}, {"a": 0.0, "b": 0.0})
    r.imu((0, 0, 0), (0, 0, 0, 1))
    obs = r.build()
    np.testing.assert_allclose(obs[6:8], [0.0, 0.0])
    np.testing.assert_allclose(obs[3:6], [0.0, 0.0, -1.0], atol=1e-6)  # upright


def test_safe_actions_positions() -> None:
    r = Rig(safe_action="hold")
    r.joints({"a": 0.4, "b": -0.9}, {"a": 0.0, "b": 0.0})
    r.build()
    np.testing.assert_allclose(r.stage.compute_safe(), [0.3, -0.7])  # nothing published yet: the default pose
    r.stage.publish(r.stage.map(np.array([0.2, 0.0], np.float32)))
    np.testing.assert_allclose(r.stage.compute_safe(), [0.4, -0.7])  # the last healthy targets
    d = Rig(safe_action="damping")
    d.joints({"a": 0.4, "b": -0.9}, {"a": 0.0, "b": 0.0})
    d.build()
    np.testing.assert_allclose(d.stage.compute_safe(), [0.4, -0.9])  # target = measured: the PD only damps


def test_pd_torques_decimation_and_safe() -> None:
    r = Rig(output="joint_torques", stiffness={"a": 10.0, "b": 20.0}, damping=0.5, torque_limits=3.0,
            decimation=4, safe_damping=2.0, position_limits={})
    r.joints({"a": 0.3, "b": -0.7}, {"a": 1.0, "b": -1.0})
    r.build()
    assert r.stage.skip_policy() is False  # no targets yet: the policy runs
    tau = r.stage.map(np.array([0.2, -0.2], np.float32))  # targets a 0.4, b -0.8
    # a: 10*(0.4-0.3) - 0.5*1 = 0.5; b: 20*(-0.8+0.7) - 0.5*(-1) = -1.5
    np.testing.assert_allclose(tau, [0.5, -1.5], atol=1e-6)
    assert [r.stage.skip_policy() for _ in range(4)] == [True, True, True, False]  # policy every 4th tick
    r.joints({"a": 0.0, "b": -0.7}, {"a": 0.0, "b": 0.0})
    r.build()
    np.testing.assert_allclose(r.stage.between(), [3.0, -2.0], atol=1e-6)  # a: 10*0.4 = 4 -> limit 3
    np.testing.assert_allclose(r.stage.compute_safe(), [0.0, 0.0])  # damping at rest: no torque
    r.joints({"a": 0.0, "b": -0.7}, {"a": 1.0, "b": -0.5})
    r.build()
    np.testing.assert_allclose(r.stage.compute_safe(), [-2.0, 1.0])  # -2 * qdot
    r.t += 200_000_000  # joint state stale: zero torque
    np.testing.assert_allclose(r.stage.compute_safe(), [0.0, 0.0])


def test_pd_controller_limits() -> None:
    pd = PdController(np.array([100.0]), np.array([1.0]), np.array([5.0]))
    assert pd.compute(np.array([1.0]), np.array([0.0]), np.array([0.0]))[0] == 5.0
    assert pd.compute(np.array([0.0]), np.array([0.01]), np.array([0.5]))[0] == pytest.approx(-1.5)


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d["action"].update(joints=["a", "c"]), "action.default_positions lacks ['c']"),
    (lambda d: d["observation"]["terms"][3].update(joints=["a", "zz"]), "policy joints ['zz'] are never published"),
    (lambda d: d["action"].update(output="joint_torques"), "torque_limits"),
    (lambda d: d["observation"]["terms"][2].update(value=[0.1, 0.2]), "exactly one of 'stream'"),
    (lambda d: d["action"].update(decimation=2), "decimation applies to joint_torques"),
])
def test_profile_errors_name_the_field(change, fragment: str) -> None:  # noqa: ANN001
    d = profile_data()
    change(d)
    with pytest.raises(ProfileError) as e:
        parse_profile(d)
    assert fragment in str(e.value)


def test_missing_joint_detail_names_it() -> None:
    r = Rig()
    r.ingests["js"].on_message(NS(name=["a"], position=[0.1], velocity=[0.0], effort=[]))
    assert r.ingests["js"].missing_detail() == "joints never published: ['b']"


def test_build_allocates_nothing() -> None:
    import tracemalloc

    r = Rig(output="joint_torques", stiffness=10.0, torque_limits=3.0, decimation=2, position_limits={})
    r.joints({"a": 0.4, "b": -0.9}, {"a": 1.0, "b": -2.0})
    r.imu((1.0, 2.0, 3.0), (0, 0, 0, 1))
    action = np.zeros(2, np.float32)
    for _ in range(5):
        r.build(); r.stage.map(action); r.stage.between()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(200):
        r.builder.build(); r.stage.map(action); r.stage.between(); r.stage.compute_safe()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, grown
