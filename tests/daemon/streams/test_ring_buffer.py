"""RingBuffer: single-writer / many-reader seqlock ring, in process and across processes.

The stress tests run a real writer process and real reader processes on one
``SharedMemory`` block and check every sample a reader gets back with a
checker that knows what sample ``stamp`` must contain. The negative controls
show that the same checker does catch torn samples when the seqlock is
bypassed, so a passing stress test means something.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
import traceback
from collections import deque
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.streams.ring_buffer import RingBuffer

# --------------------------------------------------------------------------- payload patterns + the shared checker
#
# Sample i of the "vec" stream: 16 float64, elements 0..14 == i, element 15 == 15*i (their sum).
# Sample i of the "frame" stream: 48x64x3 uint8; byte p == (p + i) mod 256, except the first and
# last 8 bytes, which hold i as int64. Any mix of two different samples, or a sample under the
# wrong stamp, fails the check.

VEC_N = 16
FRAME_SHAPE = (48, 64, 3)
_FRAME_BYTES = int(np.prod(FRAME_SHAPE))
_FRAME_POS = (np.arange(_FRAME_BYTES) % 256).astype(np.uint8)


def fill_vec(i: int, out: np.ndarray) -> None:
    out.fill(i)
    out[VEC_N - 1] = (VEC_N - 1) * i


def fill_vec_split(i: int, out: np.ndarray) -> None:
    """The same payload written in three separate stores, so a concurrent unprotected reader can see it half done."""
    out[:8] = i
    out[8 : VEC_N - 1] = i
    out[VEC_N - 1] = (VEC_N - 1) * i


def fill_frame(i: int, out: np.ndarray) -> None:
    flat = out.reshape(-1)
    np.add(_FRAME_POS, np.uint8(i & 0xFF), out=flat)
    flat[:8].view(np.int64)[0] = i
    flat[-8:].view(np.int64)[0] = i


def check_vec(out: np.ndarray, stamp: int) -> bool:
    return stamp >= 0 and out[VEC_N - 1] == (VEC_N - 1) * stamp and bool((out[: VEC_N - 1] == stamp).all())


def check_frame(out: np.ndarray, stamp: int) -> bool:
    if stamp < 0:
        return False
    want = np.empty(FRAME_SHAPE, np.uint8)
    fill_frame(stamp, want)
    return bool(np.array_equal(out, want))


# name -> (capacity, shape, dtype, fill, split fill used by begin_write writes, checker)
STREAMS = {
    "vec": (2, (VEC_N,), np.float64, fill_vec, fill_vec_split, check_vec),
    "vec4": (4, (VEC_N,), np.float64, fill_vec, fill_vec_split, check_vec),
    "frame": (3, FRAME_SHAPE, np.uint8, fill_frame, fill_frame, check_frame),
}


def is_consistent(stream: str, out: np.ndarray, stamp: int) -> bool:
    """THE checker: shared by the stress tests and the negative controls."""
    return STREAMS[stream][5](out, stamp)


# --------------------------------------------------------------------------- 1. basics


def vec(i: float) -> np.ndarray:
    return np.full(3, i, dtype=np.float64)


def test_empty_ring_reads_minus_one() -> None:
    rb = RingBuffer(4, (3,), np.float64)
    out = np.full(3, 7.0)
    assert rb.read_latest(out) == -1
    assert rb.read_at_or_before(10**18, out) == -1
    assert rb.latest_stamp() == -1
    assert rb.count == 0
    assert (out == 7.0).all()  # untouched
    assert rb.capacity == 4 and rb.shape == (3,) and rb.dtype == np.dtype(np.float64)


def test_write_read_latest_roundtrip_copies() -> None:
    rb = RingBuffer(4, (2, 3), np.int32)
    v = np.arange(6, dtype=np.int32).reshape(2, 3)
    rb.write(v, 1234)
    v[:] = -1  # the ring copied it
    out = np.zeros((2, 3), np.int32)
    assert rb.read_latest(out) == 1234
    assert (out == np.arange(6).reshape(2, 3)).all()
    assert rb.latest_stamp() == 1234 and rb.count == 1
    rb.write(np.full((2, 3), 9, np.int32), 1300)
    assert (out == np.arange(6).reshape(2, 3)).all()  # out is a copy, not a view
    assert rb.read_latest(out) == 1300 and (out == 9).all()


def test_wraparound_keeps_newest_capacity_samples() -> None:
    rb = RingBuffer(4, (3,), np.float64)
    for i in range(11):
        rb.write(vec(i), 100 * i)
    out = np.zeros(3)
    assert rb.count == 11
    assert rb.read_latest(out) == 1000 and (out == 10).all()
    for i in (7, 8, 9, 10):  # retained
        assert rb.read_at_or_before(100 * i, out) == 100 * i and (out == i).all()
        assert rb.read_at_or_before(100 * i + 99, out) == 100 * i and (out == i).all()
    assert rb.read_at_or_before(699, out) == -1  # sample 6 and older are overwritten
    assert rb.read_at_or_before(0, out) == -1
    assert rb.read_at_or_before(-5, out) == -1
    assert rb.read_at_or_before(10**18, out) == 1000 and (out == 10).all()


def test_read_at_or_before_picks_newest_not_after_t() -> None:
    rb = RingBuffer(8, (3,), np.float64)
    stamps = [10, 20, 20, 35, 50]  # equal stamps allowed: the newer one wins
    for k, s in enumerate(stamps):
        rb.write(vec(k), s)
    out = np.zeros(3)
    expect = {9: (-1, None), 10: (10, 0), 19: (10, 0), 20: (20, 2), 34: (20, 2), 35: (35, 3), 49: (35, 3), 50: (50, 4), 51: (50, 4)}
    for t, (stamp, k) in expect.items():
        assert rb.read_at_or_before(t, out) == stamp, t
        if k is not None:
            assert (out == k).all(), t


def test_begin_commit_write_zero_copy() -> None:
    rb = RingBuffer(3, (4,), np.float64)
    out = np.zeros(4)
    rb.write(np.full(4, 1.0), 10)
    slot = rb.begin_write()
    assert slot.shape == (4,) and slot.dtype == np.float64
    slot[:] = 2.0
    # Not published yet: readers still see sample 0.
    assert rb.read_latest(out) == 10 and (out == 1.0).all()
    assert rb.count == 1
    rb.commit_write(20)
    assert rb.read_latest(out) == 20 and (out == 2.0).all()
    assert rb.count == 2
    with pytest.raises(RuntimeError, match="without a pending begin_write"):
        rb.commit_write(30)
    # A begun slot that is never committed is reused by the next begin_write/write (streams.py relies on it).
    s1 = rb.begin_write()
    s1[:] = 99.0
    s2 = rb.begin_write()
    assert s2 is s1  # same preallocated view: nothing allocated per write
    s2[:] = 3.0
    rb.commit_write(30)
    assert rb.read_latest(out) == 30 and (out == 3.0).all() and rb.count == 3
    rb.begin_write()[:] = 42.0  # abandoned
    rb.write(np.full(4, 4.0), 40)
    assert rb.read_latest(out) == 40 and (out == 4.0).all() and rb.count == 4
    assert rb.read_at_or_before(35, out) == 30 and (out == 3.0).all()


def test_abandoned_begin_write_hides_oldest_sample() -> None:
    rb = RingBuffer(2, (1,), np.int64)
    out = np.zeros(1, np.int64)
    rb.write(np.array([0]), 0)
    rb.write(np.array([1]), 1)
    rb.begin_write()[:] = 77  # overwrites the slot of sample 0, never committed
    assert rb.read_at_or_before(0, out) == -1  # sample 0 is gone, the half-written slot is not shown
    assert rb.read_at_or_before(5, out) == 1 and out[0] == 1
    rb.abort_write()
    with pytest.raises(RuntimeError):
        rb.commit_write(2)
    rb.write(np.array([2]), 2)
    assert rb.read_latest(out) == 2 and out[0] == 2
    assert rb.read_at_or_before(1, out) == 1 and out[0] == 1


def test_nbytes_and_external_buffer_shared_by_two_objects() -> None:
    n = RingBuffer.nbytes(5, (7,), np.float32)
    assert n >= 5 * 7 * 4 + 5 * 16 and n % 64 == 0
    assert RingBuffer.nbytes(5, 7, "float32") == n
    buf = bytearray(n + 100)  # larger is fine
    writer = RingBuffer(5, (7,), np.float32, buffer=buf)
    reader = RingBuffer(5, (7,), np.float32, buffer=memoryview(buf))
    out = np.zeros(7, np.float32)
    assert reader.read_latest(out) == -1
    for i in range(8):
        writer.write(np.full(7, i, np.float32), 1000 + i)
    assert reader.count == 8
    assert reader.read_latest(out) == 1007 and (out == 7).all()
    assert reader.read_at_or_before(1004, out) == 1004 and (out == 4).all()
    assert reader.read_at_or_before(1002, out) == -1
    # A writer re-created on the same buffer carries on where the last one stopped.
    writer2 = RingBuffer(5, (7,), np.float32, buffer=buf)
    with pytest.raises(ValueError, match="non-decreasing"):
        writer2.write(np.zeros(7, np.float32), 1006)
    writer2.write(np.full(7, 8, np.float32), 1008)
    assert reader.read_latest(out) == 1008 and reader.count == 9
    for rb in (writer, reader, writer2):
        rb.close()


def test_shared_memory_buffer_in_process() -> None:
    shm = SharedMemory(create=True, size=RingBuffer.nbytes(4, (3,), np.float64))
    try:
        with RingBuffer(4, (3,), np.float64, buffer=shm.buf) as w:
            other = SharedMemory(name=shm.name)
            try:
                with RingBuffer(4, (3,), np.float64, buffer=other.buf) as r:
                    w.write(vec(5), 55)
                    out = np.zeros(3)
                    assert r.read_latest(out) == 55 and (out == 5).all()
            finally:
                other.close()
    finally:
        shm.close()  # raises BufferError if the ring kept an export
        shm.unlink()


def test_external_buffer_errors() -> None:
    need = RingBuffer.nbytes(4, (3,), np.float64)
    with pytest.raises(ValueError, match=f"needs {need} bytes"):
        RingBuffer(4, (3,), np.float64, buffer=bytearray(need - 1))
    with pytest.raises(ValueError, match="read-only"):
        RingBuffer(4, (3,), np.float64, buffer=bytes(need))
    with pytest.raises(ValueError, match="aligned"):
        RingBuffer(4, (3,), np.float64, buffer=memoryview(bytearray(need + 8))[1 : need + 1])
    garbage = bytearray(need)
    garbage[-1] = 1
    with pytest.raises(ValueError, match="zero-filled"):
        RingBuffer(4, (3,), np.float64, buffer=garbage)
    buf = bytearray(need)
    RingBuffer(4, (3,), np.float64, buffer=buf).close()
    with pytest.raises(ValueError, match="different RingBuffer"):
        RingBuffer(4, (3,), np.float32, buffer=buf)  # same or smaller size, other layout
    with pytest.raises(ValueError, match="different RingBuffer"):
        RingBuffer(3, (3,), np.float64, buffer=buf)
    with pytest.raises(ValueError, match="buffer protocol"):
        RingBuffer(4, (3,), np.float64, buffer=[0] * need)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1, (3,), np.float64), "capacity must be >= 2"),
        ((0, (3,), np.float64), "capacity must be >= 2"),
        ((2.5, (3,), np.float64), "capacity must be an int"),
        ((True, (3,), np.float64), "capacity must be an int"),
        ((4, (0,), np.float64), "shape must be >= 1"),
        ((4, (3, -1), np.float64), "shape must be >= 1"),
        ((4, ("a",), np.float64), "shape must be a tuple of ints"),
        ((4, (3,), object), "Python objects"),
    ],
)
def test_bad_constructor_args(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RingBuffer(*args)
    with pytest.raises(ValueError, match=match):
        RingBuffer.nbytes(*args)


def test_bad_out_value_and_stamp() -> None:
    rb = RingBuffer(4, (3,), np.float64)
    rb.write(vec(1), 100)
    for bad in (np.zeros(4), np.zeros((3, 1)), np.zeros(3, np.float32)):
        with pytest.raises(ValueError, match=r"expected shape \(3,\) dtype float64"):
            rb.read_latest(bad)
        with pytest.raises(ValueError, match=r"expected shape \(3,\) dtype float64"):
            rb.read_at_or_before(100, bad)
    with pytest.raises(TypeError):
        rb.read_latest([0.0, 0.0, 0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        rb.write(np.zeros(4), 200)
    with pytest.raises(TypeError):
        rb.write([1.0, 2.0, 3.0], 200)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-decreasing"):
        rb.write(vec(2), 99)
    with pytest.raises(ValueError, match=">= 0"):
        RingBuffer(4, (3,), np.float64).write(vec(2), -1)
    with pytest.raises(TypeError):
        rb.write(vec(2), 150.5)  # type: ignore[arg-type]
    rb.write(vec(2), np.int64(150))  # numpy ints are fine
    rb.begin_write()[:] = 3.0
    with pytest.raises(ValueError, match="non-decreasing"):
        rb.commit_write(120)
    rb.commit_write(160)  # still pending after the rejected stamp
    out = np.zeros(3)
    assert rb.read_latest(out) == 160 and (out == 3.0).all()
    assert rb.count == 3


# --------------------------------------------------------------------------- 2. property test against a model

_op = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 3), st.integers(-(2**40), 2**40)),
    st.tuples(st.just("begin_commit"), st.integers(0, 3), st.integers(-(2**40), 2**40)),
    st.tuples(st.just("abandon"), st.just(0), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(2, 6), ops=st.lists(_op, max_size=40), start=st.integers(0, 10**12))
def test_matches_deque_model(capacity: int, ops: list, start: int) -> None:
    rb = RingBuffer(capacity, (2,), np.int64)
    model: deque[tuple[int, int, int]] = deque(maxlen=capacity)  # (stamp, value, write index)
    out = np.zeros(2, np.int64)
    stamp = start
    written = 0
    pending = False
    for kind, delta, value in ops:
        if kind == "abandon":
            rb.begin_write()[:] = (-1, -1)
            if not pending and len(model) == capacity:
                model.popleft()  # the slot of the oldest sample is being rewritten
            pending = True
            continue
        stamp += delta
        payload = np.array([value, written], np.int64)
        if kind == "write":
            rb.write(payload, stamp)
        else:
            rb.begin_write()[:] = payload
            rb.commit_write(stamp)
        pending = False
        model.append((stamp, value, written))
        written += 1

        assert rb.count == written
        assert rb.latest_stamp() == model[-1][0]
        assert rb.read_latest(out) == model[-1][0]
        assert (out == model[-1][1:]).all()
        queries = {-1, 0, 2**62} | {s + d for s, _, _ in model for d in (-1, 0, 1)}
        for t in queries:
            want = next((m for m in reversed(model) if m[0] <= t), None)
            got = rb.read_at_or_before(t, out)
            if want is None:
                assert got == -1, (t, list(model))
            else:
                assert got == want[0], (t, list(model))
                assert (out == want[1:]).all(), (t, list(model))
    assert rb.retries == 0  # nothing concurrent here


# --------------------------------------------------------------------------- 3. negative controls (deterministic)


@pytest.mark.parametrize("stream", ["vec", "frame"])
def test_checker_rejects_hand_torn_samples(stream: str) -> None:
    _, shape, dtype, fill, _, _ = STREAMS[stream]
    old = np.empty(shape, dtype)
    new = np.empty(shape, dtype)
    fill(1000, old)
    fill(1003, new)
    assert is_consistent(stream, old, 1000)
    assert is_consistent(stream, new, 1003)
    assert not is_consistent(stream, old, 1003)  # right payload, wrong stamp
    assert not is_consistent(stream, new, -1)
    nbytes = old.nbytes
    o, n = old.reshape(-1).view(np.uint8), new.reshape(-1).view(np.uint8)
    for cut in sorted({8, 64, nbytes // 2, nbytes - 64, nbytes - 8}):  # half old, half new; cache-line cuts
        for first, second in ((o, n), (n, o)):
            torn = np.concatenate([first[:cut], second[cut:]]).view(dtype).reshape(shape)
            assert not is_consistent(stream, torn, 1000), cut
            assert not is_consistent(stream, torn, 1003), cut


def test_seqlock_hides_a_half_written_slot() -> None:
    """Deterministic: a raw copy of a slot mid-write is torn (the checker sees it); the ring's readers never return it."""
    cap, shape, dtype, fill, _, _ = STREAMS["vec"]
    rb = RingBuffer(cap, shape, dtype)
    tmp = np.empty(shape, dtype)
    for i in range(2):
        fill(i, tmp)
        rb.write(tmp, i)
    slot = rb.begin_write()  # slot of sample 0, being overwritten by sample 2
    slot[:8] = 2  # half of sample 2
    raw = slot.copy()  # what an unvalidated reader would copy
    assert not is_consistent("vec", raw, 0) and not is_consistent("vec", raw, 2)
    out = np.empty(shape, dtype)
    assert rb.read_latest(out) == 1 and is_consistent("vec", out, 1)
    assert rb.read_at_or_before(0, out) == -1  # sample 0 is no longer whole
    assert rb.read_at_or_before(1, out) == 1 and is_consistent("vec", out, 1)
    slot[8:] = 2
    slot[-1] = 30
    rb.commit_write(2)
    assert rb.read_latest(out) == 2 and is_consistent("vec", out, 2)


# --------------------------------------------------------------------------- cross-process harness (fork)


def _unsafe_write(rb: RingBuffer, i: int, split_fill) -> None:
    """Deliberately broken writer: fills the slot in place with NO seqlock, then publishes stamp and head."""
    n = rb.count
    k = n % rb.capacity
    split_fill(i, rb._slot_views[k])
    rb._stamp[k] = i
    rb._head[0] = n + 1


def _raw_read_latest(rb: RingBuffer, out: np.ndarray) -> int:
    """Deliberately broken reader: copies the newest slot without validating its seq."""
    n = rb.count
    if n == 0:
        return -1
    k = (n - 1) % rb.capacity
    np.copyto(out, rb._slot_views[k])
    return rb._stamp.item(k)


def _fence_or_none(fenced: bool):  # type: ignore[no-untyped-def]
    from edgepilot.daemon.streams.memory_fence import load_fence

    return load_fence() if fenced else None


def _writer_main(shm_name: str, stream: str, n: int, mode: str, barrier, results, fenced: bool = False) -> None:
    try:
        cap, shape, dtype, fill, split_fill, _ = STREAMS[stream]
        shm = SharedMemory(name=shm_name)
        rb = RingBuffer(cap, shape, dtype, buffer=shm.buf, fence=_fence_or_none(fenced))
        val = np.empty(shape, dtype)
        barrier.wait(timeout=60)
        t0 = time.perf_counter()
        if mode == "seqlock":
            write, begin, commit = rb.write, rb.begin_write, rb.commit_write
            for i in range(n):
                if i & 1:  # zero-copy path, filled in several stores: a wide window for torn reads
                    split_fill(i, begin())
                    commit(i)
                else:
                    fill(i, val)
                    write(val, i)
        else:
            for i in range(n):
                _unsafe_write(rb, i, split_fill)
        elapsed = time.perf_counter() - t0
        results.put({"role": "writer", "elapsed_s": elapsed, "count": rb.count})
        rb.close()
        shm.close()
    except BaseException:
        results.put({"role": "writer", "error": traceback.format_exc()})


def _reader_main(shm_name: str, stream: str, n: int, mode: str, barrier, results, timeout_s: float,
                 fenced: bool = False) -> None:
    try:
        cap, shape, dtype, _, _, check = STREAMS[stream]
        shm = SharedMemory(name=shm_name)
        rb = RingBuffer(cap, shape, dtype, buffer=shm.buf, fence=_fence_or_none(fenced))
        out = np.empty(shape, dtype)
        out2 = np.empty(shape, dtype)
        reads = bad = nonmono = empty = at_hits = at_miss = at_bad = 0
        bad_examples: list = []
        last = -1
        timed_out = False
        final = n - 1
        read = (lambda o: _raw_read_latest(rb, o)) if mode == "raw" else rb.read_latest
        barrier.wait(timeout=60)
        deadline = time.monotonic() + timeout_s
        while True:
            t = read(out)
            if t < 0:
                empty += 1
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                continue
            reads += 1
            if not check(out, t):
                bad += 1
                if len(bad_examples) < 3:
                    bad_examples.append((t, out.reshape(-1)[:20].tolist()))
            if t < last:
                nonmono += 1
            last = t
            if mode == "mixed" and reads & 1:
                # Ask for a sample 0..cap+1 behind the newest seen: often overwritten while we search.
                q = t - reads % (cap + 2)
                r = rb.read_at_or_before(q, out2)
                if r < 0:
                    at_miss += 1
                else:
                    at_hits += 1
                    if r != q or not check(out2, r):  # stamps are unique (stamp == index)
                        at_bad += 1
            if t >= final:
                break
            if not reads & 1023 and time.monotonic() > deadline:
                timed_out = True
                break
        results.put({
            "role": "reader", "mode": mode, "reads": reads, "bad": bad, "bad_examples": bad_examples,
            "nonmonotonic": nonmono, "empty": empty, "retries": rb.retries, "last": last,
            "at_hits": at_hits, "at_miss": at_miss, "at_bad": at_bad, "timed_out": timed_out,
        })
        rb.close()
        shm.close()
    except BaseException:
        results.put({"role": "reader", "error": traceback.format_exc()})


def run_cross_process(stream: str, n: int, writer_mode: str, reader_modes: list[str], timeout_s: float = 60.0,
                      fenced: bool = False) -> tuple[dict, list[dict], float]:
    """One writer process + one reader process per mode on a fresh SharedMemory ring; returns (writer, readers, wall s)."""
    if sys.platform != "linux":
        pytest.skip("fork-based cross-process test runs on Linux")
    ctx = mp.get_context("fork")
    cap, shape, dtype, *_ = STREAMS[stream]
    shm = SharedMemory(create=True, size=RingBuffer.nbytes(cap, shape, dtype))
    procs: list = []
    try:
        RingBuffer(cap, shape, dtype, buffer=shm.buf).close()  # the creator writes the header
        barrier = ctx.Barrier(len(reader_modes) + 1)
        results = ctx.Queue()
        procs = [ctx.Process(target=_reader_main, args=(shm.name, stream, n, m, barrier, results, timeout_s, fenced),
                             daemon=True) for m in reader_modes]
        procs.append(ctx.Process(target=_writer_main, args=(shm.name, stream, n, writer_mode, barrier, results, fenced),
                                 daemon=True))
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        got = [results.get(timeout=timeout_s + 60) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join(timeout=30)
        errors = [g["error"] for g in got if "error" in g]
        assert not errors, "\n".join(errors)
        writer = next(g for g in got if g["role"] == "writer")
        readers = [g for g in got if g["role"] == "reader"]
        return writer, readers, wall
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        shm.close()
        shm.unlink()


# --------------------------------------------------------------------------- 3. stress tests


def _assert_clean(stream: str, n: int, writer: dict, readers: list[dict], min_reads: int) -> None:
    assert writer["count"] == n
    for r in readers:
        assert not r["timed_out"], r
        assert r["bad"] == 0, f"torn/inconsistent samples returned: {r}"
        assert r["at_bad"] == 0, f"read_at_or_before returned a wrong/torn sample: {r}"
        assert r["nonmonotonic"] == 0, r
        assert r["last"] == n - 1, r
        assert r["reads"] > min_reads, r


def test_stress_cross_process_million_writes_no_torn_reads() -> None:
    """10**6 writes in one process, two reader processes reading the whole time through SharedMemory."""
    n = 1_000_000
    writer, readers, wall = run_cross_process("vec", n, "seqlock", ["latest", "mixed"])
    print(f"\n[stress vec] {n} writes in {writer['elapsed_s']:.2f} s ({n / writer['elapsed_s']:,.0f}/s), wall {wall:.2f} s")
    for r in readers:
        print(f"  reader {r['mode']}: reads={r['reads']:,} retries={r['retries']:,} "
              f"read_at_or_before hits={r['at_hits']:,} misses={r['at_miss']:,}")
    _assert_clean("vec", n, writer, readers, min_reads=10_000)


def test_stress_cross_process_fenced_as_on_arm64() -> None:
    """The same seqlock with the barrier the ingest process uses on ARM64 (memory_fence: Cyclone's
    ddsrt_atomic_fence, a real dmb/mfence here too): still no torn, lost or reordered sample."""
    n = 100_000
    writer, readers, wall = run_cross_process("vec", n, "seqlock", ["latest", "mixed"], fenced=True)
    print(f"\n[stress vec, fenced] {n} writes in {writer['elapsed_s']:.2f} s ({n / writer['elapsed_s']:,.0f}/s)")
    _assert_clean("vec", n, writer, readers, min_reads=1_000)


def test_stress_cross_process_frames_no_torn_reads() -> None:
    """Multi-cache-line payload (48x64x3 uint8, 9216 bytes): 20_000 writes, two reader processes."""
    n = 20_000
    writer, readers, wall = run_cross_process("frame", n, "seqlock", ["latest", "mixed"])
    print(f"\n[stress frame] {n} writes in {writer['elapsed_s']:.2f} s, wall {wall:.2f} s")
    for r in readers:
        print(f"  reader {r['mode']}: reads={r['reads']:,} retries={r['retries']:,} "
              f"read_at_or_before hits={r['at_hits']:,} misses={r['at_miss']:,}")
    _assert_clean("frame", n, writer, readers, min_reads=1_000)


def test_negative_control_cross_process_without_seqlock_tears() -> None:
    """Same harness, same checker, but writer and readers bypass the seqlock: torn samples must be detected."""
    n = 200_000
    for attempt in range(5):  # tears are a race: typically hundreds per run; retry in case a run is quiet
        writer, readers, _ = run_cross_process("vec", n, "unsafe", ["raw", "raw"])
        assert writer["count"] == n
        bad = sum(r["bad"] for r in readers)
        print(f"\n[negative control] torn samples detected without the seqlock: {bad} of "
              f"{sum(r['reads'] for r in readers):,} reads (attempt {attempt + 1})")
        if bad:
            break
    assert bad > 0, readers


# --------------------------------------------------------------------------- 4. threads in one process


def _run_threads(n: int, safe: bool, stream: str = "vec") -> dict:
    cap, shape, dtype, fill, split_fill, check = STREAMS[stream]
    rb = RingBuffer(cap, shape, dtype)
    stats = {"reads": 0, "bad": 0, "nonmonotonic": 0, "last": -1}
    done = threading.Event()

    def writer() -> None:
        val = np.empty(shape, dtype)
        try:
            for i in range(n):
                if not safe:
                    _unsafe_write(rb, i, split_fill)
                elif i & 1:
                    split_fill(i, rb.begin_write())
                    rb.commit_write(i)
                else:
                    fill(i, val)
                    rb.write(val, i)
        finally:
            done.set()

    def reader() -> None:
        out = np.empty(shape, dtype)
        read = (lambda o: _raw_read_latest(rb, o)) if not safe else rb.read_latest
        last = -1
        while True:
            finished = done.is_set()
            t = read(out)
            if t >= 0:
                stats["reads"] += 1
                if not check(out, t):
                    stats["bad"] += 1
                if t < last:
                    stats["nonmonotonic"] += 1
                last = t
            if finished:
                break
        stats["last"] = last

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over very often: many interleavings per write
    try:
        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not any(th.is_alive() for th in threads)
    finally:
        sys.setswitchinterval(old)
    stats["retries"] = rb.retries
    return stats


def test_threads_writer_and_reader_no_torn_reads() -> None:
    n = 200_000
    stats = _run_threads(n, safe=True)
    print(f"\n[threads] {stats}")
    assert stats["bad"] == 0, stats
    assert stats["nonmonotonic"] == 0, stats
    assert stats["last"] == n - 1
    assert stats["reads"] > 1_000, stats


def test_negative_control_threads_without_seqlock_tear() -> None:
    for _ in range(5):  # a race: typically dozens of tears per run; retry in case a run is quiet
        stats = _run_threads(200_000, safe=False)
        print(f"\n[threads negative control] {stats}")
        if stats["bad"]:
            break
    assert stats["bad"] > 0, stats
