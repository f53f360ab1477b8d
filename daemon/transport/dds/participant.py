"""The Cyclone DDS transport: ROS 2 topics over DDS, without ROS installed.

Interoperability: topics are named as ROS 2 names them on DDS (``/cmd_vel``
-> ``rt/cmd_vel``, see :func:`~.ros_msgs.dds_topic_name`) and the types carry
the names ``rosidl`` generates (``geometry_msgs::msg::dds_::Twist_``) with the
same plain-CDR (XCDR1) layout, so this transport talks to real ROS 2 nodes
using ``rmw_cyclonedds_cpp`` on the same DDS domain (``ROS_DOMAIN_ID``), and
to any other node of its own kind. Point ``CYCLONEDDS_URI`` at a Cyclone
config to choose the network (tests and the demo use
``cyclonedds_loopback.xml``: loopback only).

QoS, as ROS 2 sets it:

* subscriptions to ``sensor_msgs/*``: the sensor-data profile (best effort,
  keep last 5, volatile). A best-effort reader matches both best-effort and
  reliable publishers, so any sensor driver is heard.
* other subscriptions (``std_msgs/String``, ``geometry_msgs/Twist`` ...): the
  default profile (reliable, keep last 10, volatile). ``reliable=`` overrides.
* publishers: reliable + keep last 10 (the ROS 2 default) unless
  ``reliable=False`` (best effort + keep last 5, sensor data).

Threading: callbacks run on Cyclone's threads (the receive thread for remote
publishers; for a publisher in the same process, the publishing thread,
inside ``publish``). A callback must be quick, must not publish and must not
call :meth:`DdsTransport.close` (Cyclone may deadlock: ``close`` waits for
running callbacks to finish). One transport never both subscribes to and
publishes on one topic (:class:`~.topic_guard.TopicClash`): with a remote
writer on that topic, Cyclone deadlocks (see :mod:`.topic_guard`). An exception a callback raises is caught and
counted in :attr:`DdsTransport.callback_errors`; a sample that does not
decode is dropped and counted in :attr:`DdsTransport.decode_errors`; neither
stops delivery.

Cyclone DDS is imported only here and in :mod:`.ros_msgs`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from cyclonedds.core import DDSException, InstanceState, Listener, Qos, Policy, SampleState, ViewState
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from edgepilot.daemon.config.dds_security import DdsSecurityConfig
from edgepilot.daemon.timing.realtime import set_fifo
from edgepilot.daemon.transport import outputs, ros_msgs
from edgepilot.daemon.transport.base import MessageCallback
from edgepilot.daemon.transport.dds.cyclone_config import secure_domain
from edgepilot.daemon.transport.dds.topic_guard import TopicClash, TopicGuard

try:  # the raw take: bytes + sample info, so one undecodable sample costs only itself
    from cyclonedds._clayer import ddspy_take as _ddspy_take
except ImportError:  # pragma: no cover - other cyclonedds builds: fall back to DataReader.take(N=1)
    _ddspy_take = None
try:  # the raw write: CDR bytes in, used by the Twist publisher on the control loop's tick
    from cyclonedds._clayer import ddspy_write as _ddspy_write
except ImportError:  # pragma: no cover - other cyclonedds builds: DataWriter.write with an IDL sample
    _ddspy_write = None

__all__ = ["DdsTransport", "DdsPublisher", "DdsTwistPublisher", "TransportClosed", "TopicClash", "SENSOR_QOS",
           "DEFAULT_QOS"]

log = logging.getLogger(__name__)

# A writer that is reliable with a KEEP_LAST history never blocks on a slow or
# dead reader in Cyclone DDS: for KEEP_LAST writers the write-history-cache
# watermarks are disabled (ddsi_endpoint.c: "wr->whc_low = wr->whc_high =
# INT32_MAX" for DDS_HISTORY_KEEP_LAST, "why bother blocking for a slow
# receiver when the entire point of KEEP_LAST is to keep going"; confirmed by
# the maintainer in eclipse-cyclonedds/cyclonedds#1777: the watermarks "only
# apply to reliable writers with a KEEP_ALL history"), so write() never waits
# for acknowledgements; old unacknowledged samples are simply superseded. Only
# KEEP_ALL would throttle. max_blocking_time is still kept short as a second
# bound (it would only matter for KEEP_ALL or a resource-limited local reader).
_MAX_BLOCKING = duration(milliseconds=20)
# ROS 2 (rmw_cyclonedds_cpp) uses XCDR1 (plain CDR); say so explicitly.
_XCDR1 = Policy.DataRepresentation(use_cdrv0_representation=True)

SENSOR_QOS = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, _XCDR1)
DEFAULT_QOS = Qos(Policy.Reliability.Reliable(max_blocking_time=_MAX_BLOCKING), Policy.History.KeepLast(10),
                  Policy.Durability.Volatile, _XCDR1)

_TAKE_ALL = SampleState.Any | ViewState.Any | InstanceState.Any
_TAKE_BATCH = 32
_ACK_WAIT_ON_CLOSE_S = 0.25


class TransportClosed(RuntimeError):
    """Publishing on a transport that has been closed."""


def _is_sensor_type(cls: type) -> bool:
    return cls.__idl_typename__.startswith("sensor_msgs::")  # type: ignore[attr-defined]


class _Endpoint:
    """A DataWriter owned by a :class:`DdsTransport`, with discovery helpers."""

    def __init__(self, transport: DdsTransport, writer: DataWriter, msg_type: type, ros_topic: str) -> None:
        self._transport = transport
        self._writer = writer
        self.msg_type = msg_type
        self.topic = ros_topic

    def matched_subscriptions(self) -> int:
        """Number of readers (local or remote) this publisher is currently matched with."""
        if self._transport.closed:
            return 0
        return len(self._writer.get_matched_subscriptions())

    def wait_for_subscribers(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` readers are matched (discovery done); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.matched_subscriptions() >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _write(self, msg: Any) -> None:
        if self._transport.closed:
            raise TransportClosed(f"cannot publish on {self.topic}: the transport is closed")
        try:
            self._writer.write(msg)
        except DDSException:
            if self._transport.closed:
                raise TransportClosed(f"cannot publish on {self.topic}: the transport is closed") from None
            raise


class DdsPublisher(_Endpoint):
    """Publishes IDL messages of one type (from :mod:`.ros_msgs`) on one topic."""

    def publish(self, msg: Any) -> None:
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"{self.topic} carries {self.msg_type.__name__}, got {type(msg).__name__}")
        self._write(msg)


class DdsTwistPublisher(_Endpoint):
    """geometry_msgs/Twist from a 6-vector [vx, vy, vz, wx, wy, wz] (m/s, rad/s); reliable, keep last 10.

    Never blocks on readers (see above). This runs once per control tick, so the
    sample is not built as an IDL object and serialised by cyclonedds' Python
    serialiser (~80 us a message measured on the loop): a Twist is fixed-size
    plain CDR, the 4-byte encapsulation header then six little-endian float64,
    so the six values are copied into a preallocated buffer and handed to the
    C writer as they are. The buffer's header comes from the serialiser itself
    at construction, and tests/daemon/transport compare both byte for byte.
    """

    def __init__(self, transport: DdsTransport, writer: DataWriter, msg_type: type, ros_topic: str) -> None:
        super().__init__(transport, writer, msg_type, ros_topic)
        zero = ros_msgs.Twist(linear=ros_msgs.Vector3(), angular=ros_msgs.Vector3())
        self._cdr = bytearray(zero.serialize(use_version_2=False))
        if len(self._cdr) != 4 + 48 or self._cdr[:2] != b"\x00\x01":
            raise RuntimeError(f"unexpected Twist CDR layout ({len(self._cdr)} bytes, header {bytes(self._cdr[:4]).hex()}); "
                               "this cyclonedds build serialises differently")
        self._values = np.frombuffer(self._cdr, dtype="<f8", count=6, offset=4)
        self._ref = writer._ref
        self._raw = _ddspy_write is not None

    def encode(self, command: np.ndarray) -> bytes:
        """The CDR bytes :meth:`publish` would send for ``command`` (for tests and tools)."""
        self._fill(command)
        return bytes(self._cdr)

    def _fill(self, command: np.ndarray) -> None:
        # ndim and size, not shape: no tuple built per tick; and no broadcasting of a scalar or a (1,) array.
        # getattr: validating the caller's value (an ndarray expected; anything else is refused, not probed).
        if getattr(command, "ndim", 0) != 1 or command.size != 6:
            raise ValueError(f"twist command must have 6 elements [vx, vy, vz, wx, wy, wz], got shape "
                             f"{np.shape(command)}")
        np.copyto(self._values, command, casting="same_kind")

    def publish(self, command: np.ndarray) -> None:
        if self._transport.closed:
            raise TransportClosed(f"cannot publish on {self.topic}: the transport is closed")
        self._fill(command)
        if not self._raw:  # pragma: no cover - see the import above
            v = self._values
            self._write(ros_msgs.Twist(linear=ros_msgs.Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2])),
                                       angular=ros_msgs.Vector3(x=float(v[3]), y=float(v[4]), z=float(v[5]))))
            return
        ret = _ddspy_write(self._ref, self._cdr)
        if ret < 0:
            if self._transport.closed:
                raise TransportClosed(f"cannot publish on {self.topic}: the transport is closed")
            raise DDSException(ret, f"writing a Twist on {self.topic}")


class _Subscription:
    """One DataReader and the callback it feeds; the listener drains the reader on each notification."""

    def __init__(self, transport: DdsTransport, topic: str, msg_type: type, callback: MessageCallback) -> None:
        self.transport = transport
        self.topic = topic
        self.msg_type = msg_type
        self.callback = callback
        self.reader: DataReader | None = None  # set right after creation; the listener may fire before
        self._drain_lock = threading.Lock()
        self._pending = False

    def on_data_available(self, _reader: Any) -> None:
        # Runs on a Cyclone thread. Nothing may escape from here.
        # Several Cyclone threads may be notified at once (local and remote
        # publishers); one drains while the others only flag more data, so the
        # callback is never run concurrently for one subscription and no
        # sample waits for a later notification.
        try:
            self._pending = True
            while self._pending:
                if self.reader is None or self.transport.closed:
                    return
                if not self._drain_lock.acquire(blocking=False):
                    return  # the thread holding the lock sees _pending and drains again
                try:
                    while self._pending and not self.transport.closed:
                        self._pending = False
                        self._drain(self.reader)
                finally:
                    self._drain_lock.release()
        except BaseException as err:  # noqa: BLE001 - never let anything into Cyclone's thread
            self.transport._count_decode_error(self.topic, err)

    def on_matched(self, report: Callable[[int], None]) -> Callable[[Any, Any], None]:
        """A subscription-matched listener that reports the current count of matched writers."""
        def matched(_reader: Any, status: Any) -> None:
            try:  # Cyclone's thread: nothing may escape
                report(int(status.current_count))
            except BaseException as err:  # noqa: BLE001
                self.transport._count_callback_error(self.topic, err)
        return matched

    def _drain(self, reader: DataReader) -> None:
        deserialize = self.msg_type.deserialize  # type: ignore[attr-defined]
        while not self.transport.closed:
            if _ddspy_take is not None:
                batch = _ddspy_take(reader._ref, _TAKE_ALL, _TAKE_BATCH)
                if isinstance(batch, int):  # DDS error code (e.g. the reader is being deleted)
                    return
                if not batch:
                    return
                for data, info in batch:
                    if not info.valid_data:  # dispose/unregister notifications carry no message
                        continue
                    try:
                        msg = deserialize(data)
                    except Exception as err:  # noqa: BLE001 - undecodable sample: drop it, keep going
                        self.transport._count_decode_error(self.topic, err)
                        continue
                    self._deliver(msg)
            else:  # pragma: no cover - see the import above
                try:
                    samples = reader.take(N=1)
                except Exception as err:  # noqa: BLE001
                    self.transport._count_decode_error(self.topic, err)
                    continue
                if not samples:
                    return
                for msg in samples:
                    if isinstance(msg, self.msg_type):
                        self._deliver(msg)

    def _deliver(self, msg: Any) -> None:
        try:
            self.callback(msg)
        except Exception as err:  # noqa: BLE001 - a failing callback must not stop delivery
            self.transport._count_callback_error(self.topic, err)


#: Cyclone DDS's threads that run subscription callbacks, by thread name: the receive threads (one, or unicast and
#: multicast ones) and the user-data delivery queue. Discovery, timed events and garbage collection run elsewhere.
CALLBACK_THREADS = ("recv", "recvUC", "recvMC", "dq.user")
_CALLBACK_THREAD_WAIT_S = 2.0


def _callback_tasks() -> list[tuple[str, int]]:
    """(name, thread id) of this process's Cyclone callback threads, in thread-id order."""
    found = []
    for task in sorted(Path("/proc/self/task").iterdir()):
        try:
            name = (task / "comm").read_text().strip()
        except OSError:  # a thread that ended meanwhile
            continue
        if name in CALLBACK_THREADS:
            found.append((name, int(task.name)))
    return found


class DdsTransport:
    """:class:`~.base.Transport` over Cyclone DDS, ROS 2 compatible (see the module docstring)."""

    loop_clock = None  # the loop runs on the host's monotonic clock
    ingest_child_can_subscribe = True  # the ingest child's own DdsTransport on the same domain stands in for this one
    recorder = None

    def __init__(self, domain_id: int, security: DdsSecurityConfig | None = None) -> None:
        self.domain_id = domain_id
        # Held for the participant's life: with transport.security, the domain that carries Cyclone's plugins.
        self._domain = secure_domain(domain_id, security) if security is not None else None
        self.callback_errors = 0
        self.decode_errors = 0
        self.last_error = ""
        self._lock = threading.Lock()  # entity creation and close; never taken on Cyclone's threads
        self._stats_lock = threading.Lock()  # the counters; taken on Cyclone's threads
        self._closed = False
        self._participant = DomainParticipant(domain_id)
        self._topics: dict[str, Topic] = {}
        self._subscriptions: list[_Subscription] = []
        self._readers: list[DataReader] = []
        self._writers: list[tuple[DataWriter, bool]] = []
        self._guard = TopicGuard()  # no listener on a topic this participant writes (topic_guard.py)

    # --- Transport protocol ----------------------------------------------

    def subscribe(self, topic: str, msg_type: str | type, callback: MessageCallback, *,
                  reliable: bool | None = None, on_publishers: Callable[[int], None] | None = None) -> None:
        """Call ``callback(msg)`` for every message on ``topic`` (ROS name), from Cyclone's thread.

        ``msg_type`` is a ROS type name (``"sensor_msgs/msg/Imu"``) or a class
        of :mod:`.ros_msgs`. QoS: sensor data (best effort) for
        ``sensor_msgs/*``, ROS default (reliable) otherwise, unless ``reliable`` says.
        ``on_publishers(count)``: called with the number of writers matched with the reader whenever it changes
        (a subscription-matched listener, on Cyclone's thread) and once after subscribing.
        """
        cls = ros_msgs.resolve_type(msg_type)
        if reliable is None:
            reliable = not _is_sensor_type(cls)
        sub = _Subscription(self, topic, cls, callback)
        with self._lock:
            self._check_open()
            t = self._topic(topic, cls)
            self._guard.claim_reader(t.name)
            try:
                listener = Listener(on_data_available=sub.on_data_available)
                if on_publishers is not None:
                    listener.set_on_subscription_matched(sub.on_matched(on_publishers))
                reader = DataReader(self._participant, t, qos=DEFAULT_QOS if reliable else SENSOR_QOS, listener=listener)
            except BaseException:
                self._guard.release(t.name, reader=True)
                raise
            sub.reader = reader
            self._subscriptions.append(sub)
            self._readers.append(reader)
        # Samples that arrived before sub.reader was set were not taken; take them now.
        sub.on_data_available(reader)
        if on_publishers is not None:  # writers matched before the listener was attached
            sub.on_matched(on_publishers)(reader, reader.get_subscription_matched_status())

    def twist_publisher(self, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> Any:
        """geometry_msgs/Twist (or TwistStamped, stamped with wall-clock ROS time) on ``topic``: reliable, keep last 10."""
        if stamped:
            return outputs.twist_publisher(self, topic, stamped=True, frame_id=frame_id)
        writer = self._writer(topic, ros_msgs.Twist, reliable=True)
        return DdsTwistPublisher(self, writer, ros_msgs.Twist, topic)

    def message_classes(self) -> outputs.MessageClasses:
        return outputs.idl_message_classes()

    def ros_time_ns(self) -> int:
        """ROS time as a node without use_sim_time has it: the system (wall) clock."""
        return time.time_ns()

    def publisher(self, topic: str, msg_type: str | type, reliable: bool = True) -> DdsPublisher:
        """A publisher of ``msg_type`` IDL messages; reliable + keep last 10, or best effort + keep last 5."""
        cls = ros_msgs.resolve_type(msg_type)
        return DdsPublisher(self, self._writer(topic, cls, reliable=reliable), cls, topic)

    def set_callback_priority(self, priority: int | None) -> str:
        """SCHED_FIFO ``priority`` for the Cyclone threads of this process that run subscription callbacks.

        Why: a callback runs Python, so it holds the interpreter lock. At the normal policy a busy machine can
        preempt that thread mid-callback for a scheduler slice or more while a real-time thread of the same process
        (the control loop) waits for the lock. Meant for a process whose callbacks are few and short (the daemon's
        fault-injection topic, with sensors ingested in their own processes): at a real-time priority a camera
        callback would take a core from everything below it. The threads are the process's, shared by every
        participant in it. Returns what was done, in words; None: left alone.
        """
        if priority is None:
            return "not requested"
        # Cyclone's threads name themselves once they first run, so on a loaded machine a participant just created
        # can still show its receive thread unnamed: wait (briefly, at start-up only) until it has its name, or the
        # thread that matters most would silently stay at the normal policy.
        deadline = time.monotonic() + _CALLBACK_THREAD_WAIT_S
        tasks = _callback_tasks()
        while not any(name.startswith("recv") for name, _ in tasks) and time.monotonic() < deadline:
            time.sleep(0.005)
            tasks = _callback_tasks()
        if not tasks:
            return f"no callback threads found (expected one of {', '.join(CALLBACK_THREADS)})"
        raised: list[str] = []
        for name, tid in tasks:
            said = set_fifo(priority, tid)
            if not said.startswith("SCHED_FIFO"):
                return said
            raised.append(name)
        return f"SCHED_FIFO {priority} ({', '.join(raised)})"

    def close(self) -> None:
        """Give reliable publishers a moment to get their last samples acknowledged, then delete everything.

        Idempotent; callbacks are not called after it returns. Must not be
        called from inside a callback.
        """
        with self._lock:
            if self._closed:
                return
            deadline = time.monotonic() + _ACK_WAIT_ON_CLOSE_S
            for writer, reliable in self._writers:
                left = deadline - time.monotonic()
                if reliable and left > 0:
                    try:
                        writer.wait_for_acks(duration(seconds=left))
                    except Exception:  # noqa: BLE001 - best effort: closing must go on
                        pass
            self._closed = True
            # Deleting the participant deletes its readers, writers and topics;
            # Cyclone waits for callbacks in progress before returning.
            participant = self._participant
            try:
                participant.__del__()
            except Exception as err:  # noqa: BLE001
                log.warning("deleting the DDS participant failed: %s", err)
            self._subscriptions.clear()
            self._readers.clear()
            self._writers.clear()
            self._topics.clear()
            self._guard.clear()

    # --- extras ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> DdsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosed("the transport is closed")

    def _topic(self, ros_topic: str, cls: type) -> Topic:
        name = ros_msgs.dds_topic_name(ros_topic)
        t = self._topics.get(name)
        if t is None:
            t = self._topics[name] = Topic(self._participant, name, cls)
        elif t.data_type is not cls:
            raise ValueError(f"{ros_topic} is already used with {t.data_type.__name__}, not {cls.__name__}")
        return t

    def _writer(self, ros_topic: str, cls: type, reliable: bool) -> DataWriter:
        with self._lock:
            self._check_open()
            t = self._topic(ros_topic, cls)
            self._guard.claim_writer(t.name)
            try:
                writer = DataWriter(self._participant, t, qos=DEFAULT_QOS if reliable else SENSOR_QOS)
            except BaseException:
                self._guard.release(t.name, reader=False)
                raise
            self._writers.append((writer, reliable))
            return writer

    def _count_callback_error(self, topic: str, err: BaseException) -> None:
        with self._stats_lock:
            self.callback_errors += 1
            n = self.callback_errors
            self.last_error = f"callback on {topic}: {type(err).__name__}: {err}"
        if n == 1:
            log.error("callback for %s raised (further errors are only counted): %r", topic, err, exc_info=err)

    def _count_decode_error(self, topic: str, err: BaseException) -> None:
        with self._stats_lock:
            self.decode_errors += 1
            n = self.decode_errors
            self.last_error = f"decode on {topic}: {type(err).__name__}: {err}"
        if n == 1:
            log.warning("dropped an undecodable sample on %s (further ones are only counted): %r", topic, err)
