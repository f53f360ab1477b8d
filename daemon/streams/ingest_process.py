"""Sensor ingest in its own process (``ingest: {mode: process}``, and ``auto`` on DDS), writing shared-memory rings.

Why: in one process the transport's callbacks and the control loop share one
interpreter lock, so a loop waking for its deadline waits for whatever
callback holds it (bench/loop_under_load.py measures it). With this mode the
daemon's process keeps no subscription at all: a child process owns the
DDS subscriptions and the ingests, and writes every sample into the same
:class:`~.ring_buffer.RingBuffer` layout the loop reads, placed in one
memory-mapped file in the daemon's private runtime directory (a plain file,
as in :mod:`.heartbeat`: ``multiprocessing.shared_memory``'s resource tracker
would unlink it when either process exits; the directory, the exclusive
creation and the modes are :mod:`edgepilot.common.private_files`'s). The loop's side is unchanged: its stream snapshots
read those rings, and its integrity checks (:mod:`.stream_integrity`) read
the words the child's checks write in the same file (the child drops and
counts bad stamps, duplicates, reordering and floods, and notes value
changes; the loop raises ``stamp``, ``rate`` and ``frozen`` from those
words, and checks ``value_range`` on its own snapshot).

Children: the streams are split over several children, each with its own DDS
participant and interpreter, so that one stream's callbacks never queue
behind another's: one child for every non-image stream (joint states, IMU,
twists), at ``realtime.ingest_priority`` (SCHED_FIFO, below the loop) where
permitted, and one child per image stream at the normal policy. Decoding a
640x480 frame holds a Cyclone receive thread and an interpreter for about a
millisecond; with images in the same child, joint states waited behind them
(measured on this 2-core machine under the benchmark's load, JointState
publish -> subscriber callback: p99 3.3 ms in one process with the camera,
1.2 ms with the camera in another process, 0.2-0.4 ms when that process also
runs SCHED_FIFO).

Safety: the watchdog does not depend on the children. If the ingest process
dies or hangs, its streams stop updating, go stale, and the loop zeroes the
command (stale-stream faults); if the loop's process stalls, the stall
supervisor (its own process) zeroes it. The child exits when the daemon's
process is gone (parent-death signal, and a poll of its parent pid), and
then removes the shared file the daemon could not.

File layout (int64 words; offsets in bytes; streams in the profile's order;
every block 64-byte aligned): 0: magic, (unused), (unused), stream count;
64: per stream (received, dropped, ready), the counts
copied by the owning child every ``COUNTER_PERIOD_S``; then per stream the ``SHARED_WORDS`` integrity words
(one cache line, written by the child's transport threads as messages
arrive, unused for a stream without limits); then per stream a
``LAST_ERROR_BYTES`` slot holding the latest drop reason (a sequence word,
then NUL-padded UTF-8), copied by the child every ``COUNTER_PERIOD_S``;
then one ring per stream.

Limits: only the ``dds`` transport is supported (replay and rclpy bring
their own clocks or executors), and nothing is recorded from this process
(``transport.record`` would miss every received message); see
:func:`resolve_ingest_mode`. The rings are read across processes: on CPUs
that do not keep memory accesses in order (ARM64) every ring access is
fenced with Cyclone DDS's barrier (:mod:`.memory_fence`); where that barrier
cannot be loaded, ``auto`` keeps ingest in the daemon's process and an
explicit ``process`` fails at start with the reason.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping

import numpy as np

from edgepilot.common.private_files import create_private, private_dir, private_name
from edgepilot.daemon.streams.memory_fence import FenceUnavailable, cross_process_fence
from edgepilot.daemon.streams.ring_buffer import RingBuffer
from edgepilot.daemon.streams.integrity import SHARED_WORDS
from edgepilot.daemon.streams.kinds.registry import kind_for

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile
    from edgepilot.daemon.streams.ingest import StreamIngest
    from edgepilot.daemon.transport.base import Transport

_MAGIC = 0x4550_494E_4745_5354  # "EPINGEST"
_MAGIC_W, _COUNT_W = 0, 3
_COUNTERS_OFFSET = 64
#: Words per stream in the counters block: received, dropped, ready (set once subscribed, see _SCHEDULING_SAID).
_RECEIVED, _DROPPED, _READY = range(3)
_STREAM_WORDS = 3
COUNTER_PERIOD_S = 0.05
#: One drop reason per stream: a sequence word (odd while the child rewrites the text), then the UTF-8 text.
LAST_ERROR_BYTES = 256
_TEXT_BYTES = LAST_ERROR_BYTES - 8


def _align(n: int, a: int = 64) -> int:
    return (n + a - 1) // a * a


def _layout(ingests: Mapping[str, StreamIngest]) -> tuple[int, int, list[int], int]:
    """(integrity words offset, last-error slots offset, ring offsets, total bytes)."""
    n = len(ingests)
    integrity = _align(_COUNTERS_OFFSET + 8 * _STREAM_WORDS * n)
    errors = _align(integrity + 8 * SHARED_WORDS * n)
    offset = _align(errors + LAST_ERROR_BYTES * n)
    offsets = []
    for ing in ingests.values():
        r = ing.ring
        offsets.append(offset)
        offset = _align(offset + RingBuffer.nbytes(r.capacity, r.shape, r.dtype))
    return integrity, errors, offsets, offset


class _SharedRings:
    """The mapped file: header, counters, integrity words and drop reasons, and the rings placed into ``ingests``.

    Every ingest's ``ring`` is replaced by its ring in the file, and its integrity checks (if any) are bound to
    their words in the file; ``create``: this side makes the file and writes the initial values.
    """

    def __init__(self, path: Path, ingests: Mapping[str, StreamIngest], create: bool) -> None:
        n = len(ingests)
        integrity_at, errors_at, offsets, total = _layout(ingests)
        self.path = path
        if create:
            # Exclusive, no symlink followed, 0600, in the private directory (common/private_files.py).
            fd = create_private(path)
            try:
                os.ftruncate(fd, total)  # zero-filled: each RingBuffer writes its header on first use
                self._mm = mmap.mmap(fd, total)
            except BaseException:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
            os.close(fd)
        else:
            with open(path, "r+b") as f:
                self._mm = mmap.mmap(f.fileno(), total)
        words = np.frombuffer(self._mm, np.int64, count=(_COUNTERS_OFFSET + 8 * _STREAM_WORDS * n) // 8)
        self.header = words[:8]
        self.counters = words[8:].reshape(n, _STREAM_WORDS)
        self.integrity = np.frombuffer(self._mm, np.int64, count=SHARED_WORDS * n, offset=integrity_at).reshape(n, SHARED_WORDS)
        slots = np.frombuffer(self._mm, np.uint8, count=LAST_ERROR_BYTES * n, offset=errors_at).reshape(n, LAST_ERROR_BYTES)
        self.error_seq = slots[:, :8].view(np.int64)[:, 0]
        self.error_text = slots[:, 8:]
        if create:
            self.header[_COUNT_W] = n
            self.header[_MAGIC_W] = _MAGIC
        elif self.header[_MAGIC_W] != _MAGIC or self.header[_COUNT_W] != n:
            raise RuntimeError(f"{path} does not hold the ingest rings of this profile")
        self.rings: list[RingBuffer] = []
        self._bound: list[StreamIngest] = []
        fence = cross_process_fence()  # None on x86-64; ARM64: a real barrier (memory_fence.py)
        for k, (off, ing) in enumerate(zip(offsets, ingests.values())):
            old = ing.ring
            view = memoryview(self._mm)[off:off + RingBuffer.nbytes(old.capacity, old.shape, old.dtype)]
            ring = RingBuffer(old.capacity, old.shape, old.dtype, buffer=view, fence=fence)
            view.release()  # the ring keeps its own export of the map
            ing.ring = ring
            self.rings.append(ring)
            if ing.integrity is not None:
                # The creator (the daemon, before the child starts) writes the initial -1 times; the child binds.
                ing.integrity.bind_shared(self.integrity[k], initialise=create)
                self._bound.append(ing)

    def write_last_error(self, k: int, text: str) -> None:
        """The child: publish stream ``k``'s drop reason (truncated to fit its slot)."""
        data = text.encode("utf-8", "replace")[:_TEXT_BYTES]
        seq = self.error_seq
        seq[k] += 1  # odd: being rewritten
        row = self.error_text[k]
        row.fill(0)
        row[:len(data)] = np.frombuffer(data, np.uint8)
        seq[k] += 1

    def read_last_error(self, k: int) -> str:
        """The daemon: stream ``k``'s latest drop reason. Written a few times a second at most, so a read that
        overlaps a rewrite is retried; a reason still changing after a few tries is reported as it was read (it
        is diagnostic text, never a decision)."""
        text = b""
        for _ in range(4):
            before = int(self.error_seq[k])
            text = self.error_text[k].tobytes()
            if before % 2 == 0 and int(self.error_seq[k]) == before:
                break
        return text.rstrip(b"\0").decode("utf-8", "replace")

    def close(self) -> None:
        for r in self.rings:
            r.close()
        self.rings = []
        for ing in self._bound:
            # Process-local copies of the final values: the summary still reads them, and the map can close.
            integ = ing.integrity
            if integ is not None:
                integ.bind_shared(integ.shared.copy(), initialise=False)
        self._bound = []
        self.header = self.counters = self.integrity = self.error_seq = self.error_text = None  # type: ignore[assignment]
        try:
            self._mm.close()
        except BufferError:  # a view still held elsewhere (a snapshot's ring): the map goes with the process
            pass


def _fence_ok() -> bool:
    """Whether cross-process rings can be made safe on this CPU (memory_fence.py); ``auto`` stays in-process if not."""
    try:
        cross_process_fence()
    except FenceUnavailable:
        return False
    return True


def resolve_ingest_mode(profile: Profile, transport: Transport) -> Literal["in_process", "process"]:
    """Where the daemon's sensor callbacks run, for ``profile`` on ``transport`` (the transport actually made).

    ``auto`` (the default) is ``process`` exactly when ``transport`` is the plain Cyclone DDS transport, else
    ``in_process``. Why a process: in the daemon's process every callback holds the interpreter lock while it
    runs, and the loop, woken for its deadline, waits for it (bench/loop_under_load.py, README's table, same
    DDS sensor load: tick jitter p99 1.9 ms with the callbacks in the loop's process, 0.74 ms with GIL and gc
    tuning, 9.6 us with the ingest process and the same tuning). Why only then: the child subscribes through a
    DdsTransport of its own, so it can stand in for that one only. Replay feeds messages on the bag's clock
    from this process, rclpy (``ros2``, and an ``auto`` transport when ROS 2 is sourced) from its executor, and
    a recording transport (``transport.record``) must see every received message here to write it. The
    transport object decides, not ``transport.kind``: ``edgepilot replay`` runs robot profiles (``kind: dds``)
    on a replay transport, and ``kind: auto`` is only settled when the transport is made (transport/factory.py).

    ``in_process`` and ``process`` are kept as written; ``process`` on anything but plain DDS is a ProfileError
    naming the fix (the profile is checked at load where it can be; ``--record`` and replay only show here).
    """
    from edgepilot.daemon.config.profile import ProfileError

    mode = profile.ingest.mode
    plain_dds = transport.ingest_child_can_subscribe  # declared by every transport (transport/base.py)
    if mode == "auto":
        return "process" if plain_dds and _fence_ok() else "in_process"
    if mode == "process" and not plain_dds:
        recording = transport.recorder is not None
        what = "a recording transport (transport.record or --record)" if recording else type(transport).__name__
        raise ProfileError(f"ingest.mode=process needs the plain dds transport (the ingest process subscribes through "
                           f"its own), but this daemon runs on {what}; use ingest.mode: auto (a process on DDS, the "
                           "daemon's process otherwise) or in_process")
    return mode


def ingest_groups(profile: Profile) -> list[tuple[list[str], int | None]]:
    """The children (module docstring): (stream names, SCHED_FIFO priority or None for the normal policy).
    Small streams first, together, at ``realtime.ingest_priority``; then each stream whose kind asks for a process
    of its own (images: ``StreamKind.own_ingest_process``) on its own."""
    own = {n for n, s in profile.streams.items() if kind_for(s.type).own_ingest_process}
    small = [n for n in profile.streams if n not in own]
    images = [n for n in profile.streams if n in own]
    groups: list[tuple[list[str], int | None]] = [(small, profile.realtime.ingest_priority)] if small else []
    return groups + [([n], None) for n in images]


class IngestProcess:
    """The daemon's side: creates the shared rings (moving ``ingests``' rings into them), starts and stops the child."""

    def __init__(self, profile: Profile, ingests: Mapping[str, StreamIngest]) -> None:
        self.profile = profile
        self.ingests = ingests
        self.path = private_dir() / private_name("edgepilot-ingest-")
        self.spec_path = self.path.with_name(self.path.name + ".profile.json")
        self.shared = _SharedRings(self.path, ingests, create=True)
        self.groups = ingest_groups(profile)
        self.procs: list[subprocess.Popen[bytes]] = []
        #: How each child's scheduling went, by its streams (the words of _SCHEDULING_SAID).
        self.scheduling: dict[str, str] = {}

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The first child (the non-image streams, when there are any)."""
        return self.procs[0] if self.procs else None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the children and wait until every stream is subscribed; RuntimeError if one does not come up."""
        spec = self.spec_path
        # The whole profile: private (0600), created exclusively, never through a planted symlink.
        os.close(create_private(spec, json.dumps({"profile": self.profile.model_dump(mode="json"),
                                                  "base_dir": str(self.profile.base_dir),
                                                  "parent_pid": os.getpid()}).encode()))
        names = list(self.ingests)
        cpus = self.profile.realtime.ingest_cpus
        for streams, priority in self.groups:
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "edgepilot.daemon.streams.ingest_process", str(self.path), str(spec),
                 "--streams", ",".join(streams), "--priority", "normal" if priority is None else str(priority)]
                + ([] if cpus is None else ["--cpus", ",".join(map(str, cpus))])))
        deadline = time.monotonic() + timeout_s
        ready = self.shared.counters[:, _READY]
        while int(np.count_nonzero(ready)) < len(names):
            dead = [p.returncode for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"an ingest process did not start (exit codes {[p.poll() for p in self.procs]})")
            time.sleep(0.01)
        for streams, _ in self.groups:
            code = int(self.shared.counters[names.index(streams[0]), _READY])
            self.scheduling[",".join(streams)] = _SCHEDULING_SAID.get(code, "unknown")

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def sync_counters(self) -> None:
        """Copy the child's received/dropped counts and drop reasons into the daemon's ingests.

        For the summary and diagnostics, never the loop: they are at most ``COUNTER_PERIOD_S`` old (exact once
        the child has stopped). The integrity counters need no copy: the daemon's checks read the child's words.
        """
        shared = self.shared
        if shared.counters is None:
            return
        for k, ing in enumerate(self.ingests.values()):
            ing.received = int(shared.counters[k, _RECEIVED])
            ing.dropped = int(shared.counters[k, _DROPPED])
            ing.last_error = shared.read_last_error(k)

    def stop(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            p.terminate()
        for p in live:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.sync_counters()

    def close(self) -> None:
        self.stop()
        self.shared.close()
        for p in (self.path, self.spec_path):
            p.unlink(missing_ok=True)


def _die_with_parent() -> None:
    try:  # Linux: SIGTERM when the daemon's process dies, even by SIGKILL
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


#: The ready word says how the child's scheduling went: 1 + 1 if real time was refused + 2 if the CPUs were.
_SCHEDULING_SAID = {1: "as asked", 2: "real-time priority refused: normal policy",
                    3: "CPU affinity refused: any CPU", 4: "real-time priority and CPU affinity refused"}


def child_main(shm_path: str, spec_path: str, streams: list[str] | None = None, priority: int | None = None,
               cpus: tuple[int, ...] | None = None) -> int:
    """An ingest process: subscribe ``streams`` (default: all) of the profile and write into the shared rings."""
    _die_with_parent()
    from edgepilot.daemon.timing.realtime import set_affinity, set_fifo, set_normal

    # First, before the DDS participant's threads exist, so that they inherit both.
    pinned = set_affinity(cpus)
    said = set_normal() if priority is None else set_fifo(priority)
    ready = 1 + (priority is not None and not said.startswith("SCHED_FIFO")) + 2 * ("refused" in pinned)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the daemon, which stops this process itself
    from edgepilot.daemon.config.profile import Profile
    from edgepilot.daemon.streams.ingest import make_ingest, subscribe_stream
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    spec = json.loads(Path(spec_path).read_text())
    parent = int(spec["parent_pid"])
    profile = Profile.model_validate({**spec["profile"], "base_dir": Path(spec["base_dir"])})
    # Receipt stamps on the host's monotonic clock, as the daemon's loop reads them; header stamps are compared
    # with the wall clock (StreamIntegrity's default), which is DdsTransport.ros_time_ns, as in the daemon.
    # Every stream's ingest is made (the file's layout needs them all); only ours are subscribed and written.
    ingests = {name: make_ingest(name, cfg, None, profile) for name, cfg in profile.streams.items()}
    shared = _SharedRings(Path(shm_path), ingests, create=False)
    names = list(ingests)
    mine = [names.index(n) for n in (streams or names)]
    transport = DdsTransport(profile.transport.domain_id, profile.transport.security)
    for k in mine:
        name = names[k]
        subscribe_stream(transport, profile.streams[name], ingests[name])
    counters = shared.counters
    for k in mine:
        counters[k, _READY] = ready
    ours = [(k, ingests[names[k]]) for k in mine]
    reasons = [""] * len(names)

    def publish() -> None:
        for k, ing in ours:
            counters[k, _RECEIVED] = ing.received
            counters[k, _DROPPED] = ing.dropped
            reason = ing.last_error
            if reason is not reasons[k]:  # a new string object: the transport thread set a new reason
                reasons[k] = reason
                shared.write_last_error(k, reason)

    try:
        while not stop and os.getppid() == parent:
            publish()
            time.sleep(COUNTER_PERIOD_S)
    finally:
        transport.close()
        publish()
        if os.getppid() != parent:
            # The daemon died without closing (SIGKILL, a crash): nobody else will remove the files, and every such
            # death would leave its rings in /dev/shm (megabytes with a camera). Our own mapping stays valid.
            for p in (Path(shm_path), Path(spec_path)):
                p.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="edgepilot ingest process (started by the daemon)")
    p.add_argument("shm_path")
    p.add_argument("spec_path")
    p.add_argument("--streams", default="", help="comma-separated stream names this process subscribes (default: all)")
    p.add_argument("--priority", default="normal", help="SCHED_FIFO priority, or 'normal'")
    p.add_argument("--cpus", default="", help="comma-separated CPUs this process may run on (default: any)")
    a = p.parse_args(argv)
    return child_main(a.shm_path, a.spec_path, [n for n in a.streams.split(",") if n] or None,
                      None if a.priority == "normal" else int(a.priority),
                      tuple(int(c) for c in a.cpus.split(",")) if a.cpus else None)


if __name__ == "__main__":
    sys.exit(main())
