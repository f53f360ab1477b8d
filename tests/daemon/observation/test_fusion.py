"""Fusion: messages through the real ingest → ring → snapshot → ObservationBuilder path.

Joint values must land in policy order by *name*, whatever order the robot
publishes them in; bad messages are counted and dropped, never half-applied.
"""

from __future__ import annotations

import copy
import math
import time
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from tests.shipped_profile import shipped_profile_data

JOINTS = ["hip", "knee", "ankle", "wheel"]


def profile_with_joints(policy_order: list[str]) -> object:
    d = shipped_profile_data()
    d["streams"]["joint_states"]["joints"] = list(JOINTS) + ["left_wheel_joint", "right_wheel_joint"]
    d["observation"]["terms"] = [
        {"kind": "joint_position", "stream": "joint_states", "joints": policy_order},
        {"kind": "joint_velocity", "stream": "joint_states", "joints": policy_order, "scale": 2.0, "offset": 1.0},
        {"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z", "x"], "clip": [-1.0, 1.0]},
    ]
    return parse_profile(d, base_dir=default_profile_path().parent)


def joint_msg(names: list[str], pos: dict[str, float], vel: dict[str, float]) -> NS:
    return NS(header=NS(stamp=NS(sec=0, nanosec=0), frame_id=""), name=list(names),
              position=[pos[n] for n in names], velocity=[vel[n] for n in names], effort=[])


def imu_msg(wx: float, wy: float, wz: float) -> NS:
    v = NS(x=wx, y=wy, z=wz)
    return NS(angular_velocity=v, linear_acceleration=NS(x=0.0, y=0.0, z=9.81), orientation=NS(x=0.0, y=0.0, z=0.0, w=1.0))


def pipeline(profile: object) -> tuple[dict, dict, ObservationBuilder]:
    ingests = {n: make_ingest(n, c) for n, c in profile.streams.items()}  # type: ignore[attr-defined]
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    return ingests, snaps, ObservationBuilder(profile, snaps, None)  # type: ignore[arg-type]


# Joints mapped by name in any order: terms/test_joint_state.py.


def test_malformed_joint_messages_are_counted_and_dropped() -> None:
    profile = profile_with_joints(JOINTS)
    ingests, snaps, builder = pipeline(profile)
    ing = ingests["joint_states"]
    all_j = JOINTS + ["left_wheel_joint", "right_wheel_joint"]
    good = joint_msg(all_j, {n: 1.0 for n in all_j}, {n: 2.0 for n in all_j})
    ing.on_message(good)
    # (A message with only some of the joints is a partial message and merges: tests/daemon/streams/test_streams_messages.py.)
    wrong_length = joint_msg(all_j, {n: 9.0 for n in all_j}, {n: 9.0 for n in all_j})
    wrong_length.position = wrong_length.position[:-1]
    short = copy.copy(good)
    short.velocity = []
    for bad in (wrong_length, short, NS(name=None), "garbage"):
        ing.on_message(bad)
    assert ing.received == 5 and ing.dropped == 4
    assert "right_wheel_joint" in ing.last_error or "velocities" in ing.last_error or ing.last_error
    snaps["joint_states"].refresh(time.monotonic_ns())
    # The newest *valid* sample is still the good one: the half-filled slot of the bad message was never published.
    assert np.all(snaps["joint_states"].sample[0] == 1.0)
    assert ing.ring.count == 1


def test_image_size_and_encoding_checked_and_row_padding_removed() -> None:
    profile = profile_with_joints(JOINTS)
    ingests, snaps, _ = pipeline(profile)
    cam = ingests["camera"]
    h, w = 48, 64
    step = w * 3 + 8  # padded rows, as some drivers publish
    raw = np.zeros((h, step), np.uint8)
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    raw[:, : w * 3] = img.reshape(h, w * 3)
    cam.on_message(NS(height=h, width=w, encoding="rgb8", step=step, data=raw.tobytes(), is_bigendian=0))
    cam.on_message(NS(height=h, width=w + 1, encoding="rgb8", step=step, data=raw.tobytes(), is_bigendian=0))
    cam.on_message(NS(height=h, width=w, encoding="bgr8", step=step, data=raw.tobytes(), is_bigendian=0))
    cam.on_message(NS(height=h, width=w, encoding="rgb8", step=step, data=raw.tobytes()[:-100], is_bigendian=0))
    assert cam.dropped == 3
    snaps["camera"].refresh(time.monotonic_ns())
    np.testing.assert_array_equal(snaps["camera"].sample, img)


def test_nonfinite_sample_is_flagged() -> None:
    profile = profile_with_joints(JOINTS)
    ingests, snaps, _ = pipeline(profile)
    snaps["imu"].sample  # a consumer of the IMU's values (the daemon's odometry binds it the same way)
    ingests["imu"].on_message(imu_msg(0.0, math.nan, 0.0))
    snaps["imu"].refresh(time.monotonic_ns())
    assert snaps["imu"].finite is False
    ingests["imu"].on_message(imu_msg(0.0, math.inf, 0.0))
    snaps["imu"].refresh(time.monotonic_ns())
    assert snaps["imu"].finite is False
    ingests["imu"].on_message(imu_msg(0.0, 1.0, 0.0))
    snaps["imu"].refresh(time.monotonic_ns())
    assert snaps["imu"].finite is True


def test_missing_stream_has_infinite_age() -> None:
    profile = profile_with_joints(JOINTS)
    _, snaps, _ = pipeline(profile)
    snaps["imu"].refresh(time.monotonic_ns())
    assert snaps["imu"].stamp_ns == -1 and snaps["imu"].age_s == math.inf


# The goal in the body frame: terms/test_goal_relative.py.


def test_odometry_straight_line_and_turn() -> None:
    odo = WheelOdometry(0.05)
    odo.update(10.0, 20.0, 0.0, 0.0)  # first reading: reference only (encoders do not start at zero)
    assert (odo.x, odo.y) == (0.0, 0.0)
    for k in range(1, 101):  # 1 m straight: 20 rad per wheel at r=0.05
        odo.update(10.0 + 0.2 * k, 20.0 + 0.2 * k, 0.0, 0.02)
    assert odo.x == pytest.approx(1.0) and odo.y == pytest.approx(0.0)
    for _ in range(50):  # turn on the spot at pi/2 rad/s for 1 s
        odo.update(30.0, 40.0, math.pi / 2, 0.02)
    assert odo.yaw == pytest.approx(math.pi / 2) and odo.x == pytest.approx(1.0)


def test_action_mapper_scales_clips_and_keeps_nan() -> None:
    profile = parse_profile(shipped_profile_data(), base_dir=default_profile_path().parent)
    m = TwistActionMapper(profile.action)
    cmd = m.map(np.array([0.5, -2.0], np.float32))
    np.testing.assert_allclose(cmd, [0.2, 0, 0, 0, 0, -1.5], rtol=1e-6)
    assert m.map(np.array([0.5, -2.0], np.float32)) is cmd
    assert math.isnan(m.map(np.array([math.nan, 0.0], np.float32))[0])


def test_a_stream_nobody_reads_is_not_copied_and_the_first_reader_gets_the_newest_sample() -> None:
    # The camera of the example profile feeds no term: its ticks read the stamp alone (no 921 kB copy for a
    # 640x480 frame), and the first access to .sample copies at once, so no consumer sees stale zeros.
    profile = profile_with_joints(JOINTS)
    ingests, snaps, _ = pipeline(profile)
    cam, snap = ingests["camera"], snaps["camera"]
    assert not snap.copies_payload
    h, w = profile.streams["camera"].height, profile.streams["camera"].width
    img = np.random.default_rng(1).integers(1, 255, (h, w, 3), dtype=np.uint8)
    cam.on_message(NS(height=h, width=w, encoding="rgb8", step=w * 3, data=img.tobytes(), is_bigendian=0))
    now = time.monotonic_ns()
    snap.refresh(now)
    assert snap.stamp_ns == cam.ring.latest_stamp() >= 0 and snap.age_s >= 0
    assert not snap.copies_payload and not snap._sample.any()  # stamp only: the payload stayed in the ring
    np.testing.assert_array_equal(snap.sample, img)
    assert snap.copies_payload
    img2 = img[::-1].copy()
    cam.on_message(NS(height=h, width=w, encoding="rgb8", step=w * 3, data=img2.tobytes(), is_bigendian=0))
    snap.refresh(time.monotonic_ns())
    np.testing.assert_array_equal(snap.sample, img2)
