"""Everything the daemon publishes, built once for every transport.

Each transport supplies its message classes (:class:`MessageClasses`: the
Cyclone IDL classes of :mod:`.ros_msgs` for ``dds`` and ``replay``, the rclpy
classes for ``ros2``) and a raw ``publisher(topic, type, reliable)``; the
publishers here turn the daemon's numbers into those messages. Field names are
the ROS ones in every case, so one builder serves all; the only difference is
how a ROS ``byte`` is set (an int for IDL and rosbags, a 1-byte ``bytes`` for
rclpy), which ``level`` carries.

Outputs:

* commands: geometry_msgs/Twist, or TwistStamped (``header.stamp`` from the
  transport's ROS time, ``header.frame_id`` from the profile);
* joint targets: sensor_msgs/JointState (names + positions) or
  std_msgs/Float64MultiArray (what ros2_control's forward command
  controllers take: data in the controller's joint order);
* diagnostics: diagnostic_msgs/DiagnosticArray;
* detections: vision_msgs/Detection2DArray and Isaac ROS TensorList (daemon/detection/), as the IDL classes of
  :mod:`.ros_vision_msgs`, so only on the transports that publish IDL messages (dds, replay, record).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from edgepilot.daemon.transport.base import DiagnosticStatusData, JointTargetMessage, MessagePublisher


class MessageClasses(NamedTuple):
    Time: type
    Header: type
    Vector3: type
    Twist: type
    TwistStamped: type
    JointState: type
    MultiArrayDimension: type
    MultiArrayLayout: type
    Float64MultiArray: type
    KeyValue: type
    DiagnosticStatus: type
    DiagnosticArray: type
    level: Callable[[int], Any]


def idl_message_classes() -> MessageClasses:
    """The Cyclone IDL classes (dds, replay, record)."""
    from edgepilot.daemon.transport import ros_msgs as m

    return MessageClasses(m.Time, m.Header, m.Vector3, m.Twist, m.TwistStamped, m.JointState, m.MultiArrayDimension,
                          m.MultiArrayLayout, m.Float64MultiArray, m.KeyValue, m.DiagnosticStatus, m.DiagnosticArray, int)


def stamp(c: MessageClasses, t_ns: int) -> Any:
    sec, nanosec = divmod(int(t_ns), 1_000_000_000)
    return c.Time(sec=sec, nanosec=nanosec)


def twist_message(c: MessageClasses, command: np.ndarray) -> Any:
    v = np.asarray(command, dtype=np.float64).reshape(-1)
    if v.shape != (6,):
        raise ValueError(f"twist command must have 6 elements [vx, vy, vz, wx, wy, wz], got shape {np.shape(command)}")
    x = v.tolist()
    return c.Twist(linear=c.Vector3(x=x[0], y=x[1], z=x[2]), angular=c.Vector3(x=x[3], y=x[4], z=x[5]))


def joint_state_message(c: MessageClasses, names: Sequence[str], positions: np.ndarray, t_ns: int) -> Any:
    return c.JointState(header=c.Header(stamp=stamp(c, t_ns), frame_id=""), name=list(names),
                        position=np.asarray(positions, dtype=np.float64).tolist(), velocity=[], effort=[])


def float64_multi_array_message(c: MessageClasses, values: np.ndarray, label: str = "joints") -> Any:
    data = np.asarray(values, dtype=np.float64).reshape(-1).tolist()
    n = len(data)
    layout = c.MultiArrayLayout(dim=[c.MultiArrayDimension(label=label, size=n, stride=n)], data_offset=0)
    return c.Float64MultiArray(layout=layout, data=data)


def diagnostic_array_message(c: MessageClasses, t_ns: int, statuses: Sequence[DiagnosticStatusData]) -> Any:
    return c.DiagnosticArray(
        header=c.Header(stamp=stamp(c, t_ns), frame_id=""),
        status=[c.DiagnosticStatus(level=c.level(s.level), name=s.name, message=s.message, hardware_id=s.hardware_id,
                                   values=[c.KeyValue(key=k, value=v) for k, v in s.values]) for s in statuses])


class TwistCommandPublisher:
    """Twist or TwistStamped from [vx, vy, vz, wx, wy, wz] (m/s, rad/s, body frame)."""

    def __init__(self, raw: MessagePublisher, classes: MessageClasses, *, stamped: bool, frame_id: str,
                 ros_time_ns: Callable[[], int]) -> None:
        self._raw = raw
        self._c = classes
        self.stamped = stamped
        self.frame_id = frame_id
        self._now = ros_time_ns

    def publish(self, command: np.ndarray) -> None:
        c = self._c
        twist = twist_message(c, command)
        if self.stamped:
            self._raw.publish(c.TwistStamped(header=c.Header(stamp=stamp(c, self._now()), frame_id=self.frame_id), twist=twist))
        else:
            self._raw.publish(twist)


class JointTargetPublisherImpl:
    """Joint targets as sensor_msgs/JointState (named) or std_msgs/Float64MultiArray (controller order)."""

    def __init__(self, raw: MessagePublisher, classes: MessageClasses, joints: Sequence[str], message: JointTargetMessage,
                 ros_time_ns: Callable[[], int]) -> None:
        if message not in ("joint_state", "float64_multi_array"):
            raise ValueError(f"joint targets are published as 'joint_state' or 'float64_multi_array', not {message!r}")
        if not joints or len(set(joints)) != len(joints):
            raise ValueError(f"joint target publisher needs distinct joint names, got {list(joints)}")
        self._raw = raw
        self._c = classes
        self.joints = tuple(joints)
        self.message = message
        self._now = ros_time_ns

    def publish(self, targets: np.ndarray) -> None:
        t = np.asarray(targets, dtype=np.float64).reshape(-1)
        if t.shape != (len(self.joints),):
            raise ValueError(f"{len(t)} joint targets for {len(self.joints)} joints {list(self.joints)}")
        if self.message == "joint_state":
            self._raw.publish(joint_state_message(self._c, self.joints, t, self._now()))
        else:
            self._raw.publish(float64_multi_array_message(self._c, t))


class DiagnosticsPublisherImpl:
    def __init__(self, raw: MessagePublisher, classes: MessageClasses) -> None:
        self._raw = raw
        self._c = classes

    def publish(self, stamp_ns: int, statuses: Sequence[DiagnosticStatusData]) -> None:
        self._raw.publish(diagnostic_array_message(self._c, stamp_ns, statuses))


def twist_publisher(transport: Any, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> TwistCommandPublisher:
    msg_type = "geometry_msgs/msg/TwistStamped" if stamped else "geometry_msgs/msg/Twist"
    return TwistCommandPublisher(transport.publisher(topic, msg_type, reliable=True), transport.message_classes(),
                                 stamped=stamped, frame_id=frame_id, ros_time_ns=transport.ros_time_ns)


def joint_target_publisher(transport: Any, topic: str, joints: Sequence[str],
                           message: JointTargetMessage = "float64_multi_array") -> JointTargetPublisherImpl:
    """Joint targets on ``topic`` (reliable: commands); e.g. /forward_position_controller/commands."""
    msg_type = "sensor_msgs/msg/JointState" if message == "joint_state" else "std_msgs/msg/Float64MultiArray"
    return JointTargetPublisherImpl(transport.publisher(topic, msg_type, reliable=True), transport.message_classes(),
                                    joints, message, transport.ros_time_ns)


def diagnostics_publisher(transport: Any, topic: str = "/diagnostics") -> DiagnosticsPublisherImpl:
    return DiagnosticsPublisherImpl(transport.publisher(topic, "diagnostic_msgs/msg/DiagnosticArray", reliable=True),
                                    transport.message_classes())


def command_publisher(transport: Any, action: Any) -> TwistCommandPublisher | Any:
    """The publisher for a profile's ``action`` section (Twist or TwistStamped on ``action.topic``)."""
    if action.output == "twist_stamped":
        return twist_publisher(transport, action.topic, stamped=True, frame_id=action.frame_id)
    return transport.twist_publisher(action.topic)


DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"
TENSOR_LIST_TYPE = "isaac_ros_tensor_list_interfaces/msg/TensorList"


def detections_publisher(transport: Any, topic: str) -> MessagePublisher:
    """Detection2DArray messages (:mod:`.ros_vision_msgs` objects) on ``topic``; reliable, keep last 10, as the
    ROS 2 default (and Isaac ROS's detectors) publish."""
    return transport.publisher(topic, DETECTIONS_TYPE, reliable=True)


def tensor_list_publisher(transport: Any, topic: str) -> MessagePublisher:
    """Isaac ROS TensorList messages (:mod:`.ros_vision_msgs` objects) on ``topic``; reliable, keep last 10."""
    return transport.publisher(topic, TENSOR_LIST_TYPE, reliable=True)
