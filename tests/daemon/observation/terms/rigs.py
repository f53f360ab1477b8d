"""Shared rigs for the term tests: the real ingest -> ring -> snapshot -> ObservationBuilder path.

``LeggedRig``: a joint-position policy profile with every joint-policy term (the robot publishes its joints
in another order than the policy's); ``legged_sequence`` runs the hand-worked three-tick sequence whose
slices each term's test checks. ``twist_pipeline``: the diffbot profile with its observation terms replaced.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import numpy as np

from edgepilot.daemon.action.joint import JointActionStage
from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from tests.shipped_profile import shipped_profile_data

JOINTS_ROBOT = ["b", "a"]   # the order the robot publishes
JOINTS_POLICY = ["a", "b"]  # the policy's order


def legged_profile_data(**action: object) -> dict:
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


class LeggedRig:
    def __init__(self, data: dict | None = None, **action: object) -> None:
        self.t = 1_000_000_000
        self.profile = parse_profile(data if data is not None else legged_profile_data(**action))
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


def legged_sequence() -> tuple[LeggedRig, list[np.ndarray]]:
    """Three ticks worked out by hand (the expected values are in each term's test):

    0. joints a 0.4 / b -0.9 (vel 1, -2); gyro (1, 2, 3) IMU frame; IMU rolled +90 deg about its x axis
       (q = (sin45, 0, 0, cos45)); command linear.x 3, angular.z -0.2. Then a policy step: action (1, 3).
    1. 20 ms later: joints a 0.5 / b -0.7, at rest.
    2. 600 ms later (the command stream, max_age 0.5 s, is stale): IMU level and upright.
    """
    r = LeggedRig()
    r.joints({"a": 0.4, "b": -0.9}, {"a": 1.0, "b": -2.0})
    s = math.sqrt(0.5)
    r.imu((1.0, 2.0, 3.0), (s, 0.0, 0.0, s))
    r.ingests["cmd"].on_message(NS(linear=NS(x=3.0, y=0.0, z=0.0), angular=NS(x=0.0, y=0.0, z=-0.2)))
    obs = [r.build()]
    # Policy step: action (1, 3) -> clip 2 -> targets a: 0.3 + 0.5 = 0.8; b: -0.7 + 1.0 = 0.3 -> limit -0.2.
    targets = r.stage.map(np.array([1.0, 3.0], np.float32))
    np.testing.assert_allclose(targets, [0.8, -0.2])
    r.stage.publish(targets)
    r.builder.policy_state.commit()  # the tick commits a step whose command is published (daemon/tick.py)
    r.t += 20_000_000
    r.joints({"a": 0.5, "b": -0.7}, {"a": 0.0, "b": 0.0})
    obs.append(r.build())
    r.t += 600_000_000
    r.joints({"a": 0.5, "b": -0.7}, {"a": 0.0, "b": 0.0})
    r.imu((0, 0, 0), (0, 0, 0, 1))
    obs.append(r.build())
    return r, obs


def twist_profile(terms: list[dict], joints: list[str] | None = None, extra_streams: dict | None = None) -> object:
    d = shipped_profile_data()
    if joints is not None:
        d["streams"]["joint_states"]["joints"] = joints
    d["streams"].update(extra_streams or {})
    d["observation"]["terms"] = terms
    return parse_profile(d, base_dir=default_profile_path().parent)


def twist_pipeline(profile: object, odometry: WheelOdometry | None = None) -> tuple[dict, dict, ObservationBuilder]:
    ingests = {n: make_ingest(n, c, None, profile) for n, c in profile.streams.items()}  # type: ignore[attr-defined]
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    return ingests, snaps, ObservationBuilder(profile, snaps, odometry)  # type: ignore[arg-type]


def joint_msg(names: list[str], pos: dict[str, float], vel: dict[str, float]) -> NS:
    return NS(header=NS(stamp=NS(sec=0, nanosec=0), frame_id=""), name=list(names),
              position=[pos[n] for n in names], velocity=[vel[n] for n in names], effort=[])


def imu_msg(wx: float, wy: float, wz: float, ax: float = 0.0, ay: float = 0.0, az: float = 9.81) -> NS:
    return NS(angular_velocity=NS(x=wx, y=wy, z=wz), linear_acceleration=NS(x=ax, y=ay, z=az),
              orientation=NS(x=0.0, y=0.0, z=0.0, w=1.0))


def refresh(snaps: dict, now: int | None = None) -> None:
    import time

    now = time.monotonic_ns() if now is None else now
    for s in snaps.values():
        s.refresh(now)
