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
rosbag2 bag folder (``metadata.yaml`` + ``NAME_0.mcap``, ``NAME_1.mcap`` ...).

Crash consistency: a SIGKILL or power cut must leave something the standard
readers open. So the hidden folder is itself a valid split bag at every
moment: the bag is written in segments of ``segment_s`` seconds, each a
finished MCAP (footer, index) once it is closed, and ``metadata.yaml``
(written before the first message, rewritten atomically after each segment)
lists only finished segments. A kill loses at most the open segment to
``rosbags``/``ros2 bag``; ``edgepilot bag recover`` (:mod:`.recover`) adds
its complete records back and moves the bag into place, and the next
recorder started in the same folder does that by itself, with a log line.

A write that fails (disk or tmpfs full, I/O error) drops that message,
counts it in ``write_errors`` and sets ``degraded`` (the daemon raises it as
a diagnostic); the recorder keeps trying with the next segment, and the
control loop never waits on it.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from edgepilot.common.atomic_file import fsync_dir
from edgepilot.daemon.transport import outputs
from edgepilot.daemon.transport.base import MessageCallback, PublisherCountCallback
from edgepilot.daemon.transport.bag.bag_index import describe_file, write_metadata
from edgepilot.daemon.transport.bag.mcap_salvage import copy_mcap
from edgepilot.daemon.transport.bag.recover import FINAL_NAME, recover_leftovers
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


class _Segments:
    """The open segment (a rosbags writer in ``folder/NAME_k/``) and the finished ones beside it."""

    def __init__(self, folder: Path, stem: str, typestore: Any) -> None:
        self.folder, self.stem, self.typestore = folder, stem, typestore
        self.done: list[dict[str, Any]] = []
        self.index = 0
        self.writer: Any = None
        self.connections: dict[tuple[str, str], Any] = {}
        self.count = 0
        write_metadata(folder, [])  # before the first message: a bag killed at once still opens (empty)

    def _open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.count = 0  # messages in the open segment: what a failure of its file loses
        self.connections = {}
        writer = Writer(self.folder / f"{self.stem}_{self.index}", version=8, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        self.writer = writer

    def write_empty(self) -> None:
        """One finished segment without messages, so a recording of nothing is still a valid bag."""
        self._open()
        self.finish()

    def write(self, topic: str, msg_type: str, t_ns: int, raw: bytes) -> None:
        if self.writer is None:
            self._open()
        conn = self.connections.get((topic, msg_type))
        if conn is None:
            conn = self.writer.add_connection(topic, msg_type, typestore=self.typestore)
            self.connections[(topic, msg_type)] = conn
        self.writer.write(conn, int(t_ns), raw)
        self.count += 1

    def finish(self) -> None:
        """Close the open segment, move its file beside the others, list it in ``metadata.yaml``."""
        if self.writer is None:
            return
        writer = self.writer
        name = f"{self.stem}_{self.index}"
        try:
            writer.close()
        except Exception:
            self.writer = None
            self.index += 1
            shutil.rmtree(self.folder / name, ignore_errors=True)
            raise
        self.writer = None
        self.index += 1
        self.count = 0
        src = self.folder / name / f"{name}.mcap"
        with open(src, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(src, self.folder / f"{name}.mcap")
        shutil.rmtree(self.folder / name)
        self.done.append(describe_file(self.folder / f"{name}.mcap"))
        write_metadata(self.folder, self.done)

    def abandon(self) -> None:
        """After a failed write: drop the open segment (its file may be cut anywhere), keep the finished ones."""
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already failing; the folder is removed below
                pass
            shutil.rmtree(self.folder / f"{self.stem}_{self.index}", ignore_errors=True)
            self.index += 1
        self.count = 0


class BagRecorder:
    """Writes (topic, type, message, time) records to a rosbag2 MCAP bag from a thread of its own."""

    def __init__(self, path: str | Path, *, max_pending: int = 100_000, segment_s: float = 2.0) -> None:
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists; the recorder never overwrites a recording")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot record to {self.path}: folder {self.path.parent} does not exist")
        self.recovered = recover_leftovers(self.path.parent)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists (recovered from a killed recording); the recorder never "
                                  "overwrites a recording")
        self.typestore = get_typestore(Stores.ROS2_HUMBLE)
        self._tmp = self.path.parent / f".{self.path.name}.recording-{os.getpid()}"
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir()
        stem = self.path.stem if self.path.suffix == ".mcap" else self.path.name
        self._segments = _Segments(self._tmp, stem, self.typestore)
        self.segment_s = float(segment_s)
        self._segment_t0 = time.monotonic()
        self._queue: collections.deque[tuple[str, str, Any, int]] = collections.deque()
        self.max_pending = max_pending
        self.recorded = 0
        self.dropped = 0
        self.errors = 0
        self.write_errors = 0
        self.lost_to_disk = 0
        self.last_error = ""
        self._topics: set[str] = set()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="edgepilot-recorder", daemon=True)
        self._thread.start()

    @property
    def degraded(self) -> bool:
        """True once a message was lost to the disk (full, I/O error): raise it as a diagnostic."""
        return self.write_errors > 0

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
            if time.monotonic() - self._segment_t0 >= self.segment_s:
                self._segment_t0 = time.monotonic()
                self._finish_segment()
            if self._stopping:
                self._drain()
                return

    def _drain(self) -> None:
        q = self._queue
        while q:
            topic, msg_type, msg, t_ns = q.popleft()
            try:
                raw = to_cdr(msg, msg_type, self.typestore)
            except Exception as err:  # noqa: BLE001 - a message that cannot be recorded must not stop the others
                self._count_error(topic, err)
                continue
            try:
                self._segments.write(topic, msg_type, t_ns, raw)
            except OSError as err:  # disk full, I/O error: this message and its open segment are lost
                self._lost_segment(topic, err, extra=1)
                self._segments.abandon()
                continue
            self.recorded += 1
            self._topics.add(topic)

    def _count_error(self, topic: str, err: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{topic}: {type(err).__name__}: {err}"
        if self.errors == 1:
            log.warning("could not record a message on %s (further errors are only counted): %r", topic, err)

    def _lost_segment(self, topic: str, err: OSError, extra: int = 0) -> None:
        """The open segment's messages never reach a finished file: no longer recorded, lost to the disk."""
        lost = self._segments.count + extra
        self.recorded -= lost - extra
        self.lost_to_disk += lost
        self.write_errors += 1
        self._count_error(topic, err)

    def _finish_segment(self) -> None:
        try:
            self._segments.finish()
        except OSError as err:
            self._lost_segment("(segment)", err)

    def close(self) -> Path:
        """Write everything queued, finish the file and move it into place; returns the output path. Idempotent.

        With the disk full the bag stays in its hidden folder (a valid bag up to its last finished segment) and
        that folder is returned: ``edgepilot bag recover`` moves it into place once there is room.
        """
        if self._closed:
            return self.path
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._closed = True
        self._finish_segment()
        try:
            if not self._segments.done:  # nothing recorded: still a valid, empty bag
                self._segments.write_empty()
            self._move_into_place()
        except OSError as err:
            self.write_errors += 1
            self._count_error("(close)", err)
            log.error("could not finish the recording %s (%s); it stays in %s: run `edgepilot bag recover %s`",
                      self.path, err, self._tmp, self._tmp)
            self.path = self._tmp
        return self.path

    def _move_into_place(self) -> None:
        files = [self._tmp / d["path"] for d in self._segments.done]
        if self.path.suffix == ".mcap":
            # In this order, so that a kill at any step leaves a folder that recovery reads unambiguously: the
            # segments (plus maybe a finished FINAL_NAME), FINAL_NAME alone, or nothing once the target exists.
            final = self._tmp / FINAL_NAME
            if len(files) == 1:
                os.replace(files[0], final)
            else:
                copy_mcap(files, final)
            for f in self._tmp.iterdir():
                if f != final:
                    f.unlink()
            fsync_dir(self._tmp)
            os.replace(final, self.path)
            fsync_dir(self.path.parent)
            self._tmp.rmdir()
        else:
            os.replace(self._tmp, self.path)
        fsync_dir(self.path.parent)

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "recorded": self.recorded, "dropped": self.dropped, "errors": self.errors,
                "write_errors": self.write_errors, "lost_to_disk": self.lost_to_disk, "last_error": self.last_error, "topics": sorted(self._topics),
                "segments": len(self._segments.done)}

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

    ingest_child_can_subscribe = False  # every received message must pass through here to be written

    def __init__(self, inner: Any, recorder: BagRecorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.loop_clock = inner.loop_clock

    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback, *, reliable: bool | None = None,
                  on_publishers: PublisherCountCallback | None = None) -> None:
        record = self.recorder.record
        now = self.inner.ros_time_ns
        typ = normalise_type(msg_type)

        def recorded(msg: Any) -> None:
            record(topic, typ, msg, now())
            callback(msg)

        self.inner.subscribe(topic, msg_type, recorded, reliable=reliable, on_publishers=on_publishers)

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
