"""Where sensor messages enter: ROS-shaped messages in, ring buffer samples out.

One ingest object per configured stream. ``on_message`` runs on the
transport's thread (never the control loop's), checks the message against the
profile, and writes one fixed-shape sample into the stream's
:class:`~edgepilot.daemon.ring_buffer.RingBuffer`, stamped with the receipt time
on the monotonic clock. A message that does not fit is counted in ``dropped``
with the reason kept in ``last_error`` and never reaches the rings: the loop
then sees the stream go stale, which is a fault, instead of a wrong
observation.

Sample layouts (float64 unless noted):

* JointState: shape (2, n): row 0 positions (rad), row 1 velocities (rad/s),
  columns in the stream's ``joints`` order, whatever order the message used.
* Imu: shape (10,): angular velocity x, y, z (rad/s), linear acceleration
  x, y, z (m/s^2), orientation quaternion x, y, z, w; IMU frame.
* Image: shape (height, width, 3) uint8, rgb8.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import StreamConfig
from .ring_buffer import RingBuffer

IMU_ANGULAR_VELOCITY = slice(0, 3)
IMU_LINEAR_ACCELERATION = slice(3, 6)
IMU_ORIENTATION = slice(6, 10)
IMU_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


class StreamIngest:
    """Base class: counters and the ring shared by every stream type."""

    def __init__(self, name: str, config: StreamConfig, shape: tuple[int, ...], dtype: Any) -> None:
        self.name = name
        self.config = config
        self.ring = RingBuffer(config.queue_depth, shape, dtype)
        self.received = 0
        self.dropped = 0
        self.last_error = ""

    def on_message(self, msg: Any) -> None:
        """Transport callback. Never raises: a bad message is counted and dropped."""
        self.received += 1
        try:
            self._ingest(msg)
        except Exception as err:  # noqa: BLE001 - any malformed message must be dropped, not crash the transport thread
            self.dropped += 1
            self.last_error = f"{type(err).__name__}: {err}"

    def _ingest(self, msg: Any) -> None:
        raise NotImplementedError


class MalformedMessage(ValueError):
    pass


class JointStateIngest(StreamIngest):
    """sensor_msgs/JointState, mapped by joint name into the profile's order."""

    def __init__(self, name: str, config: StreamConfig) -> None:
        super().__init__(name, config, (2, len(config.joints)), np.float64)
        self._wanted = {j: i for i, j in enumerate(config.joints)}
        self._n = len(config.joints)

    def _ingest(self, msg: Any) -> None:
        names = msg.name
        pos = msg.position
        vel = msg.velocity
        if len(pos) != len(names) or len(vel) != len(names):
            raise MalformedMessage(
                f"JointState has {len(names)} names, {len(pos)} positions and {len(vel)} velocities; "
                "positions and velocities are both required, one per name"
            )
        slot = self.ring.begin_write()
        found = 0
        wanted = self._wanted
        for k, joint in enumerate(names):
            i = wanted.get(joint)
            if i is not None:
                slot[0, i] = pos[k]
                slot[1, i] = vel[k]
                found += 1
        if found != self._n:
            # The half-filled slot is never committed, so readers never see it.
            missing = [j for j in self.config.joints if j not in set(names)]
            raise MalformedMessage(f"JointState lacks configured joints {missing}")
        self.ring.commit_write(time.monotonic_ns())


class ImuIngest(StreamIngest):
    """sensor_msgs/Imu: angular velocity, linear acceleration and orientation."""

    def __init__(self, name: str, config: StreamConfig) -> None:
        super().__init__(name, config, (10,), np.float64)

    def _ingest(self, msg: Any) -> None:
        w = msg.angular_velocity
        a = msg.linear_acceleration
        q = msg.orientation
        slot = self.ring.begin_write()
        slot[0] = w.x
        slot[1] = w.y
        slot[2] = w.z
        slot[3] = a.x
        slot[4] = a.y
        slot[5] = a.z
        slot[6] = q.x
        slot[7] = q.y
        slot[8] = q.z
        slot[9] = q.w
        self.ring.commit_write(time.monotonic_ns())


class ImageIngest(StreamIngest):
    """sensor_msgs/Image in the profile's size and encoding (rgb8); rows may be padded (``step``)."""

    def __init__(self, name: str, config: StreamConfig) -> None:
        super().__init__(name, config, (config.height, config.width, 3), np.uint8)
        self._row_bytes = config.width * 3

    def _ingest(self, msg: Any) -> None:
        cfg = self.config
        if msg.height != cfg.height or msg.width != cfg.width or msg.encoding != cfg.encoding:
            raise MalformedMessage(
                f"image is {msg.width}x{msg.height} {msg.encoding!r}, profile expects {cfg.width}x{cfg.height} {cfg.encoding!r}"
            )
        step = msg.step
        data = msg.data
        if step < self._row_bytes or len(data) < step * cfg.height:
            raise MalformedMessage(f"image step {step} / data length {len(data)} too small for {cfg.width}x{cfg.height} rgb8")
        src = np.frombuffer(data, dtype=np.uint8, count=step * cfg.height).reshape(cfg.height, step)
        slot = self.ring.begin_write()
        np.copyto(slot.reshape(cfg.height, self._row_bytes), src[:, : self._row_bytes])
        self.ring.commit_write(time.monotonic_ns())


_INGEST_BY_TYPE = {
    "sensor_msgs/msg/JointState": JointStateIngest,
    "sensor_msgs/msg/Imu": ImuIngest,
    "sensor_msgs/msg/Image": ImageIngest,
}


def make_ingest(name: str, config: StreamConfig) -> StreamIngest:
    return _INGEST_BY_TYPE[config.type](name, config)


class StreamSnapshot:
    """The newest sample of one stream, copied out of its ring once per tick.

    Every observation term and check in a tick reads this copy, so they all see
    the same sample even while the transport keeps writing. ``stamp_ns`` is -1
    until the first sample arrives; ``age_s`` is the receipt age at the tick.
    """

    __slots__ = ("name", "ingest", "ring", "sample", "stamp_ns", "age_s", "finite", "_flat")

    def __init__(self, ingest: StreamIngest) -> None:
        self.name = ingest.name
        self.ingest = ingest
        self.ring = ingest.ring
        self.sample = np.zeros(self.ring.shape, self.ring.dtype)
        self._flat = self.sample.reshape(-1)
        self.stamp_ns = -1
        self.age_s = float("inf")
        self.finite = True

    def refresh(self, now_ns: int) -> None:
        stamp = self.ring.read_latest(self.sample)
        self.stamp_ns = stamp
        self.age_s = (now_ns - stamp) * 1e-9 if stamp >= 0 else float("inf")
        if self.sample.dtype.kind == "f":
            # A NaN or Inf anywhere makes the dot product non-finite; one pass, no temporaries.
            s = float(np.dot(self._flat, self._flat))
            self.finite = s == s and s != float("inf")
        # Integer images cannot hold NaN.
