"""The ros2 transport: the daemon as an rclpy node, for a robot with ROS 2 installed (e.g. the Isaac ROS container).

Only importable where a ROS 2 install is sourced (rclpy, rosidl message
packages). Tests: tests/daemon/transport/ros2/test_rclpy_transport.py, skipped
without rclpy; everything below the transport (converters, outputs,
diagnostics, replay, recording) is the same code the dds transport runs.

QoS, as ROS 2 users expect: subscriptions to ``sensor_msgs/*`` use
``qos_profile_sensor_data`` (best effort, keep last 5, volatile), other
subscriptions (a Twist command input) reliable keep-last-10, unless the
stream's ``qos`` says otherwise; commands, joint targets and diagnostics are
published reliable keep-last-10. Publishers are lifecycle publishers when the
node is a lifecycle node, so nothing leaves an inactive node.

Threading: callbacks run on the executor's threads; each subscription has its
own mutually exclusive callback group, so one stream's ring only ever has one
writer at a time while different streams are ingested in parallel.

Time: with ``use_sim_time`` (the node parameter) the loop and the receipt
stamps follow ``/clock`` through :class:`RosClock`; if ``/clock`` stops, the
loop stops ticking, and the stall supervisor (a separate process on the host's
clock) publishes zero. Header stamps are the node clock's ROS time either way.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosidl_runtime_py.utilities import get_message

from edgepilot.daemon.transport import outputs
from edgepilot.daemon.transport.base import MessageCallback, PublisherCountCallback

RELIABLE_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)


def _normalise(msg_type: str) -> str:
    parts = msg_type.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else msg_type


def rclpy_message_classes() -> outputs.MessageClasses:
    g = get_message
    return outputs.MessageClasses(
        g("builtin_interfaces/msg/Time"), g("std_msgs/msg/Header"), g("geometry_msgs/msg/Vector3"),
        g("geometry_msgs/msg/Twist"), g("geometry_msgs/msg/TwistStamped"), g("sensor_msgs/msg/JointState"),
        g("std_msgs/msg/MultiArrayDimension"), g("std_msgs/msg/MultiArrayLayout"), g("std_msgs/msg/Float64MultiArray"),
        g("diagnostic_msgs/msg/KeyValue"), g("diagnostic_msgs/msg/DiagnosticStatus"), g("diagnostic_msgs/msg/DiagnosticArray"),
        lambda level: bytes([level]),  # a ROS ``byte`` is a 1-byte ``bytes`` in rclpy
    )


class RosClock:
    """The node's clock as the loop clock: ROS time, which follows /clock under ``use_sim_time``."""

    simulated = False  # time moves by itself (the simulator publishes /clock); the loop may wait on it

    def __init__(self, node: Any, poll_s: float = 0.0005) -> None:
        self._clock = node.get_clock()
        self._poll_s = poll_s

    def now_ns(self) -> int:
        return int(self._clock.now().nanoseconds)

    def sleep(self, seconds: float) -> None:
        target = self.now_ns() + int(seconds * 1e9)
        while self.now_ns() < target:
            time.sleep(self._poll_s)


class RclpyTransport:
    """:class:`~.base.Transport` over an rclpy node.

    :meth:`close` destroys what this transport created (subscriptions and
    publishers) and, for a :meth:`standalone` transport, the node, its
    executor thread and the rclpy context it started.
    """

    ingest_child_can_subscribe = False  # callbacks come from rclpy's executor in this process
    recorder = None

    def __init__(self, node: Any, *, owns_node: bool = False, executor: Any = None,
                 spin_thread: threading.Thread | None = None) -> None:
        self.node = node
        self._owns_node = owns_node
        self._executor = executor
        self._spin_thread = spin_thread
        self._subscriptions: list[Any] = []
        self._publishers: list[Any] = []
        # hasattr: rclpy's API tells a LifecycleNode (managed publishers) from a plain Node.
        self._lifecycle = hasattr(node, "create_lifecycle_publisher")
        self._closed = False
        self._lock = threading.Lock()
        self.callback_errors = 0
        self.last_error = ""
        use_sim_time = node.get_parameter("use_sim_time").value if node.has_parameter("use_sim_time") else False
        self.loop_clock = RosClock(node) if use_sim_time else None
        self._classes: outputs.MessageClasses | None = None

    @classmethod
    def for_node(cls, node: Any) -> RclpyTransport:
        return cls(node)

    @classmethod
    def standalone(cls, config: Any) -> RclpyTransport:
        """A plain (non-lifecycle) node spun by a multi-threaded executor on a background thread."""
        if not rclpy.ok():
            rclpy.init()
        node = rclpy.create_node(config.node_name, namespace=config.namespace or None)
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        thread = threading.Thread(target=executor.spin, name="edgepilot-rclpy", daemon=True)
        thread.start()
        return cls(node, owns_node=True, executor=executor, spin_thread=thread)

    # --- Transport protocol ----------------------------------------------

    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback, *, reliable: bool | None = None,
                  on_publishers: PublisherCountCallback | None = None) -> None:
        name = _normalise(msg_type)
        cls = get_message(name)
        if reliable is None:
            reliable = not name.startswith("sensor_msgs/")

        def deliver(msg: Any) -> None:
            try:
                callback(msg)
            except Exception as err:  # noqa: BLE001 - never let a callback take the executor down
                self.callback_errors += 1
                self.last_error = f"callback on {topic}: {type(err).__name__}: {err}"

        with self._lock:
            sub = self.node.create_subscription(cls, topic, deliver, RELIABLE_QOS if reliable else qos_profile_sensor_data,
                                                callback_group=MutuallyExclusiveCallbackGroup())
            self._subscriptions.append(sub)

    def publisher(self, topic: str, msg_type: str, reliable: bool = True) -> Any:
        cls = get_message(_normalise(msg_type))
        qos = RELIABLE_QOS if reliable else qos_profile_sensor_data
        with self._lock:
            if self._lifecycle:
                pub = self.node.create_lifecycle_publisher(cls, topic, qos)
            else:
                pub = self.node.create_publisher(cls, topic, qos)
            self._publishers.append(pub)
        return pub

    def twist_publisher(self, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> outputs.TwistCommandPublisher:
        return outputs.twist_publisher(self, topic, stamped=stamped, frame_id=frame_id)

    def message_classes(self) -> outputs.MessageClasses:
        if self._classes is None:
            self._classes = rclpy_message_classes()
        return self._classes

    def ros_time_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for sub in self._subscriptions:
                self.node.destroy_subscription(sub)
            for pub in self._publishers:
                if self._lifecycle:
                    self.node.destroy_lifecycle_publisher(pub)
                else:
                    self.node.destroy_publisher(pub)
            self._subscriptions.clear()
            self._publishers.clear()
        if self._owns_node:
            if self._executor is not None:
                self._executor.shutdown()
            self.node.destroy_node()
            if self._spin_thread is not None:
                self._spin_thread.join(timeout=2.0)
