"""Recording: everything the daemon receives and publishes, written to a rosbag2 MCAP file.

:class:`RecordingTransport` wraps any transport: each subscription callback
and each publisher also hands its message to a :class:`BagRecorder`, stamped
with the transport's ROS time (wall clock live, the bag's time under replay,
``/clock`` under ``use_sim_time``), as ``ros2 bag record`` would log it. The
file is written by ``rosbags``' rosbag2 writer (MCAP storage, message
definitions embedded), so Foxglove, PlotJuggler, ``ros2 bag`` and
``rosbags`` open it.

Threading: :meth:`BagRecorder.record` only appends a reference to a deque
(thread-safe, O(1)); a writer thread of the recorder serialises to CDR and
writes. Messages are serialised with whatever made them: Cyclone IDL
objects by ``serialize()``, rosbags objects by the typestore, rclpy objects
by ``rclpy.serialization`` (all three produce the same CDR, see
tests/daemon/transport/test_ros_msgs.py). If the writer falls more than
``max_pending`` messages behind, newer messages are dropped and counted in
``dropped`` rather than growing memory without bound.

The output appears atomically: the bag is written into a hidden folder next
to the target, fsynced, and renamed into place on :meth:`close`. A target
ending in ``.mcap`` becomes that single MCAP file; any other name becomes a
rosbag2 bag folder (``metadata.yaml`` + the ``.mcap``).
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from edgepilot.daemon.transport import outputs
from edgepilot.daemon.transport.base import MessageCallback
from edgepilot.daemon.transport.bag.replay import normalise_type

log = logging.getLogger(__name__)

__all__ = ["BagRecorder", "RecordingTransport", "to_cdr"]


def to_cdr(msg: Any, msg_type: str, typestore: Any) -> bytes:
    """CDR bytes (with the 4-byte encapsulation header, as rosbag2 stores them) of a ROS-shaped message."""
    if hasattr(type(msg), "__idl_typename__"):  # Cyclone IDL class (dds, replay outputs)
        return msg.serialize()
    if hasattr(msg, "__msgtype__"):  # rosbags message (replay inputs)
        return bytes(typestore.serialize_cdr(msg, normalise_type(msg.__msgtype__)))
    from rclpy.serialization import serialize_message  # rclpy message (ros2 transport)

    return serialize_message(msg)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BagRecorder:
    """Writes (topic, type, message, time) records to a rosbag2 MCAP bag from a thread of its own."""

    def __init__(self, path: str | Path, *, max_pending: int = 100_000) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists; the recorder never overwrites a recording")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot record to {self.path}: folder {self.path.parent} does not exist")
        self.typestore = get_typestore(Stores.ROS2_HUMBLE)
        self._tmp = self.path.parent / f".{self.path.name}.recording-{os.getpid()}"
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._writer = Writer(self._tmp, version=8, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[tuple[str, str], Any] = {}
        self._queue: collections.deque[tuple[str, str, Any, int]] = collections.deque()
        self.max_pending = max_pending
        self.recorded = 0
        self.dropped = 0
        self.errors = 0
        self.last_error = ""
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="edgepilot-recorder", daemon=True)
        self._thread.start()

    def record(self, topic: str, msg_type: str, msg: Any, t_ns: int) -> None:
        """Queue one message (any thread). Never blocks and never raises."""
        if self._stopping or len(self._queue) >= self.max_pending:
            self.dropped += 1
            return
        self._queue.append((topic, msg_type, msg, t_ns))
        if len(self._queue) >= 64:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.05)
            self._wake.clear()
            self._drain()
            if self._stopping:
                self._drain()
                return

    def _drain(self) -> None:
        q = self._queue
        while q:
            topic, msg_type, msg, t_ns = q.popleft()
            try:
                key = (topic, msg_type)
                conn = self._connections.get(key)
                if conn is None:
                    conn = self._connections[key] = self._writer.add_connection(topic, msg_type, typestore=self.typestore)
                self._writer.write(conn, int(t_ns), to_cdr(msg, msg_type, self.typestore))
                self.recorded += 1
            except Exception as err:  # noqa: BLE001 - a message that cannot be recorded must not stop the others
                self.errors += 1
                self.last_error = f"{topic}: {type(err).__name__}: {err}"
                if self.errors == 1:
                    log.warning("could not record a message on %s (further errors are only counted): %r", topic, err)

    def close(self) -> Path:
        """Write everything queued, finish the file and move it into place; returns the output path. Idempotent."""
        if self._closed:
            return self.path
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._closed = True
        self._writer.close()
        storage = self._tmp / f"{self._tmp.name}.mcap"
        with open(storage, "rb+") as f:
            os.fsync(f.fileno())
        if self.path.suffix == ".mcap":
            os.replace(storage, self.path)
            shutil.rmtree(self._tmp)
        else:
            with open(self._tmp / "metadata.yaml", "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self._tmp, self.path)
        _fsync_dir(self.path.parent)
        return self.path

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "recorded": self.recorded, "dropped": self.dropped, "errors": self.errors,
                "last_error": self.last_error, "topics": sorted({t for t, _ in self._connections})}


class _RecordingPublisher:
    def __init__(self, inner: Any, recorder: BagRecorder, topic: str, msg_type: str, now: Any) -> None:
        self._inner = inner
        self._recorder = recorder
        self._topic = topic
        self._type = msg_type
        self._now = now

    def publish(self, msg: Any) -> None:
        self._inner.publish(msg)
        self._recorder.record(self._topic, self._type, msg, self._now())

    def __getattr__(self, name: str) -> Any:  # wait_for_subscribers, matched_subscriptions, count ...
        return getattr(self._inner, name)


class RecordingTransport:
    """A transport that records, to ``recorder``, everything that passes through ``inner``."""

    def __init__(self, inner: Any, recorder: BagRecorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.loop_clock = getattr(inner, "loop_clock", None)

    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback, *, reliable: bool | None = None,
                  **extra: Any) -> None:
        """``extra``: what the inner transport's subscribe takes beyond the protocol (DDS: ``on_publishers``)."""
        record = self.recorder.record
        now = self.inner.ros_time_ns
        typ = normalise_type(msg_type)

        def recorded(msg: Any) -> None:
            record(topic, typ, msg, now())
            callback(msg)

        self.inner.subscribe(topic, msg_type, recorded, reliable=reliable, **extra)

    def publisher(self, topic: str, msg_type: str, reliable: bool = True) -> _RecordingPublisher:
        return _RecordingPublisher(self.inner.publisher(topic, msg_type, reliable=reliable), self.recorder, topic,
                                   normalise_type(msg_type), self.inner.ros_time_ns)

    def twist_publisher(self, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> outputs.TwistCommandPublisher:
        return outputs.twist_publisher(self, topic, stamped=stamped, frame_id=frame_id)

    def message_classes(self) -> Any:
        return self.inner.message_classes()

    def ros_time_ns(self) -> int:
        return self.inner.ros_time_ns()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.recorder.close()

    def __getattr__(self, name: str) -> Any:  # summary(), missing_topics, callback_errors ... of the inner transport
        return getattr(self.inner, name)
