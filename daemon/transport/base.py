"""The transport boundary: the only way the daemon core talks to the outside.

Messages cross this boundary as *ROS-shaped* objects: anything with the field
names of the ROS 2 message (``msg.header.stamp.sec``, ``msg.name``,
``msg.angular_velocity.z`` ...). rclpy messages, the Cyclone DDS IDL classes in
:mod:`edgepilot.daemon.transport.ros_msgs` and messages deserialised by
``rosbags`` all have that shape, so one set of converters
(:mod:`edgepilot.daemon.streams`) serves every transport.

Threading contract: callbacks run on the transport's own threads, never on the
control loop's thread; ``TwistPublisher.publish`` may be called from the loop
and must not block on the network.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

MessageCallback = Callable[[Any], None]


class TwistPublisher(Protocol):
    def publish(self, command: np.ndarray) -> None:
        """Publish geometry_msgs/Twist from ``command`` = [vx, vy, vz, wx, wy, wz] (m/s, rad/s, body frame)."""


class Transport(Protocol):
    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback) -> None:
        """Call ``callback(msg)`` for each message received on ``topic`` (ROS name, e.g. /imu/data)."""

    def twist_publisher(self, topic: str) -> TwistPublisher:
        """A publisher of geometry_msgs/Twist on ``topic`` with reliable QoS."""

    def close(self) -> None:
        """Stop callbacks and release the participant. Idempotent."""
