"""Observation vectors of fixed profiles on fixed, seeded inputs, as float32 bit patterns.

``golden_observations.json`` holds what the observation builder of main (before the term registry, issue 15)
produced for these cases; test_golden_observations.py checks the current builder gives the same bits. Run
``python -m tests.daemon.observation.golden_harness > tests/daemon/observation/golden_observations.json`` to
regenerate (only when a change of the vectors is intended). Uses only the stable API (parse_profile,
make_ingest, StreamSnapshot, ObservationBuilder, policy_state), so it runs on old and new code alike.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import yaml

from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from tests.shipped_profile import shipped_profile_data
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest

ROOT = Path(__file__).resolve().parents[3]
TICKS = 6
_TWIST_FIELDS = ["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _diffbot_all_twist_terms() -> dict:
    d = shipped_profile_data()
    d["streams"]["joint_states"]["joints"] = ["hip", "left_wheel_joint", "knee", "right_wheel_joint"]
    d["streams"]["cmd_in"] = {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/TwistStamped", "rate_hz": 10,
                              "max_age_s": 0.5}
    d["observation"]["terms"] = [
        {"kind": "joint_position", "stream": "joint_states", "joints": ["knee", "hip", "right_wheel_joint"],
         "offset": -0.25, "scale": 3.0, "clip": [-2.0, 2.5]},
        {"kind": "joint_velocity", "stream": "joint_states", "joints": ["left_wheel_joint", "knee"]},
        {"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z", "x", "y", "x"], "scale": -0.5},
        {"kind": "imu_linear_acceleration", "stream": "imu", "axes": ["y", "z"], "offset": 0.125, "clip": [-1.0, 1.0]},
        {"kind": "goal_relative", "goal_xy": [2.0, -1.5], "scale": 0.5, "clip": [-1.5, 1.5]},
        {"kind": "twist_command", "stream": "cmd_in", "fields": ["angular.z", "linear.x", "linear.y"], "scale": 2.0},
        {"kind": "goal_relative", "goal_xy": [-0.5, 0.25]},
    ]
    return d


def _quadruped_variants() -> dict:
    d = _yaml(ROOT / "examples/quadruped/quadruped.yaml")
    terms = d["observation"]["terms"]
    joints = d["action"]["joints"]
    terms += [
        {"kind": "velocity_command", "value": [0.5, -0.25], "fields": ["linear.x", "angular.z"], "history": 3,
         "offset": 0.1, "scale": 2.0},
        {"kind": "joint_velocity_policy", "stream": "joint_states", "joints": list(reversed(joints[:3])), "history": 2,
         "clip": [-0.5, 0.5]},
        {"kind": "joint_position_relative", "stream": "joint_states", "joints": joints[2:5], "offset": 0.05},
        {"kind": "gait_phase", "frequency_hz": 2.5, "history": 4, "scale": -1.0},
        {"kind": "last_action", "history": 2, "scale": 0.5, "clip": [-0.75, 0.75]},
        {"kind": "base_angular_velocity", "stream": "imu", "imu_mounting_rpy": [0.1, -0.2, 0.3], "history": 2},
        {"kind": "projected_gravity", "stream": "imu", "imu_mounting_rpy": [0.3, 0.2, -0.1], "offset": -0.5},
        # Twist-policy terms beside the joint action (allowed today).
        {"kind": "joint_position", "stream": "joint_states", "joints": joints[:2], "scale": 1.5},
        {"kind": "imu_linear_acceleration", "stream": "imu", "axes": ["z"]},
    ]
    return d


def cases() -> dict[str, tuple[dict, Path]]:
    q = ROOT / "examples/quadruped/quadruped.yaml"
    return {
        # Without the shipped integrity limits: the harness's messages carry synthetic stamps and constant values.
        "diffbot": (shipped_profile_data(), default_profile_path().parent),
        "diffbot_all_twist_terms": (_diffbot_all_twist_terms(), default_profile_path().parent),
        "quadruped": (_yaml(q), q.parent),
        "quadruped_variants": (_quadruped_variants(), q.parent),
    }


def _value(rng: np.random.Generator) -> float:
    r = rng.random()
    if r < 0.08:
        return -0.0  # signed zeros must survive as they did
    if r < 0.14:
        return 0.0
    return float(rng.uniform(-4.0, 4.0))


def _message(cfg, rng: np.random.Generator):  # noqa: ANN001
    v3 = lambda: NS(x=_value(rng), y=_value(rng), z=_value(rng))  # noqa: E731
    if cfg.type.endswith("JointState"):
        names = list(cfg.joints)
        rng.shuffle(names)
        return NS(header=NS(stamp=NS(sec=0, nanosec=0), frame_id=""), name=names,
                  position=[_value(rng) for _ in names], velocity=[_value(rng) for _ in names], effort=[])
    if cfg.type.endswith("Imu"):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        return NS(header=NS(stamp=NS(sec=0, nanosec=0), frame_id=""), angular_velocity=v3(), linear_acceleration=v3(),
                  orientation=NS(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
                  orientation_covariance=[0.0] * 9, angular_velocity_covariance=[0.0] * 9,
                  linear_acceleration_covariance=[0.0] * 9)
    if cfg.type.endswith("TwistStamped"):
        return NS(header=NS(stamp=NS(sec=0, nanosec=0), frame_id=""), twist=NS(linear=v3(), angular=v3()))
    if cfg.type.endswith("Twist"):
        return NS(linear=v3(), angular=v3())
    return None  # images: no term reads them here


def run_case(data: dict, base_dir: Path, seed: int = 7) -> list[list[int]]:
    profile = parse_profile(copy.deepcopy(data), base_dir=base_dir)
    t = [1_000_000_000]
    clock = lambda: t[0]  # noqa: E731
    ingests = {n: make_ingest(n, c, clock, profile) for n, c in profile.streams.items()}
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    odo = WheelOdometry(0.05)
    builder = ObservationBuilder(profile, snaps, odo)
    rng = np.random.default_rng(seed)
    out = []
    for tick in range(TICKS):
        for name, cfg in profile.streams.items():
            if tick == 3 and cfg.type.startswith("geometry_msgs"):
                continue  # a command that goes stale
            msg = _message(cfg, rng)
            if msg is not None:
                ingests[name].on_message(msg)
        t[0] += 20_000_000 if tick != 4 else 700_000_000
        for s in snaps.values():
            s.refresh(t[0])
        odo.update(_value(rng), _value(rng), _value(rng), 0.02)
        ps = builder.policy_state
        if ps.last_action.size:
            ps.last_action[:] = [_value(rng) for _ in range(ps.last_action.size)]
        ps.steps = tick * 3
        obs = builder.build()
        assert obs.dtype == np.float32 and obs.size == profile.observation_size()
        out.append([int(x) for x in obs.view(np.uint32)])
    return out


def all_cases() -> dict[str, list[list[int]]]:
    return {name: run_case(d, base) for name, (d, base) in cases().items()}


if __name__ == "__main__":
    print(json.dumps(all_cases(), indent=None))
