"""DdsTransport over real Cyclone DDS on loopback (CYCLONEDDS_URI is set by tests/conftest.py).

Discovery takes a moment, so the tests wait for matched endpoints (or retry
until the first receipt) under a deadline instead of sleeping a fixed time.

(No ``from __future__ import annotations``: a test defines an IDL class, and
Cyclone resolves field annotations at runtime.)
"""

import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.transport import ros_msgs as m
from edgepilot.daemon.transport.dds.participant import DdsTransport, TransportClosed

DISCOVERY_TIMEOUT_S = 5.0


class Inbox:
    """Collects messages delivered on Cyclone's threads."""

    def __init__(self) -> None:
        self.msgs: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self.cond:
            self.msgs.append(msg)
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.msgs), timeout=timeout)


@pytest.fixture
def transport(dds_domain: int):  # type: ignore[no-untyped-def]
    t = DdsTransport(dds_domain)
    yield t
    t.close()


@pytest.fixture
def peer(dds_domain: int):  # type: ignore[no-untyped-def]
    """A second participant that publishes to ``transport``: one participant may not both subscribe to and publish
    a topic (daemon/transport/dds/topic_guard.py)."""
    t = DdsTransport(dds_domain)
    yield t
    t.close()


def publish_until_received(publish: Callable[[], None], inbox: Inbox, timeout: float = DISCOVERY_TIMEOUT_S) -> None:
    """Publish repeatedly until the first message arrives: discovery without fixed sleeps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publish()
        if inbox.wait_for(lambda msgs: len(msgs) > 0, timeout=0.05):
            return
    raise AssertionError(f"nothing received within {timeout} s")


def test_twist_and_joint_state_roundtrip_in_one_process(transport: DdsTransport, peer: DdsTransport) -> None:
    twists, joints = Inbox(), Inbox()
    transport.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", twists)
    transport.subscribe("/joint_states", "sensor_msgs/msg/JointState", joints)

    cmd = peer.twist_publisher("/cmd_vel")
    assert cmd.wait_for_subscribers(1, timeout=DISCOVERY_TIMEOUT_S)
    command = np.array([0.5, -0.25, 0.0, 0.0, 0.125, -1.5])
    cmd.publish(command)
    assert twists.wait_for(lambda msgs: len(msgs) >= 1, timeout=2.0)
    t = twists.msgs[-1]
    assert isinstance(t, m.Twist)
    assert [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z] == command.tolist()
    with pytest.raises(ValueError):
        cmd.publish(np.zeros(5))

    pub = peer.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
    assert pub.wait_for_subscribers(1, timeout=DISCOVERY_TIMEOUT_S)
    sent = m.JointState(header=m.Header(stamp=m.Time(sec=12, nanosec=345), frame_id="base_link"),
                        name=["left_wheel", "right_wheel"], position=np.array([1.5, -2.5]), velocity=[0.25, 0.75])
    publish_until_received(lambda: pub.publish(sent), joints)
    js = joints.msgs[0]
    assert (js.header.stamp.sec, js.header.stamp.nanosec, js.header.frame_id) == (12, 345, "base_link")
    assert js.name == ["left_wheel", "right_wheel"]
    assert list(js.position) == [1.5, -2.5] and list(js.velocity) == [0.25, 0.75] and list(js.effort) == []
    with pytest.raises(TypeError):
        pub.publish(m.Twist())


def test_image_and_imu_roundtrip(transport: DdsTransport, peer: DdsTransport) -> None:
    images, imus = Inbox(), Inbox()
    transport.subscribe("/camera/image_raw", "sensor_msgs/msg/Image", images)
    transport.subscribe("/imu/data", "sensor_msgs/msg/Imu", imus)
    cam = peer.publisher("/camera/image_raw", "sensor_msgs/msg/Image", reliable=False)
    imu = peer.publisher("/imu/data", m.Imu, reliable=False)
    frame = np.random.default_rng(1).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    publish_until_received(lambda: cam.publish(m.Image(height=48, width=64, encoding="rgb8", step=192, data=frame)), images)
    got = images.msgs[0]
    assert (got.height, got.width, got.encoding, got.step) == (48, 64, "rgb8", 192)
    assert isinstance(got.data, bytes)
    np.testing.assert_array_equal(np.frombuffer(got.data, np.uint8).reshape(48, 64, 3), frame)
    publish_until_received(lambda: imu.publish(m.Imu(angular_velocity=m.Vector3(z=0.5))), imus)
    assert imus.msgs[0].angular_velocity.z == 0.5 and imus.msgs[0].orientation.w == 1.0


CHILD_PUBLISHER = textwrap.dedent(
    """
    import sys, time
    from edgepilot.daemon.transport import ros_msgs as m
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    domain, count, hz = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    t = DdsTransport(domain)
    pub = t.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
    if not pub.wait_for_subscribers(1, timeout=10.0):
        sys.exit("no subscriber matched")
    time.sleep(0.2)  # the reader's side of discovery may finish a moment after the writer's
    period, start = 1.0 / hz, time.monotonic()
    for i in range(count):
        pub.publish(m.JointState(header=m.Header(stamp=m.Time(sec=i, nanosec=7 * i), frame_id="base_link"),
                                 name=["j0", "j1"], position=[float(i), i * 0.5], velocity=[-float(i), 2.0], effort=[]))
        time.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
    time.sleep(0.1)
    t.close()
    """
)


def test_joint_states_from_another_process(transport: DdsTransport, dds_domain: int) -> None:
    inbox = Inbox()
    transport.subscribe("/joint_states", "sensor_msgs/msg/JointState", inbox)
    assert os.environ["CYCLONEDDS_URI"].endswith("cyclonedds_loopback.xml")
    child = subprocess.Popen([sys.executable, "-c", CHILD_PUBLISHER, str(dds_domain), "200", "200"],
                             env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, out
    inbox.wait_for(lambda msgs: len(msgs) >= 200, timeout=1.0)
    msgs = list(inbox.msgs)
    assert len(msgs) >= 150, f"received only {len(msgs)} of 200 (best effort on loopback)"
    seen = set()
    for js in msgs:
        i = js.header.stamp.sec
        assert 0 <= i < 200 and i not in seen
        seen.add(i)
        assert js.header.stamp.nanosec == 7 * i and js.header.frame_id == "base_link"
        assert js.name == ["j0", "j1"]
        assert list(js.position) == [float(i), i * 0.5] and list(js.velocity) == [-float(i), 2.0] and list(js.effort) == []
    assert [js.header.stamp.sec for js in msgs] == sorted(seen)  # in order, from one writer
    assert transport.decode_errors == 0 and transport.callback_errors == 0


def test_raising_callback_does_not_stop_delivery(transport: DdsTransport, peer: DdsTransport) -> None:
    inbox = Inbox()

    def flaky(msg: m.String) -> None:
        inbox(msg)
        if msg.data.startswith("boom"):
            raise RuntimeError("callback failure")

    transport.subscribe("/chatter", "std_msgs/msg/String", flaky)  # reliable, ROS default QoS
    pub = peer.publisher("/chatter", "std_msgs/msg/String", reliable=True)
    assert pub.wait_for_subscribers(1, timeout=DISCOVERY_TIMEOUT_S)
    publish_until_received(lambda: pub.publish(m.String(data="boom-0")), inbox)
    errors_before = transport.callback_errors
    assert errors_before >= 1
    for i in range(1, 6):
        pub.publish(m.String(data=f"boom-{i}"))
    pub.publish(m.String(data="fine"))
    assert inbox.wait_for(lambda msgs: any(x.data == "fine" for x in msgs), timeout=2.0)
    assert transport.callback_errors == errors_before + 5
    assert "callback failure" in transport.last_error


def test_undecodable_sample_is_dropped_and_counted(transport: DdsTransport, peer: DdsTransport, dds_domain: int) -> None:
    """A buggy publisher: the type and layout of Image, but an encoding string that is not UTF-8.

    (Cyclone itself rejects structurally broken CDR, e.g. a length field
    overstating the data; invalid UTF-8 gets through to Python's decoder.)
    """
    from dataclasses import dataclass, field

    from cyclonedds.domain import DomainParticipant
    from cyclonedds.idl import IdlStruct
    from cyclonedds.idl._machinery import StringMachine
    from cyclonedds.idl.types import sequence, uint8, uint32
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from edgepilot.daemon.transport.dds.participant import SENSOR_QOS

    @dataclass
    class BrokenImage(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
        header: m.Header = field(default_factory=m.Header)
        height: uint32 = 0
        width: uint32 = 0
        encoding: str = ""
        is_bigendian: uint8 = 0
        step: uint32 = 0
        data: sequence[uint8] = b""

    class NotUtf8(StringMachine):
        def serialize(self, buffer, value, *args, **kwargs):  # type: ignore[no-untyped-def]
            raw = b"\xff\xfe" + value.encode()
            buffer.align(4)
            buffer.write("I", 4, len(raw) + 1)
            buffer.write_bytes(raw)
            buffer.write("b", 1, 0)

    idl = BrokenImage.__idl__
    idl.populate()
    for machine in (idl.v1_machine, idl.v2_machine):
        machine.members_machines["encoding"] = NotUtf8()

    inbox = Inbox()
    transport.subscribe("/camera/image_raw", "sensor_msgs/msg/Image", inbox)
    dp = DomainParticipant(dds_domain)
    try:
        writer = DataWriter(dp, Topic(dp, m.dds_topic_name("/camera/image_raw"), BrokenImage), qos=SENSOR_QOS)
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
        while transport.decode_errors == 0 and time.monotonic() < deadline:
            writer.write(BrokenImage(height=1, width=1, encoding="rgb8", step=3, data=b"abc"))
            time.sleep(0.01)
        assert transport.decode_errors >= 1
        assert "UnicodeDecodeError" in transport.last_error
        assert inbox.msgs == []
        # Still delivering: a good image from a good publisher arrives afterwards.
        cam = peer.publisher("/camera/image_raw", "sensor_msgs/msg/Image", reliable=False)
        publish_until_received(lambda: cam.publish(m.Image(height=1, width=1, encoding="rgb8", step=3, data=b"xyz")), inbox)
        assert inbox.msgs[0].data == b"xyz"
    finally:
        dp.__del__()


def test_close_is_idempotent(dds_domain: int, peer: DdsTransport) -> None:
    t = DdsTransport(dds_domain)
    inbox = Inbox()
    peer.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", inbox)
    pub = t.twist_publisher("/cmd_vel")
    assert pub.wait_for_subscribers(1, timeout=DISCOVERY_TIMEOUT_S)
    pub.publish(np.zeros(6))
    t0 = time.monotonic()
    t.close()
    t.close()
    assert time.monotonic() - t0 < 2.0
    assert t.closed
    with pytest.raises(TransportClosed):
        pub.publish(np.zeros(6))
    with pytest.raises(TransportClosed):
        t.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", inbox)
    assert pub.matched_subscriptions() == 0


def test_twist_publish_does_not_block_without_readers(transport: DdsTransport) -> None:
    pub = transport.twist_publisher("/cmd_vel")
    t0 = time.monotonic()
    for _ in range(500):
        pub.publish(np.ones(6))
    assert time.monotonic() - t0 < 1.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=6, max_size=6))
def test_twist_publisher_bytes_equal_the_idl_serialiser(transport: DdsTransport, values: list) -> None:
    # The loop's Twist publisher writes CDR it lays out itself (dds.DdsTwistPublisher): it must be exactly what
    # cyclonedds' serialiser (and so rmw_cyclonedds_cpp) produces, and decode back to the same values.
    pub = transport.twist_publisher("/cmd_vel")
    raw = pub.encode(np.array(values))
    ref = m.Twist(linear=m.Vector3(x=values[0], y=values[1], z=values[2]),
                  angular=m.Vector3(x=values[3], y=values[4], z=values[5])).serialize(use_version_2=False)
    assert raw == ref
    back = m.Twist.deserialize(raw)
    assert [back.linear.x, back.linear.y, back.linear.z, back.angular.x, back.angular.y, back.angular.z] == values


def test_twist_publisher_refuses_wrong_shapes_instead_of_broadcasting(transport: DdsTransport) -> None:
    pub = transport.twist_publisher("/cmd_vel")
    for bad in (np.float64(1.0), np.ones(1), np.ones(7), np.ones((2, 3))):
        with pytest.raises(ValueError, match="6 elements"):
            pub.publish(bad)


def test_callback_threads_can_be_raised_to_a_real_time_priority(dds_domain: int) -> None:
    """What the daemon does for its fault-injection topic (daemon/service.py): the threads that run callbacks (and
    hold the interpreter lock meanwhile) get a real-time priority; a remote sample's callback then runs on one."""
    t = DdsTransport(dds_domain)
    seen: list[tuple[str, int]] = []

    def on_message(msg: Any) -> None:
        tid = threading.get_native_id()
        with open(f"/proc/self/task/{tid}/comm") as f:
            seen.append((f.read().strip(), os.sched_getscheduler(tid)))

    try:
        t.subscribe("/joint_states", "sensor_msgs/msg/JointState", on_message)
        assert t.set_callback_priority(None) == "not requested"
        said = t.set_callback_priority(3)
        child = subprocess.Popen([sys.executable, "-c", CHILD_PUBLISHER, str(dds_domain), "20", "100"],
                                 env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = child.communicate(timeout=20)
        assert child.returncode == 0, out
    finally:
        t.close()
    assert seen, "no callback ran"
    if said.startswith("refused"):  # no CAP_SYS_NICE here: said so, and nothing changed
        assert "PermissionError" in said and seen[0][1] == os.SCHED_OTHER
    else:
        assert said.startswith("SCHED_FIFO 3 (") and "recv" in said, said
        assert all(name in ("recv", "recvUC", "recvMC", "dq.user") and policy == os.SCHED_FIFO
                   for name, policy in seen), seen[:3]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own thread is not one of them
