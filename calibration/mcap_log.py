"""Residual logs as MCAP files with ROS 2 message schemas, rotated by size and age, capped in total size.

Why MCAP through ``mcap`` + ``mcap-ros2-support`` (and not a rosbag2 folder
through rosbags): each rotated file must stand alone and stay readable after
the daemon is killed mid-write. A bare ``.mcap`` with the ``ros2`` profile,
``ros2msg`` schemas and CDR messages is what Foxglove and PlotJuggler open
directly (File > Open), with no ``metadata.yaml`` beside it to keep in step;
the ``mcap`` writer also lets us close a chunk on demand (:meth:`flush`),
which bounds what a SIGKILL or power cut can lose.

Topics in every file (``<prefix>`` is ``/edgepilot`` by default):

* ``<prefix>/record`` std_msgs/Float64MultiArray: the whole record, one
  per control tick; the element names are in ``layout.dim[0].label``
  (comma-separated) and in the file's ``edgepilot.layout`` metadata. The
  fitter reads this topic.
* ``<prefix>/measured/<field>``, ``<prefix>/predicted/<field>``,
  ``<prefix>/residual/<field>`` std_msgs/Float64 for each residual field
  (``imu.angular_velocity.z`` -> ``.../imu/angular_velocity/z``): one named
  series per field, which is what PlotJuggler and Foxglove plot best.
* ``<prefix>/cmd`` and ``<prefix>/cmd_sent`` geometry_msgs/Twist: the
  commanded and the actually sent (compensated) twist.
* ``<prefix>/observation`` std_msgs/Float32MultiArray: the model input.

Message log times are wall-clock nanoseconds of the control tick.

Durability: the writer closes its chunk and flushes to the OS every
``flush_period_s`` and fsyncs every ``fsync_period_s``; a killed process
leaves a file whose complete chunks :func:`read_mcap_messages` and ``mcap``'s
stream reader still read (up to the first incomplete record; the file is
reported as truncated). Such a file has no footer, which the indexed readers
(``mcap``'s ``make_reader``, ``rosbags``) need: the next writer started on
the directory finishes every file of its stem whose writer process is dead
(with a log line), and ``edgepilot bag recover FILE`` does it by hand.

A full disk (or any write error) drops records, never control: the record
is counted in ``stats.dropped``, the file it broke is left for recovery,
and writing resumes in a new file after ``retry_s``. Rotation starts a new file when the current one passes
``max_file_bytes`` or ``max_file_age_s``; after each rotation the oldest
files are deleted until the directory holds at most ``max_total_bytes``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edgepilot.common.atomic_file import temp_path_for
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap_ros2._dynamic import DecoderFunction, generate_dynamic
from mcap_ros2.writer import Writer as Ros2Writer

log = logging.getLogger(__name__)

SEP = "=" * 80
MCAP_MAGIC = b"\x89MCAP0\r\n"

MSGDEFS: dict[str, str] = {
    "std_msgs/msg/Float64": "float64 data\n",
    "std_msgs/msg/Float64MultiArray": (
        "std_msgs/MultiArrayLayout layout\nfloat64[] data\n" + SEP + "\nMSG: std_msgs/MultiArrayLayout\n"
        "std_msgs/MultiArrayDimension[] dim\nuint32 data_offset\n" + SEP + "\nMSG: std_msgs/MultiArrayDimension\n"
        "string label\nuint32 size\nuint32 stride\n"),
    "std_msgs/msg/Float32MultiArray": (
        "std_msgs/MultiArrayLayout layout\nfloat32[] data\n" + SEP + "\nMSG: std_msgs/MultiArrayLayout\n"
        "std_msgs/MultiArrayDimension[] dim\nuint32 data_offset\n" + SEP + "\nMSG: std_msgs/MultiArrayDimension\n"
        "string label\nuint32 size\nuint32 stride\n"),
    "geometry_msgs/msg/Twist": (
        "Vector3 linear\nVector3 angular\n" + SEP + "\nMSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"),
}


@dataclass
class RotationPolicy:
    """When to start a new file and how much to keep. Sizes in bytes, times in seconds."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_file_age_s: float = 600.0
    max_total_bytes: int = 1024 * 1024 * 1024
    chunk_bytes: int = 64 * 1024
    flush_period_s: float = 1.0
    fsync_period_s: float = 5.0


@dataclass
class WriterStats:
    files_opened: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    messages: int = 0
    write_errors: int = 0
    dropped: int = 0
    recovered: int = 0
    last_error: str = ""
    current_file: str = ""


class RotatingMcapWriter:
    """Writes ROS 2-schema MCAP messages into ``directory/<stem>_<start time>_<n>.mcap``, rotating and capping.

    ``metadata``: MCAP metadata records written at the start of every file
    (name -> string map), so each file can be read on its own.
    """

    def __init__(self, directory: str | Path, stem: str = "residuals", policy: RotationPolicy | None = None,
                 metadata: dict[str, dict[str, str]] | None = None, clock=time.monotonic, retry_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stem = stem
        self.policy = policy or RotationPolicy()
        self.metadata = dict(metadata or {})
        self.stats = WriterStats()
        self._clock = clock
        self._file: Any = None
        self._writer: Ros2Writer | None = None
        self._schemas: dict[str, Schema] = {}
        self._opened_at = 0.0
        self._last_flush = 0.0
        self._last_fsync = 0.0
        self._index = 0
        self.retry_s = retry_s
        self._failed_at: float | None = None
        self._broken: list[Path] = []
        self._unflushed = 0  # messages in the chunk being built: lost if the disk fails before it is written
        self._recover_killed_files()

    def _recover_killed_files(self) -> None:
        """Finish the files of this stem that a killed writer left without footer (their pid is in the name)."""
        from edgepilot.common.atomic_file import pid_alive
        from edgepilot.daemon.transport.bag.mcap_salvage import is_finished, salvage_in_place

        for path in self.files():
            parts = path.stem.split("_")
            pid = int(parts[-2]) if len(parts) >= 4 and parts[-2].isdigit() else None
            if pid is None or pid == os.getpid() or pid_alive(pid) or is_finished(path):
                continue
            try:
                report = salvage_in_place(path)
            except (OSError, ValueError) as err:
                log.warning("could not finish the residual log %s left by process %s: %s", path, pid, err)
                continue
            self.stats.recovered += 1
            log.warning("finished the residual log %s left open by process %s (killed?): %d messages kept",
                        path, pid, report.messages if report else 0)

    # ------------------------------------------------------------------ files

    def _open(self) -> None:
        now = self._clock()
        wall = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(wall)) + f"{int(wall * 1000) % 1000:03d}"
        while True:  # never overwrite: two writers may start within the same millisecond
            self._index += 1
            path = self.directory / f"{self.stem}_{stamp}_{os.getpid()}_{self._index:04d}.mcap"
            if not path.exists():
                break
        # Written under a hidden name until the header, schemas and metadata are in it: the file never exists
        # empty or cut inside its header, and a kill before its first chunk leaves a valid start.
        tmp = temp_path_for(path)
        self._file = open(tmp, "wb")
        try:
            self._writer = Ros2Writer(self._file, chunk_size=self.policy.chunk_bytes)
            self._schemas = {name: self._writer.register_msgdef(name, text) for name, text in MSGDEFS.items()}
            for name, data in self.metadata.items():
                self._writer.add_metadata(name, data)
            self._writer._writer.flush()
            self._file.flush()
            os.replace(tmp, path)
        except BaseException:  # disk full before the header was out: no file at all, nothing to recover
            self._writer = None
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
            tmp.unlink(missing_ok=True)
            raise
        self._opened_at = self._last_flush = self._last_fsync = now
        self.stats.files_opened += 1
        self.stats.current_file = str(path)

    def _close(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.finish()
            self._unflushed = 0
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._writer = None
            self._file = None

    def _size(self) -> int:
        return self._file.tell() if self._file is not None else 0

    def files(self) -> list[Path]:
        """This writer's files in the directory, oldest first (names sort by start time)."""
        return sorted(self.directory.glob(f"{self.stem}_*.mcap"))

    def _enforce_cap(self) -> None:
        files = self.files()
        current = Path(self.stats.current_file) if self.stats.current_file else None
        sizes = {p: p.stat().st_size for p in files if p.exists()}
        total = sum(sizes.values())
        for p in files:
            if total <= self.policy.max_total_bytes:
                break
            if p == current:
                continue
            try:
                p.unlink()
            except OSError as err:
                self.stats.write_errors += 1
                self.stats.last_error = f"cannot delete {p}: {err.strerror}"
                continue
            total -= sizes.get(p, 0)
            self.stats.files_deleted += 1
            self.stats.bytes_deleted += sizes.get(p, 0)

    def _maybe_rotate(self, now: float) -> None:
        if self._writer is None:
            self._open()
            self._enforce_cap()
            return
        if self._size() >= self.policy.max_file_bytes or now - self._opened_at >= self.policy.max_file_age_s:
            self._close()
            self._open()
            self._enforce_cap()

    # ------------------------------------------------------------------ writing

    def write(self, topic: str, msgtype: str, message: dict[str, Any], log_time_ns: int, sequence: int = 0) -> None:
        """Write one message; on a write error (disk full) it is dropped and counted, never raised."""
        now = self._clock()
        if self._failed_at is not None:
            if now - self._failed_at < self.retry_s:
                self.stats.dropped += 1
                return
            self._failed_at = None
        try:
            self._maybe_rotate(now)
            assert self._writer is not None
            size = self._file.tell()
            self._writer.write_message(topic, self._schemas[msgtype], message, log_time=log_time_ns,
                                       publish_time=log_time_ns, sequence=sequence & 0xFFFFFFFF)
        except OSError as err:
            self.stats.dropped += 1
            self._write_failed(now, err)
            return
        self.stats.messages += 1
        self._unflushed = 0 if self._file.tell() != size else self._unflushed + 1  # a chunk went out with this one

    def _write_failed(self, now: float, err: OSError) -> None:
        """The file may now end anywhere inside a record: leave it for recovery, retry later in a new one."""
        self.stats.write_errors += 1
        self.stats.dropped += self._unflushed  # the chunk being built is lost with the file's tail
        self.stats.messages -= self._unflushed
        self._unflushed = 0
        self.stats.last_error = f"{err.strerror or err}"
        if self.stats.write_errors == 1:
            log.warning("residual log write failed (%s): records are dropped and counted until it works again", err)
        self._failed_at = now
        if self._file is not None:
            self._broken.append(Path(self.stats.current_file))
            try:
                self._file.close()
            except OSError:
                pass
        self._writer = None
        self._file = None

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """Write a metadata record now (into the current file) and into every file opened later."""
        self.metadata[name] = dict(data)
        if self._writer is not None:
            self._writer.add_metadata(name, data)

    def tick(self) -> None:
        """Flush and fsync on their periods; call after each batch of writes."""
        if self._writer is None:
            return
        now = self._clock()
        try:
            self._flush(now)
        except OSError as err:
            self._write_failed(now, err)

    def _flush(self, now: float) -> None:
        if now - self._last_flush >= self.policy.flush_period_s:
            self._writer._writer.flush()  # closes the chunk in progress: complete chunks are what survive a kill
            self._file.flush()
            self._last_flush = now
            self._unflushed = 0
        if now - self._last_fsync >= self.policy.fsync_period_s:
            os.fsync(self._file.fileno())
            self._last_fsync = now

    def close(self) -> None:
        from edgepilot.daemon.transport.bag.mcap_salvage import salvage_in_place

        self._close()
        for path in self._broken:  # files a write error cut: finished now if there is room again
            try:
                salvage_in_place(path)
            except (OSError, ValueError):
                pass  # still no room: the next writer on the directory finishes it
        self._broken.clear()
        self._enforce_cap()


# --------------------------------------------------------------------------- reading


@dataclass
class McapContents:
    """Everything read from one MCAP file: metadata, decoded messages by topic, and whether it was cut off."""

    path: Path
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    messages: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)  # topic -> [(log_time_ns, decoded)]
    truncated: bool = False
    error: str = ""


def read_mcap_messages(path: str | Path, topics: set[str] | None = None) -> McapContents:
    """Read an MCAP file front to back, decoding ROS 2 messages, tolerating a cut-off end.

    A file whose writer was killed ends in a partial record (or has no
    footer): reading stops there, ``truncated`` is set and everything before
    it is returned. The stream reader is used instead of the indexed reader
    because a killed file has no summary section to seek with.
    """
    path = Path(path)
    out = McapContents(path)
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    decoders: dict[int, DecoderFunction] = {}
    footer_seen = False
    with open(path, "rb") as f:
        if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise ValueError(f"{path} does not start with the MCAP magic bytes")
        f.seek(0)
        reader = StreamReader(f, skip_magic=False, validate_crcs=True)
        it: Iterator[Any] = iter(reader.records)
        while True:
            try:
                rec = next(it)
            except StopIteration:
                footer_seen = True
                break
            except Exception as err:  # noqa: BLE001 - any parse failure past the last complete record is the cut
                out.truncated = True
                out.error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                break
            if isinstance(rec, Schema):
                schemas[rec.id] = rec
            elif isinstance(rec, Channel):
                channels[rec.id] = rec
            elif isinstance(rec, Metadata):
                out.metadata[rec.name] = dict(rec.metadata)
            elif isinstance(rec, Message):
                ch = channels.get(rec.channel_id)
                if ch is None or (topics is not None and ch.topic not in topics):
                    continue
                dec = decoders.get(ch.schema_id)
                if dec is None:
                    sch = schemas[ch.schema_id]
                    dec = generate_dynamic(sch.name, sch.data.decode())[sch.name]
                    decoders[ch.schema_id] = dec
                out.messages.setdefault(ch.topic, []).append((rec.log_time, dec(rec.data)))
    if not footer_seen:
        out.truncated = True
    return out
