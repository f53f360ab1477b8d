"""Message conversion rules of daemon/streams/ingest.py: partial JointState merges, missing fields, unknown joints,
IMU covariance -1, Twist inputs, and the same results for every message flavour (Cyclone IDL objects,
rosbags-deserialised objects, plain attribute objects standing in for rclpy's)."""

from __future__ import annotations

import array
from types import SimpleNamespace as NS

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from edgepilot.daemon.streams.ingest import StreamSnapshot, fields_read, make_ingest
from edgepilot.daemon.transport import ros_msgs as m
from tests.shipped_profile import shipped_profile_data

TS = get_typestore(Stores.ROS2_HUMBLE)
JOINTS = ["left_wheel_joint", "right_wheel_joint"]


class FakeClock:
    def __init__(self, t: int = 1_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def profile(**changes: object) -> object:
    d = shipped_profile_data()
    for k, v in changes.items():
        d[k] = v
    return parse_profile(d, base_dir=default_profile_path().parent)


def joint_ingest(clock: FakeClock, prof: object | None = None, joints: list[str] | None = None):  # type: ignore[no-untyped-def]
    p = prof or profile()
    cfg = p.streams["joint_states"]  # type: ignore[attr-defined]
    if joints is not None:
        cfg = cfg.model_copy(update={"joints": tuple(joints)})
    return make_ingest("joint_states", cfg, clock, p)  # type: ignore[arg-type]


def latest(ingest) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    snap = StreamSnapshot(ingest)
    snap.refresh(10**12)
    return snap.sample.copy(), snap.stamp_ns


def test_fields_read_from_the_profile() -> None:
    p = profile()
    # diffbot: joint_velocity term + odometry (positions); imu_angular_velocity term + odometry gyro.
    assert fields_read(p, "joint_states") == {"position", "velocity"}  # type: ignore[arg-type]
    assert fields_read(p, "imu") == {"angular_velocity"}  # type: ignore[arg-type]
    assert fields_read(p, "camera") == frozenset()  # type: ignore[arg-type]


def test_partial_messages_merge_and_age_by_the_stalest_joint() -> None:
    clock = FakeClock(1_000)
    ing = joint_ingest(clock, joints=["a", "b", "c"])
    ing.on_message(NS(name=["a", "b"], position=[1.0, 2.0], velocity=[0.1, 0.2], effort=[]))
    assert ing.ring.count == 0 and ing.dropped == 0  # "c" never heard: nothing to publish yet, nothing wrong
    clock.t = 2_000
    ing.on_message(NS(name=["c"], position=[3.0], velocity=[0.3], effort=[]))
    sample, stamp = latest(ing)
    np.testing.assert_array_equal(sample, [[1.0, 2.0, 3.0], [0.1, 0.2, 0.3]])
    assert stamp == 1_000  # the stream is as old as its stalest joint
    clock.t = 3_000
    ing.on_message(NS(name=["b", "a"], position=[20.0, 10.0], velocity=[0.0, 0.0], effort=[]))  # reordered too
    sample, stamp = latest(ing)
    np.testing.assert_array_equal(sample[0], [10.0, 20.0, 3.0])
    assert stamp == 2_000  # "c" was last heard at 2000
    assert ing.converter.partial_messages == 3 and ing.dropped == 0


def test_missing_velocity_dropped_when_a_term_reads_it_kept_otherwise() -> None:
    clock = FakeClock()
    ing = joint_ingest(clock)  # diffbot reads velocities (joint_velocity term)
    ing.on_message(NS(name=JOINTS, position=[1.0, 2.0], velocity=[], effort=[]))
    assert ing.dropped == 1 and "no velocities" in ing.last_error and ing.ring.count == 0
    # A profile whose terms read positions only: an empty velocity is fine and never read.
    d = shipped_profile_data()
    d["observation"]["terms"][0]["kind"] = "joint_position"
    p = parse_profile(d, base_dir=default_profile_path().parent)
    ing2 = joint_ingest(clock, p)
    ing2.on_message(NS(name=JOINTS, position=[1.0, 2.0], velocity=[], effort=[]))
    assert ing2.dropped == 0
    sample, _ = latest(ing2)
    np.testing.assert_array_equal(sample[0], [1.0, 2.0])
    # Positions are read by odometry: a message without them is dropped.
    ing2.on_message(NS(name=JOINTS, position=[], velocity=[1.0, 1.0], effort=[]))
    assert ing2.dropped == 1 and "no positions" in ing2.last_error


def test_unknown_joints_are_ignored_and_counted_no_known_joint_is_dropped() -> None:
    clock = FakeClock()
    ing = joint_ingest(clock)
    ing.on_message(NS(name=["gripper", *JOINTS], position=[9.0, 1.0, 2.0], velocity=[9.0, 0.5, 0.6], effort=[1.0, 2.0, 3.0]))
    assert ing.dropped == 0 and ing.converter.unknown_joint_messages == 1 and ing.converter.ignored_joints == {"gripper"}
    np.testing.assert_array_equal(latest(ing)[0], [[1.0, 2.0], [0.5, 0.6]])
    ing.on_message(NS(name=["gripper"], position=[1.0], velocity=[1.0], effort=[]))
    assert ing.dropped == 1 and "none of the configured joints" in ing.last_error


@pytest.mark.parametrize("bad, reason", [
    (NS(name=JOINTS, position=["1.0", "2.0"], velocity=[0.0, 0.0], effort=[]), "sequence of numbers"),
    (NS(name=JOINTS, position=[1.0, 2.0, 3.0], velocity=[0.0, 0.0], effort=[]), "one per name"),
    (NS(name=[*JOINTS, JOINTS[0]], position=[1.0, 2.0, 3.0], velocity=[0.0, 0.0, 0.0], effort=[]), "twice"),
    (NS(name="left_wheel_joint", position=[1.0], velocity=[0.0], effort=[]), "expected a sequence of strings"),
    (NS(name=[1, 2], position=[1.0, 2.0], velocity=[0.0, 0.0], effort=[]), "expected a string"),
    (NS(name=JOINTS, position=[[1.0], [2.0]], velocity=[0.0, 0.0], effort=[]), "sequence of numbers"),
    (NS(name=JOINTS, position=None, velocity=[0.0, 0.0], effort=[]), "expected a sequence of numbers"),
    (m.Imu(), "none of"),  # a message of another type on the topic
])
def test_malformed_joint_state_is_dropped_with_a_reason(bad: object, reason: str) -> None:
    clock = FakeClock()
    ing = joint_ingest(clock)
    ing.on_message(NS(name=JOINTS, position=[1.0, 2.0], velocity=[3.0, 4.0], effort=[]))
    ing.on_message(bad)
    assert ing.dropped == 1, ing.last_error
    assert reason in ing.last_error or "AttributeError" in ing.last_error, ing.last_error
    np.testing.assert_array_equal(latest(ing)[0], [[1.0, 2.0], [3.0, 4.0]])  # the good sample still stands
    assert ing.ring.count == 1


def test_every_message_flavour_converts_the_same() -> None:
    idl = m.JointState(name=["right_wheel_joint", "left_wheel_joint"], position=[2.0, 1.0], velocity=[0.2, 0.1])
    rosbags_msg = TS.deserialize_cdr(idl.serialize(), "sensor_msgs/msg/JointState")  # numpy arrays
    rclpy_like = NS(name=list(idl.name), position=array.array("d", idl.position), velocity=array.array("d", idl.velocity),
                    effort=array.array("d"))
    results = []
    for msg in (idl, rosbags_msg, rclpy_like):
        ing = joint_ingest(FakeClock())
        ing.on_message(msg)
        assert ing.dropped == 0, ing.last_error
        results.append(latest(ing)[0])
    for r in results:
        np.testing.assert_array_equal(r, [[1.0, 2.0], [0.1, 0.2]])


def test_imu_covariance_minus_one_means_absent() -> None:
    p = profile()
    cfg = p.streams["imu"]  # type: ignore[attr-defined]
    ing = make_ingest("imu", cfg, FakeClock(), p)  # type: ignore[arg-type]
    # Orientation absent: diffbot never reads it, so the message is kept and the quaternion stored as zeros.
    ing.on_message(m.Imu(orientation=m.Quaternion(x=0.5, y=0.5, z=0.5, w=0.5), orientation_covariance=[-1.0] + [0.0] * 8,
                         angular_velocity=m.Vector3(z=0.3), linear_acceleration=m.Vector3(z=9.8)))
    assert ing.dropped == 0
    np.testing.assert_array_equal(latest(ing)[0], [0, 0, 0.3, 0, 0, 9.8, 0, 0, 0, 0])
    # Angular velocity absent: the profile reads it (term and odometry), so the message is dropped.
    ing.on_message(m.Imu(angular_velocity_covariance=[-1.0] + [0.0] * 8, angular_velocity=m.Vector3(z=7.0)))
    assert ing.dropped == 1 and "angular_velocity is marked absent" in ing.last_error
    # Linear acceleration absent and unread: kept, stored as zeros.
    ing.on_message(m.Imu(linear_acceleration_covariance=[-1.0] + [0.0] * 8, angular_velocity=m.Vector3(z=0.4),
                         linear_acceleration=m.Vector3(z=99.0)))
    sample = latest(ing)[0]
    assert sample[2] == 0.4 and sample[5] == 0.0 and sample[9] == 1.0  # orientation present again: identity
    ing.on_message(m.Imu(orientation_covariance=[-1.0, 0.0]))
    assert ing.dropped == 2 and "expected 9" in ing.last_error
    ing.on_message(NS(angular_velocity=NS(x="0.1", y=0.0, z=0.0), linear_acceleration=NS(x=0.0, y=0.0, z=0.0),
                      orientation=NS(x=0.0, y=0.0, z=0.0, w=1.0)))
    assert ing.dropped == 3 and "expected a number" in ing.last_error


def test_twist_input_stream_feeds_a_twist_command_term() -> None:
    from edgepilot.daemon.observation.builder import ObservationBuilder

    d = shipped_profile_data()
    d["streams"]["cmd_in"] = {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/TwistStamped", "rate_hz": 10, "max_age_s": 0.5}
    d["observation"]["terms"].append({"kind": "twist_command", "stream": "cmd_in", "fields": ["angular.z", "linear.x"],
                                      "scale": 2.0})
    p = parse_profile(d, base_dir=default_profile_path().parent)
    assert p.streams["cmd_in"].qos is None and p.observation_size() == 7
    ingests = {n: make_ingest(n, c, FakeClock(), p) for n, c in p.streams.items()}
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    ingests["cmd_in"].on_message(m.TwistStamped(twist=m.Twist(linear=m.Vector3(x=0.25), angular=m.Vector3(z=-0.5))))
    ingests["cmd_in"].on_message(m.Twist())  # a Twist on a TwistStamped stream: mistyped, dropped
    assert ingests["cmd_in"].dropped == 1
    for s in snaps.values():
        s.refresh(10**9)
    from edgepilot.daemon.observation.odometry import WheelOdometry

    obs = ObservationBuilder(p, snaps, WheelOdometry(0.05)).build()
    np.testing.assert_allclose(obs[-2:], [-1.0, 0.5])
