"""goal_relative: the goal in the body frame from the daemon's odometry."""

from __future__ import annotations

import math

import pytest

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from tests.shipped_profile import shipped_profile_data


def test_goal_term_uses_odometry_in_body_frame() -> None:
    d = shipped_profile_data()
    profile = parse_profile(d, base_dir=default_profile_path().parent)
    ingests = {n: make_ingest(n, c) for n, c in profile.streams.items()}
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    odo = WheelOdometry(0.05)
    builder = ObservationBuilder(profile, snaps, odo)
    odo.x, odo.y, odo.yaw = 1.0, 0.0, math.pi / 2  # at (1, 0) facing +y; goal (2, 1) is 1 m ahead, 1 m to the right
    obs = builder.build()
    assert obs[3] == pytest.approx(0.5 * 1.0, abs=1e-6)   # forward, scaled by 0.5
    assert obs[4] == pytest.approx(0.5 * -1.0, abs=1e-6)  # left (negative: to the right)
    odo.x, odo.y, odo.yaw = 0.0, 0.0, 0.0
    obs = builder.build()  # the same array, refilled
    assert obs[3] == pytest.approx(1.0) and obs[4] == pytest.approx(0.5)  # (2, 1) * 0.5
    goal = profile.observation.terms[2]
    ctx = profile.term_context()
    assert goal.size(ctx) == 2
    # The odometry's streams define its freshness: they are the latency streams of the goal.
    assert goal.streams(ctx) == goal.latency_streams(ctx) == ("joint_states", "imu")
    assert builder.streams_read == ("joint_states", "imu")


def test_needs_an_odometry_section() -> None:
    d = shipped_profile_data()
    d.pop("odometry")
    with pytest.raises(ProfileError, match=r"observation.terms\[2\] \(goal_relative\) needs an 'odometry' section"):
        parse_profile(d, base_dir=default_profile_path().parent)
    d = shipped_profile_data()
    d["observation"]["terms"][2]["goal_xy"] = [1.0]
    with pytest.raises(ProfileError, match="observation.terms.2.goal_xy"):
        parse_profile(d, base_dir=default_profile_path().parent)
