"""The barrier of cross-process rings (daemon/streams/memory_fence.py) and where the ring calls it."""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot.daemon.streams import memory_fence
from edgepilot.daemon.streams.memory_fence import cross_process_fence, load_fence, needs_fence
from edgepilot.daemon.streams.ring_buffer import RingBuffer


@pytest.mark.parametrize("machine, needed", [("x86_64", False), ("AMD64", False), ("aarch64", True), ("arm64", True),
                                             ("armv7l", True), ("riscv64", True)])
def test_which_machines_need_a_barrier(machine: str, needed: bool) -> None:
    assert needs_fence(machine) is needed
    assert (cross_process_fence(machine) is not None) is needed


def test_the_barrier_is_cyclones_and_runs() -> None:
    fence = load_fence()
    assert fence.__name__ == "ddsrt_atomic_fence"
    for _ in range(1000):
        fence()  # a real barrier instruction each time; returns nothing


def test_a_machine_that_needs_one_without_cyclone_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_fence, "_fence", None)
    monkeypatch.setattr(memory_fence, "_ddsc_candidates", lambda: [])
    monkeypatch.setattr(memory_fence.ctypes, "CDLL", lambda path: (_ for _ in ()).throw(OSError(f"{path}: not found")))
    with pytest.raises(memory_fence.FenceUnavailable, match="ddsrt_atomic_fence"):
        cross_process_fence("aarch64")
    assert cross_process_fence("x86_64") is None  # nothing to load where none is needed


class Recorder:
    """A stand-in barrier that records what the other side could see at each call (placement, not ordering:
    ordering itself is the CPU's, tested by the fenced cross-process stress test in test_ring_buffer.py)."""

    def __init__(self, ring: RingBuffer) -> None:
        self.ring = ring
        self.seen: list[tuple[int, float]] = []

    def __call__(self) -> None:
        r = self.ring
        slot = (r.count) % r.capacity
        self.seen.append((int(r._seq[slot]), float(r._slot_views[slot][0])))


def test_writer_fences_after_the_odd_seq_and_before_the_even_one() -> None:
    ring = RingBuffer(4, (3,), np.float64)
    rec = Recorder(ring)
    ring.fence = rec
    ring.write(np.full(3, 7.0), 1)
    # First barrier: slot marked odd (being written), payload not yet copied; second: payload in, still odd.
    assert rec.seen == [(1, 0.0), (1, 7.0)]
    assert ring._seq[0] == 2
    rec.seen.clear()
    view = ring.begin_write()
    assert rec.seen == [(1, 0.0)]  # slot 1 marked odd before any byte of it is written
    view[:] = 9.0
    ring.commit_write(2)
    assert len(rec.seen) == 2 and rec.seen[1] == (1, 9.0)


def test_readers_fence_between_the_two_seq_checks() -> None:
    ring = RingBuffer(4, (3,), np.float64)
    ring.write(np.full(3, 5.0), 10)
    calls = []
    ring.fence = lambda: calls.append(1)
    out = np.zeros(3)
    assert ring.read_latest(out) == 10 and out[0] == 5.0 and len(calls) == 2
    assert ring.latest_stamp() == 10 and len(calls) == 4
    assert ring.read_at_or_before(10, out) == 10 and len(calls) >= 6
