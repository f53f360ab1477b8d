"""The ros2 transport and the lifecycle node, against real rclpy. Needs a sourced ROS 2 install.

Here (no ROS 2) the module is skipped as a whole; what it builds on runs in
every other test: the converters take rclpy-shaped messages
(test_streams_messages.py: ``array.array`` sequences), outputs are built by
the same code the dds and replay transports use (test_outputs_over_dds.py,
test_replay_record.py), and the parameter mapping is plain Python
(test_tunable_parameters.py).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy needs a sourced ROS 2 install (e.g. the Isaac ROS container); "
                                            "not installable on this machine")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from edgepilot.daemon.config.profile import load_profile, default_profile_path  # noqa: E402
from edgepilot.ros2_lifecycle import EdgepilotLifecycleNode  # noqa: E402
from edgepilot.daemon.transport.ros2.rclpy_transport import RclpyTransport  # noqa: E402


@pytest.fixture
def ros(dds_domain: int):  # type: ignore[no-untyped-def]
    os.environ["ROS_DOMAIN_ID"] = str(dds_domain)
    rclpy.init()
    yield
    rclpy.try_shutdown()


def _spin(node) -> tuple[MultiThreadedExecutor, threading.Thread]:  # type: ignore[no-untyped-def]
    ex = MultiThreadedExecutor(num_threads=4)
    ex.add_node(node)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    return ex, th


def test_transport_round_trip_and_qos(ros: None) -> None:
    from sensor_msgs.msg import Imu

    node = rclpy.create_node("edgepilot_test")
    ex, _ = _spin(node)
    t = RclpyTransport.for_node(node)
    got: list = []
    t.subscribe("/imu/data", "sensor_msgs/msg/Imu", got.append)
    pub = node.create_publisher(Imu, "/imu/data", 10)
    cmd = t.twist_publisher("/cmd_vel", stamped=True, frame_id="base_link")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        msg = Imu()
        msg.angular_velocity.z = 0.5
        pub.publish(msg)
        time.sleep(0.05)
    assert got and got[0].angular_velocity.z == 0.5
    cmd.publish(np.array([0.1, 0, 0, 0, 0, 0.2]))
    assert t.loop_clock is None  # use_sim_time is false by default
    t.close()
    ex.shutdown()
    node.destroy_node()


def test_lifecycle_configure_activate_deactivate_publishes_zero(ros: None, tmp_path: Path) -> None:
    from geometry_msgs.msg import Twist

    profile = load_profile(default_profile_path())
    node = EdgepilotLifecycleNode(default_profile_path(), profile)
    ex, _ = _spin(node)
    listener = rclpy.create_node("cmd_listener")
    ex.add_node(listener)
    cmds: list = []
    listener.create_subscription(Twist, "/cmd_vel", cmds.append, 10)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.backend is not None and not cmds  # configured: engine loaded, nothing published yet
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    time.sleep(1.0)  # no sensors: the watchdog holds zero (start-up grace), commands flow
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    time.sleep(0.3)
    assert cmds and cmds[-1].linear.x == 0.0 and cmds[-1].angular.z == 0.0
    n = len(cmds)
    time.sleep(0.3)
    assert len(cmds) == n  # inactive: nothing more
    node.set_parameters([rclpy.parameter.Parameter("loop.rate_hz", value=-1.0)])
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # the bad parameter is refused at configure
    ex.shutdown()
    node.destroy_node()
    listener.destroy_node()
