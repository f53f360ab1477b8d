"""The transport boundary: the only way the daemon core talks to the outside.

Messages cross this boundary as *ROS-shaped* objects: anything with the field
names of the ROS 2 message (``msg.header.stamp.sec``, ``msg.name``,
``msg.angular_velocity.z`` ...). rclpy messages, the Cyclone DDS IDL classes in
:mod:`edgepilot.daemon.transport.ros_msgs` and messages deserialised by
``rosbags`` all have that shape, so one set of converters
(:mod:`edgepilot.daemon.streams.ingest`) serves every transport.

Threading contract: callbacks run on the transport's own threads, never on the
control loop's thread; ``TwistPublisher.publish`` may be called from the loop
and must not block on the network. The one exception is replay, which has no
threads of its own: it delivers the bag's messages from inside its simulated
clock's ``sleep``, on the loop's thread, which is what makes a replay
deterministic (:mod:`.replay`).

Outputs are built once, in :mod:`.outputs`, from each transport's own message
classes (``message_classes()``) and raw ``publisher``: Twist/TwistStamped
commands, joint targets as JointState or Float64MultiArray, and
DiagnosticArray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence

import numpy as np

MessageCallback = Callable[[Any], None]

# diagnostic_msgs/DiagnosticStatus levels
DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3


@dataclass(frozen=True)
class DiagnosticStatusData:
    """One diagnostic_msgs/DiagnosticStatus, transport-neutral. ``values``: (key, value) string pairs."""

    level: int
    name: str
    message: str
    hardware_id: str
    values: tuple[tuple[str, str], ...] = ()


class TwistPublisher(Protocol):
    def publish(self, command: np.ndarray) -> None:
        """Publish geometry_msgs/Twist from ``command`` = [vx, vy, vz, wx, wy, wz] (m/s, rad/s, body frame)."""


class MessagePublisher(Protocol):
    def publish(self, msg: Any) -> None:
        """Publish one message object of the transport's own classes (see ``Transport.message_classes``)."""


class JointTargetPublisher(Protocol):
    def publish(self, targets: np.ndarray) -> None:
        """Publish joint targets (rad, or rad/s for velocity controllers), one per joint, in the publisher's joint order."""


class DiagnosticsPublisher(Protocol):
    def publish(self, stamp_ns: int, statuses: Sequence[DiagnosticStatusData]) -> None:
        """Publish one diagnostic_msgs/DiagnosticArray stamped ``stamp_ns`` (ROS time, ns)."""


class LoopClock(Protocol):
    """A clock that paces the control loop and stamps receipts instead of the monotonic clock.

    Given by transports whose time is not the host's: replay (the bag's time)
    and rclpy with ``use_sim_time`` (``/clock``). ``simulated`` is True when
    time only moves through ``sleep`` (replay), so nothing may spin on it.
    """

    simulated: bool

    def now_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def every(self, period_s: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` every ``period_s`` of this clock's time. Only a ``simulated`` clock (nothing else
        drives periodic work under it) is asked: the diagnostics reporter registers itself here (replay)."""


JointTargetMessage = Literal["joint_state", "float64_multi_array"]


#: ``on_publishers(count)``: the topic's matched writers (Transport.subscribe).
PublisherCountCallback = Callable[[int], None]


class Transport(Protocol):
    #: True only for the plain Cyclone DDS transport: an ingest child process subscribing through a DdsTransport of
    #: its own on the same domain receives what this one would (streams/ingest_process.py, ``ingest.mode``).
    #: Replay feeds messages from this process, rclpy from its executor, and a recording transport must see every
    #: received message here: all False.
    ingest_child_can_subscribe: bool

    #: A recording transport's recorder (:class:`~.bag.recorder.BagRecorder`: ``write_errors``, ``dropped``,
    #: ``last_error``, reported in diagnostics); None for every other transport.
    recorder: Any

    @property
    def loop_clock(self) -> LoopClock | None:
        """None: the loop runs on the host's monotonic clock."""

    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback, *, reliable: bool | None = None,
                  on_publishers: PublisherCountCallback | None = None) -> None:
        """Call ``callback(msg)`` for each message received on ``topic`` (ROS name, e.g. /imu/data).

        ``reliable``: None picks sensor-data QoS for ``sensor_msgs/*`` and reliable otherwise.
        ``on_publishers(count)``: called with the number of writers on ``topic`` whenever it changes, where the
        transport can tell (DDS); a transport that cannot (replay, rclpy) never calls it, so ``max_publishers``
        never fires there.
        """

    def twist_publisher(self, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> TwistPublisher:
        """A publisher of geometry_msgs/Twist (or TwistStamped) on ``topic`` with reliable QoS."""

    def publisher(self, topic: str, msg_type: str, reliable: bool = True) -> MessagePublisher:
        """A publisher of ``msg_type`` messages built from ``message_classes``."""

    def message_classes(self) -> Any:
        """The message classes this transport publishes (a :class:`~.outputs.MessageClasses`)."""

    def ros_time_ns(self) -> int:
        """ROS time for header stamps, ns: wall clock, or simulated time under replay / use_sim_time."""

    def close(self) -> None:
        """Stop callbacks and release the participant. Idempotent."""
