"""Where sensor messages enter: ROS-shaped messages in, ring buffer samples out.

One ingest object per configured stream. ``on_message`` runs on the
transport's thread (never the control loop's), checks the message against the
profile, and writes one fixed-shape sample into the stream's
:class:`~edgepilot.daemon.streams.ring_buffer.RingBuffer`, stamped with the receipt time
on the monotonic clock. A message that does not fit is counted in ``dropped``
with the reason kept in ``last_error`` and never reaches the rings: the loop
then sees the stream go stale, which is a fault, instead of a wrong
observation.

Sample layouts (float64 unless noted):

* JointState: shape (2, n): row 0 positions (rad), row 1 velocities (rad/s),
  columns in the stream's ``joints`` order, whatever order the message used.
* Imu: shape (10,): angular velocity x, y, z (rad/s), linear acceleration
  x, y, z (m/s^2), orientation quaternion x, y, z, w; IMU frame.
* Image / CompressedImage: see :mod:`.image_conversion` (rgb8 -> (h, w, 3)
  uint8 RGB, mono16 -> (h, w, 1) uint16, ...).
* Twist / TwistStamped input: shape (6,): linear x, y, z (m/s), angular x, y,
  z (rad/s).

Rules for what a message must carry (the same for every transport: rclpy
messages, Cyclone IDL objects and rosbags-deserialised messages all have the
ROS field names; values must be numbers, sequences must be sequences of
numbers, a string where a number belongs is malformed, never parsed):

* JointState, by name: names the profile does not list are ignored (counted
  in ``unknown_joint_messages``, kept in ``ignored_joints``); a message with
  none of the profile's joints, a name twice, or a ``position``/``velocity``
  that is neither empty nor one per name is dropped. A *partial* message
  (some of the profile's joints) merges into the latest state: a sample is
  published once every joint has been seen, and its stamp is the receipt
  time of the joint heard from longest ago, so the stream's age is that of
  its stalest joint (a joint that stops being published makes the stream
  stale, it never freezes silently). A *missing field* (ROS allows an empty
  ``velocity`` or ``effort``): if the profile reads that field of this
  stream (``joint_velocity`` terms need velocity; ``joint_position`` terms
  and odometry need position) the message is dropped with that reason, so
  the stream goes stale and the watchdog zeroes the command; a field no term
  reads keeps its previous value (0 at start) and is never used. Effort is
  never read.
* Imu: a covariance whose first element is -1 means "this quantity is not
  provided" (sensor_msgs/Imu). If the profile reads that quantity
  (``imu_*`` terms, odometry's gyro) the message is dropped; otherwise the
  quantity is stored as zeros (an all-zero quaternion for orientation, which
  no term reads).
* Images: size and encoding must equal the profile's (see
  :mod:`.image_conversion`).

Receipt stamps come from ``clock`` (default :func:`time.monotonic_ns`); replay
and ``use_sim_time`` pass the simulated clock that also drives the loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edgepilot.daemon.config.profile import ImuTerm, JointTerm, StreamConfig
from edgepilot.daemon.streams.image_conversion import make_image_decoder, sample_layout
from edgepilot.daemon.streams.ring_buffer import RingBuffer
from edgepilot.daemon.streams.integrity import make_integrity

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile

Clock = Callable[[], int]

IMU_ANGULAR_VELOCITY = slice(0, 3)
IMU_LINEAR_ACCELERATION = slice(3, 6)
IMU_ORIENTATION = slice(6, 10)
IMU_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


class StreamIngest:
    """Base class: counters and the ring shared by every stream type."""

    #: Non-finite values are data, not a fault (32FC1 depth: REP 118 uses NaN/Inf for no return).
    nonfinite_is_data = False

    def __init__(self, name: str, config: StreamConfig, shape: tuple[int, ...], dtype: Any,
                 clock: Clock | None = None) -> None:
        self.name = name
        self.config = config
        self.ring = RingBuffer(config.queue_depth, shape, dtype)
        self._clock: Clock = time.monotonic_ns if clock is None else clock
        self.received = 0
        self.dropped = 0
        self.last_error = ""
        # Stamp, order, rate, frozen and range checks; None unless the profile sets one of their limits.
        self.integrity = make_integrity(config, self._clock)

    def on_message(self, msg: Any) -> None:
        """Transport callback. Never raises: a bad message is counted and dropped."""
        self.received += 1
        try:
            integrity = self.integrity
            if integrity is not None and not integrity.admit(msg):
                self.dropped += 1
                self.last_error = integrity.last_reject
                return
            self._ingest(msg)
            if integrity is not None:
                integrity.accepted(self.ring)
        except Exception as err:  # noqa: BLE001 - any malformed message must be dropped, not crash the transport thread
            self.dropped += 1
            self.last_error = f"{type(err).__name__}: {err}"

    def on_publishers(self, count: int) -> None:
        """Transport callback: the topic now has ``count`` matched writers (``max_publishers``)."""
        if self.integrity is not None:
            self.integrity.publishers_changed(count)

    def _ingest(self, msg: Any) -> None:
        raise NotImplementedError

    def missing_detail(self) -> str:
        """Why the stream has no sample yet (the ``missing:<stream>`` fault's detail)."""
        return "no message received since start"


class MalformedMessage(ValueError):
    pass


_NUMBER_KINDS = "fiu"


def _numbers(value: Any, what: str) -> np.ndarray:
    """A 1-d float64 view/copy of a sequence of numbers; strings, objects and nested data are malformed."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value) if isinstance(value, (list, tuple)) else None
    if a is None:
        try:
            a = np.asarray(memoryview(value))  # array.array('d') from rclpy
        except TypeError:
            raise MalformedMessage(f"{what} is a {type(value).__name__}, expected a sequence of numbers") from None
    if a.ndim != 1 or a.dtype.kind not in _NUMBER_KINDS:
        if a.ndim == 1 and a.size == 0:
            return np.empty(0)
        raise MalformedMessage(f"{what} must be a sequence of numbers, got {a.dtype} with shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _number(value: Any, what: str) -> float:
    if value.__class__ is float:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise MalformedMessage(f"{what} is a {type(value).__name__} ({value!r:.40}), expected a number")


class JointStateIngest(StreamIngest):
    """sensor_msgs/JointState, mapped by joint name into the profile's order; partial messages merge (module docstring)."""

    def __init__(self, name: str, config: StreamConfig, clock: Clock | None = None,
                 reads: frozenset[str] = frozenset({"position", "velocity"})) -> None:
        super().__init__(name, config, (2, len(config.joints)), np.float64, clock)
        self._wanted = {j: i for i, j in enumerate(config.joints)}
        self._n = len(config.joints)
        self.needs_position = "position" in reads
        self.needs_velocity = "velocity" in reads
        self._state = np.zeros((2, self._n))
        self._heard_ns = np.full(self._n, -1, np.int64)
        self._complete = False
        # Most robots publish the same names in the same order every time: map them once.
        self._cached_names: list[str] | None = None
        self._cached_dst = np.zeros(0, np.intp)
        self._cached_src = np.zeros(0, np.intp)
        self._cached_unknown = 0
        self.unknown_joint_messages = 0
        self.ignored_joints: set[str] = set()
        self.partial_messages = 0

    def missing_detail(self) -> str:
        unheard = [j for j, t in zip(self.config.joints, self._heard_ns) if t < 0]
        if self.received and unheard:  # messages come, but never with these joints: a name mismatch, most often
            return f"joints never published: {unheard}"
        return "no message received since start"

    def _map_names(self, names: Any) -> tuple[np.ndarray, np.ndarray, int]:
        if names.__class__ is list and names == self._cached_names:
            return self._cached_dst, self._cached_src, self._cached_unknown
        names = list(names)
        dst: list[int] = []
        src: list[int] = []
        unknown = 0
        wanted = self._wanted
        for k, joint in enumerate(names):
            if not isinstance(joint, str):
                raise MalformedMessage(f"JointState.name[{k}] is a {type(joint).__name__}, expected a string")
            i = wanted.get(joint)
            if i is None:
                unknown += 1
                if joint not in self.ignored_joints and len(self.ignored_joints) < 256:
                    self.ignored_joints.add(joint)
            else:
                dst.append(i)
                src.append(k)
        if len(set(names)) != len(names):
            raise MalformedMessage(f"JointState names a joint twice: {sorted({n for n in names if names.count(n) > 1})}")
        if not dst:
            raise MalformedMessage(f"JointState has none of the configured joints {list(self.config.joints)} "
                                   f"(it names {names[:8]}{'...' if len(names) > 8 else ''})")
        mapped = (np.array(dst, np.intp), np.array(src, np.intp), unknown)
        self._cached_names, self._cached_dst, self._cached_src, self._cached_unknown = names, *mapped
        return mapped

    def _ingest(self, msg: Any) -> None:
        names = msg.name
        if names.__class__ is not list and (isinstance(names, (str, bytes)) or not hasattr(names, "__len__")):
            raise MalformedMessage(f"JointState.name is a {type(names).__name__}, expected a sequence of strings")
        pos = _numbers(msg.position, "JointState.position")
        vel = _numbers(msg.velocity, "JointState.velocity")
        m = len(names)
        if len(pos) not in (0, m) or len(vel) not in (0, m):
            raise MalformedMessage(
                f"JointState has {m} names, {len(pos)} positions and {len(vel)} velocities; "
                "each must be empty or one per name"
            )
        if self.needs_position and len(pos) == 0:
            raise MalformedMessage("JointState has no positions, and this stream's positions are read (joint_position or odometry)")
        if self.needs_velocity and len(vel) == 0:
            raise MalformedMessage("JointState has no velocities, and a joint_velocity term reads them")
        dst, src, unknown = self._map_names(names)
        if unknown:
            self.unknown_joint_messages += 1
        now = self._clock()
        state = self._state
        if len(pos):
            state[0, dst] = pos[src]
        if len(vel):
            state[1, dst] = vel[src]
        heard = self._heard_ns
        heard[dst] = now
        if len(dst) != self._n:
            self.partial_messages += 1
            if not self._complete:
                if heard.min() < 0:
                    return  # not every joint heard yet: nothing to publish, nothing wrong
                self._complete = True
        slot = self.ring.begin_write()
        np.copyto(slot, state)
        self.ring.commit_write(int(heard.min()))


class ImuIngest(StreamIngest):
    """sensor_msgs/Imu: angular velocity, linear acceleration and orientation; covariance[0] == -1 means absent."""

    def __init__(self, name: str, config: StreamConfig, clock: Clock | None = None,
                 reads: frozenset[str] = frozenset({"angular_velocity", "linear_acceleration"})) -> None:
        super().__init__(name, config, (10,), np.float64, clock)
        self._reads = reads

    def _absent(self, msg: Any, quantity: str) -> bool:
        cov = getattr(msg, quantity + "_covariance", None)
        if cov is None:
            return False
        if len(cov) != 9:
            raise MalformedMessage(f"Imu.{quantity}_covariance has {len(cov)} elements, expected 9")
        if _number(cov[0], f"Imu.{quantity}_covariance[0]") != -1.0:
            return False
        if quantity in self._reads:
            raise MalformedMessage(f"Imu.{quantity} is marked absent (covariance[0] = -1), and the profile reads it")
        return True

    def _ingest(self, msg: Any) -> None:
        no_w = self._absent(msg, "angular_velocity")
        no_a = self._absent(msg, "linear_acceleration")
        no_q = self._absent(msg, "orientation")
        w = msg.angular_velocity
        a = msg.linear_acceleration
        q = msg.orientation
        values = (
            0.0 if no_w else _number(w.x, "Imu.angular_velocity.x"),
            0.0 if no_w else _number(w.y, "Imu.angular_velocity.y"),
            0.0 if no_w else _number(w.z, "Imu.angular_velocity.z"),
            0.0 if no_a else _number(a.x, "Imu.linear_acceleration.x"),
            0.0 if no_a else _number(a.y, "Imu.linear_acceleration.y"),
            0.0 if no_a else _number(a.z, "Imu.linear_acceleration.z"),
            0.0 if no_q else _number(q.x, "Imu.orientation.x"),
            0.0 if no_q else _number(q.y, "Imu.orientation.y"),
            0.0 if no_q else _number(q.z, "Imu.orientation.z"),
            0.0 if no_q else _number(q.w, "Imu.orientation.w"),
        )
        slot = self.ring.begin_write()
        slot[:] = values
        self.ring.commit_write(self._clock())


class TwistIngest(StreamIngest):
    """geometry_msgs/Twist or TwistStamped as an input (a commanded velocity): [vx, vy, vz, wx, wy, wz]."""

    def __init__(self, name: str, config: StreamConfig, clock: Clock | None = None) -> None:
        super().__init__(name, config, (6,), np.float64, clock)
        self._stamped = config.type.endswith("TwistStamped")

    def _ingest(self, msg: Any) -> None:
        t = msg.twist if self._stamped else msg
        lin, ang = t.linear, t.angular
        values = (
            _number(lin.x, "linear.x"), _number(lin.y, "linear.y"), _number(lin.z, "linear.z"),
            _number(ang.x, "angular.x"), _number(ang.y, "angular.y"), _number(ang.z, "angular.z"),
        )
        slot = self.ring.begin_write()
        slot[:] = values
        self.ring.commit_write(self._clock())


class ImageIngest(StreamIngest):
    """sensor_msgs/Image or CompressedImage in the profile's size and encoding (see :mod:`.image_conversion`)."""

    def __init__(self, name: str, config: StreamConfig, clock: Clock | None = None) -> None:
        shape, dtype = sample_layout(config.encoding, config.height, config.width)
        super().__init__(name, config, shape, dtype, clock)
        self.nonfinite_is_data = config.encoding == "32FC1"
        compressed = config.type == "sensor_msgs/msg/CompressedImage"
        self._decode_into = make_image_decoder(config.height, config.width, config.encoding, compressed)
        self._compressed = compressed
        self._scratch = np.zeros(shape, dtype) if compressed else None

    def _ingest(self, msg: Any) -> None:
        if self._compressed:
            # Decode before opening a slot: a corrupt jpeg must not cost the ring its oldest sample.
            scratch = self._scratch
            assert scratch is not None
            self._decode_into(msg, scratch)
            self.ring.write(scratch, self._clock())
            return
        slot = self.ring.begin_write()
        self._decode_into(msg, slot)
        self.ring.commit_write(self._clock())


_INGEST_BY_TYPE = {
    "sensor_msgs/msg/JointState": JointStateIngest,
    "sensor_msgs/msg/Imu": ImuIngest,
    "sensor_msgs/msg/Image": ImageIngest,
    "sensor_msgs/msg/CompressedImage": ImageIngest,
    "geometry_msgs/msg/Twist": TwistIngest,
    "geometry_msgs/msg/TwistStamped": TwistIngest,
}


def fields_read(profile: Profile, stream: str) -> frozenset[str]:
    """Which fields of a stream's messages the profile reads (observation terms and odometry)."""
    reads: set[str] = set()
    for t in profile.observation.terms:
        if isinstance(t, JointTerm) and t.stream == stream:
            reads.add("position" if t.kind == "joint_position" else "velocity")
        elif isinstance(t, ImuTerm) and t.stream == stream:
            reads.add("angular_velocity" if t.kind == "imu_angular_velocity" else "linear_acceleration")
    for t in profile.observation.terms:  # joint-policy terms (daemon/config/joint_policy.py)
        kind = getattr(t, "kind", "")
        if getattr(t, "stream", None) == stream:
            if kind == "joint_position_relative":
                reads.add("position")
            elif kind == "joint_velocity_policy":
                reads.add("velocity")
            elif kind == "base_angular_velocity":
                reads.add("angular_velocity")
            elif kind == "projected_gravity":
                reads.add("orientation")
    action = profile.action
    if getattr(action, "stream", None) == stream and getattr(action, "output", "") == "joint_torques":
        reads |= {"position", "velocity"}  # the daemon's PD loop
    o = profile.odometry
    if o is not None:
        if o.joint_stream == stream:
            reads.add("position")
        if o.imu_stream == stream:
            reads.add("angular_velocity")
    return frozenset(reads)


def subscribe_stream(transport: Any, config: StreamConfig, ingest: StreamIngest) -> None:
    """Subscribe ``ingest`` to its topic on ``transport``, with the publisher count where the transport reports one."""
    reliable = None if config.qos is None else config.qos == "reliable"
    transport.subscribe(config.topic, config.type, ingest.on_message, reliable=reliable,
                        on_publishers=ingest.on_publishers)


def make_ingest(name: str, config: StreamConfig, clock: Clock | None = None, profile: Profile | None = None) -> StreamIngest:
    """The ingest for one stream. With ``profile``, only the fields it reads are required (module docstring);
    without, JointState needs position and velocity and Imu angular velocity and linear acceleration."""
    cls = _INGEST_BY_TYPE[config.type]
    if profile is not None and cls in (JointStateIngest, ImuIngest):
        return cls(name, config, clock, fields_read(profile, name))
    return cls(name, config, clock)


_count_nonzero = np.count_nonzero
_isfinite = np.isfinite


class StreamSnapshot:
    """The newest sample of one stream, copied out of its ring once per tick.

    Every observation term and check in a tick reads this copy, so they all see
    the same sample even while the transport keeps writing. ``stamp_ns`` is -1
    until the first sample arrives; ``age_s`` is the receipt age at the tick (s).

    Only streams whose :attr:`sample` something has asked for are copied: the
    watchdog needs just the stamp of a stream no term reads (a camera next to a
    proprioceptive policy), and copying a 640x480 rgb8 frame costs ~30 us a
    tick for nothing. Consumers bind to :attr:`sample` when they are built; the
    first access (even one made mid-run) starts the copying and refreshes at
    once, so nobody ever sees a sample that was not copied. ``finite`` is only
    checked for copied streams: a value nothing reads cannot reach a command.
    """

    __slots__ = ("name", "ingest", "ring", "_sample", "stamp_ns", "age_s", "finite", "_flat", "_check_finite",
                 "_isfinite", "_copy", "_now_ns", "_n")

    def __init__(self, ingest: StreamIngest) -> None:
        self.name = ingest.name
        self.ingest = ingest
        self.ring = ingest.ring
        self._sample = np.zeros(self.ring.shape, self.ring.dtype)
        self._flat = self._sample.reshape(-1)
        self.stamp_ns = -1
        self.age_s = float("inf")
        self.finite = True
        self._check_finite = self._sample.dtype.kind == "f" and not ingest.nonfinite_is_data
        self._isfinite = np.zeros(self._flat.shape, dtype=bool)
        self._n = self._flat.size
        self._copy = False
        self._now_ns = -1

    @property
    def sample(self) -> np.ndarray:
        """The copied sample (the same array every tick: views taken from it stay valid)."""
        if not self._copy:
            self._copy = True
            if self._now_ns >= 0:
                self.refresh(self._now_ns)
        return self._sample

    @property
    def copies_payload(self) -> bool:
        """Whether refresh copies the sample (something read :attr:`sample`), or reads the stamp alone."""
        return self._copy

    def refresh(self, now_ns: int) -> None:
        self._now_ns = now_ns
        copy = self._copy
        stamp = self.ring.read_latest(self._sample) if copy else self.ring.latest_stamp()
        self.stamp_ns = stamp
        self.age_s = (now_ns - stamp) * 1e-9 if stamp >= 0 else float("inf")
        if copy and self._check_finite:
            # Element-wise into a preallocated mask: no temporaries, and no false alarm from a large but finite
            # value overflowing a sum of squares.
            # count_nonzero, not .all(): a C call returning a small int instead of a Python-level reduction.
            self.finite = bool(_count_nonzero(_isfinite(self._flat, out=self._isfinite)) == self._n)
        # Integer images cannot hold NaN.
