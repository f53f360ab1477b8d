"""Ring buffer throughput: writes and latest-reads per second, 64-float vector and 640x480x3 frame,
in one process and across two processes over a ring in a mmap'd file under /dev/shm (as daemon/safety/heartbeat.py
shares memory: the file outlives either process, unlike multiprocessing.shared_memory's tracked segments)."""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgepilot.daemon.streams.ring_buffer import RingBuffer

SHAPES = {"vector64_f64": ((64,), np.float64), "frame640x480x3_u8": ((480, 640, 3), np.uint8)}
CAPACITY = 8


def _ops_per_s(fn, min_s: float) -> float:  # type: ignore[no-untyped-def]
    n = 0
    batch = 64
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return n / dt


def in_process(shape, dtype, min_s: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ring = RingBuffer(CAPACITY, shape, dtype)
    value = np.ones(shape, dtype)
    out = np.zeros(shape, dtype)
    stamp = [0]

    def w() -> None:
        stamp[0] += 1
        ring.write(value, stamp[0])

    writes = _ops_per_s(w, min_s)
    reads = _ops_per_s(lambda: ring.read_latest(out), min_s)
    # The copy floors: the one copy a write cannot do without, alone, in the same loop: as an item assignment
    # (what RingBuffer.write does for a same-dtype value) and as np.copyto (its path for a value to cast).
    slot, copyto = np.zeros(shape, dtype), np.copyto

    def assign() -> None:
        slot[...] = value

    return {"writes_per_s": writes, "latest_reads_per_s": reads, "copy_floor_per_s": _ops_per_s(assign, min_s),
            "np_copyto_floor_per_s": _ops_per_s(lambda: copyto(slot, value), min_s)}


def _shm_file(nbytes: int) -> Path:
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    fd, name = tempfile.mkstemp(prefix="edgepilot-bench-ring-", dir=base)
    os.ftruncate(fd, nbytes)  # zero-filled: the first RingBuffer on it writes the header
    os.close(fd)
    return Path(name)


def _writer(path: str, shape, dtype, seconds: float, result) -> None:  # type: ignore[no-untyped-def]
    with open(path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 0)
    ring = RingBuffer(CAPACITY, shape, dtype, buffer=mm)
    value = np.ones(shape, dtype)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(64):
            n += 1
            ring.write(value, n)
        if time.perf_counter() >= end:
            break
    result.value = n / (time.perf_counter() - t0)
    ring.close()


def cross_process(shape, dtype, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """A writer process and this (reader) process, concurrently, on one ring in shared memory."""
    nbytes = RingBuffer.nbytes(CAPACITY, shape, dtype)
    path = _shm_file(nbytes)
    try:
        with open(path, "r+b") as f:
            mm = mmap.mmap(f.fileno(), 0)
        reader = RingBuffer(CAPACITY, shape, dtype, buffer=mm)
        ctx = mp.get_context("spawn")
        res = ctx.Value("d", 0.0)
        proc = ctx.Process(target=_writer, args=(str(path), shape, dtype, seconds, res))
        proc.start()
        while reader.count == 0 and proc.is_alive():
            time.sleep(0.001)
        out = np.zeros(shape, dtype)
        n = 0
        fresh = 0
        last = -1
        t0 = time.perf_counter()
        while proc.is_alive():
            for _ in range(64):
                s = reader.read_latest(out)
                if s != last:
                    fresh += 1
                    last = s
            n += 64
        dt = time.perf_counter() - t0
        proc.join()
        reads = n / dt
        reader.close()
        mm.close()
        return {"writes_per_s": float(res.value), "latest_reads_per_s": reads, "retries": float(reader.retries),
                "distinct_samples_seen_per_s": fresh / dt}
    finally:
        path.unlink(missing_ok=True)


def measure(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    min_s = 0.2 if quick else 1.0
    out: dict = {}
    for name, (shape, dtype) in SHAPES.items():
        out[name] = {"in_process": in_process(shape, dtype, min_s),
                     "cross_process_shm": cross_process(shape, dtype, min_s * (1 if quick else 2))}
    return out
