"""Where sensor messages enter: ROS-shaped messages in, ring buffer samples out.

One ingest object per configured stream. ``on_message`` runs on the
transport's thread (never the control loop's), checks the message against the
profile, and writes one fixed-shape sample into the stream's
:class:`~edgepilot.daemon.streams.ring_buffer.RingBuffer`, stamped with the receipt time
on the monotonic clock. A message that does not fit is counted in ``dropped``
with the reason kept in ``last_error`` and never reaches the rings: the loop
then sees the stream go stale, which is a fault, instead of a wrong
observation.

What a stream type is (its sample layout, its converter, the rules for what a message must carry, the checks
that apply) is its kind's descriptor, one module per type in :mod:`edgepilot.daemon.streams.kinds`
(``joint_state``, ``imu``, ``image``, ``twist``), looked up by the profile's ``type:``
(:mod:`~edgepilot.daemon.streams.kinds.registry`). The same for every transport: rclpy messages, Cyclone IDL
objects and rosbags-deserialised messages all have the ROS field names; values must be numbers, sequences must
be sequences of numbers, a string where a number belongs is malformed, never parsed. Which fields a profile
reads (:func:`fields_read`) decides what a JointState or Imu message must carry: a field no term reads keeps its
previous value, or zeros, and is never used.

Receipt stamps come from ``clock`` (default :func:`time.monotonic_ns`); replay
and ``use_sim_time`` pass the simulated clock that also drives the loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edgepilot.daemon.config.joint_policy import JointActionConfig
from edgepilot.daemon.config.observation import observation_fields_read
from edgepilot.daemon.config.profile import StreamConfig
from edgepilot.daemon.streams.kinds import imu as _imu
from edgepilot.daemon.streams.kinds.base import MalformedMessage, StreamKind
from edgepilot.daemon.streams.kinds.registry import kind_for
from edgepilot.daemon.streams.ring_buffer import RingBuffer
from edgepilot.daemon.streams.integrity import make_integrity

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile

Clock = Callable[[], int]

# Where the Imu sample's vectors sit (daemon/streams/kinds/imu.py), for the observation terms that read them.
IMU_ANGULAR_VELOCITY = _imu.ANGULAR_VELOCITY
IMU_LINEAR_ACCELERATION = _imu.LINEAR_ACCELERATION
IMU_ORIENTATION = _imu.ORIENTATION
IMU_AXIS_INDEX = _imu.AXIS_INDEX

__all__ = ["IMU_ANGULAR_VELOCITY", "IMU_AXIS_INDEX", "IMU_LINEAR_ACCELERATION", "IMU_ORIENTATION", "MalformedMessage",
           "StreamIngest", "StreamSnapshot", "fields_read", "make_ingest", "subscribe_stream"]


class StreamIngest:
    """One stream: its ring, counters and integrity checks, and its kind's converter (``kind.converter``).

    ``reads``: the message fields the profile reads (:func:`fields_read`); None: the kind's ``default_reads``.
    """

    def __init__(self, name: str, config: StreamConfig, clock: Clock | None = None,
                 reads: frozenset[str] | None = None) -> None:
        kind: StreamKind = kind_for(config.type)
        shape, dtype = kind.layout(config)
        self.name = name
        self.config = config
        self.kind = kind
        self.ring = RingBuffer(config.queue_depth, shape, dtype)
        self._clock: Clock = time.monotonic_ns if clock is None else clock
        self.received = 0
        self.dropped = 0
        self.last_error = ""
        #: Non-finite values are data, not a fault (32FC1 depth: REP 118 uses NaN/Inf for no return).
        self.nonfinite_is_data = kind.nonfinite_is_data(config)
        self.converter = kind.converter(config, self._clock, kind.default_reads if reads is None else reads)
        self._write = self.converter.write
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
            self._write(msg, self.ring)  # self.ring: the ingest process moves it into shared memory
            if integrity is not None:
                integrity.accepted(self.ring)
        except Exception as err:  # noqa: BLE001 - any malformed message must be dropped, not crash the transport thread
            self.dropped += 1
            self.last_error = f"{type(err).__name__}: {err}"

    def on_publishers(self, count: int) -> None:
        """Transport callback: the topic now has ``count`` matched writers (``max_publishers``)."""
        if self.integrity is not None:
            self.integrity.publishers_changed(count)

    def missing_detail(self) -> str:
        """Why the stream has no sample yet (the ``missing:<stream>`` fault's detail)."""
        return self.converter.missing_detail(self.received)

    def diagnostic_values(self) -> tuple[tuple[str, str], ...]:
        """The kind's own values for the stream's diagnostic status (JointState: unknown and partial messages)."""
        return self.converter.diagnostic_values()


def fields_read(profile: Profile, stream: str) -> frozenset[str]:
    """Which fields of a stream's messages the profile reads: each observation term says what it reads
    (``fields_read``, daemon/config/observation.py), then the joint action's PD loop and the odometry."""
    reads: set[str] = set(observation_fields_read(profile, stream))
    action = profile.action
    if isinstance(action, JointActionConfig) and action.output == "joint_torques" and action.stream == stream:
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
    without, the kind's ``default_reads`` (JointState: position and velocity; Imu: angular velocity and linear
    acceleration)."""
    return StreamIngest(name, config, clock, None if profile is None else fields_read(profile, name))


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
