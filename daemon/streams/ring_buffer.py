"""Lock-free single-writer / many-reader ring buffer of fixed-shape numpy samples.

Holds the latest sensor messages (a 64-float vector, a 48x64x3 uint8 image,
...) between the transport's callback thread (the one writer) and the control
loop (a reader). Every bit of state lives in one flat byte buffer, so the same
ring can sit in process memory or in a memory-mapped file with the writer
and the readers in different processes (the ingest process's file in the
daemon's private runtime directory, see ingest_process.py; not
``multiprocessing.shared_memory``, whose /dev/shm names are shared).

Buffer layout (all int64 little-endian words are 8-byte aligned; offsets in
bytes; ``C`` = capacity, ``S`` = one slot, rounded up to 64 bytes)::

    0               header: magic, capacity, sample bytes, layout hash
    64              head: total number of samples ever committed
    128             C x (seq, stamp_ns) int64 pairs, one pair per slot
    align64(128+16C) C payload slots, each S bytes apart, C-contiguous

Sample ``k`` (0-based, in write order) lives in slot ``k % C``. Its slot's
sequence number is ``2*(k // C) + 1`` (odd) while the writer fills it and
``2*(k // C) + 2`` (even) once committed, so a reader knows exactly which seq
value proves that it is looking at sample ``k`` and not at a later one.
"""

from __future__ import annotations

import operator
import zlib
from typing import Any, Callable

import numpy as np

__all__ = ["RingBuffer"]

_MAGIC = 0x4550_5242_0000_0001  # "EPRB", layout version 1
_CACHE_LINE = 64
_HEADER_WORDS = 8  # magic, capacity, sample nbytes, layout hash, 4 spare
_HEAD_OFFSET = 64  # the head counter has a cache line of its own
_META_OFFSET = 128
_HEAD_WORD = _HEAD_OFFSET // 8
_META_WORD = _META_OFFSET // 8
DEFAULT_MAX_RETRIES = 1000

_copyto = np.copyto


def _align(n: int, a: int = _CACHE_LINE) -> int:
    return (n + a - 1) // a * a


def _layout(capacity: Any, shape: Any, dtype: Any) -> tuple[int, tuple[int, ...], np.dtype, int, int, int, int]:
    """Validates the arguments; returns (capacity, shape, dtype, sample bytes, slot stride, payload offset, total bytes)."""
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
        raise ValueError(f"capacity must be an int >= 2, got {capacity!r}")
    capacity = int(capacity)
    if capacity < 2:
        raise ValueError(f"capacity must be >= 2, got {capacity}")
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 1 for d in shape):
        raise ValueError(f"every dimension of shape must be >= 1, got {shape}")
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"dtype {dtype} holds Python objects, which cannot live in a flat buffer")
    if dtype.itemsize == 0:
        raise ValueError(f"dtype {dtype} has itemsize 0")
    sample = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    stride = _align(sample)
    payload = _align(_META_OFFSET + 16 * capacity)
    return capacity, shape, dtype, sample, stride, payload, payload + capacity * stride


def _layout_hash(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return zlib.crc32(repr((shape, dtype.descr)).encode())


class RingBuffer:
    """Lock-free single-writer / many-reader ring of the last ``capacity`` samples.

    Units: stamps are int nanoseconds on the monotonic clock
    (:func:`time.monotonic_ns`) of the host, must be >= 0 and non-decreasing
    from one write to the next (enforced: a smaller stamp raises ValueError).
    -1 is returned as "no sample". ``capacity`` is in samples; ``nbytes`` in
    bytes. Payloads are numpy arrays of exactly ``shape`` and ``dtype``.

    Concurrency: exactly ONE writer (``write`` or ``begin_write`` /
    ``commit_write``), any number of readers, in any threads or processes that
    share the buffer. Readers never block the writer and never return a torn
    sample: each slot carries a seqlock. The writer stores the slot's seq as
    odd, then the payload and stamp, then the seq as even, then advances the
    global head. A reader reads the head, then the seq of the slot it wants,
    copies payload and stamp, and reads the seq again; only if both seq reads
    equal the committed value for the exact sample it wanted is the copy
    returned, otherwise it was lapped by the writer and retries with a fresh
    head (at most ``max_retries`` times, then RuntimeError: a reader that is
    lapped that often has a ring far too small for its writer).

    Memory ordering (why this is sound, and where it is not):

    * In one process (threads), on any architecture: every seq/stamp/head
      access is a numpy item access made while holding the GIL, and each GIL
      hand-off between threads is an acquire/release pair (a full barrier for
      this purpose). So the seq stores are ordered with respect to the payload
      copy even when numpy releases the GIL during a large copy. This does not
      hold on a free-threaded (no-GIL) CPython build.
    * Across processes on x86-64: the CPU's TSO model keeps stores visible in
      program order and loads in program order, and the C compiler cannot
      reorder memory accesses across the separate interpreter-level calls that
      each access is, so the seqlock is sound.
    * Across processes on ARM64 (Jetson): ARM is weakly ordered, so a reader
      could see the even seq before the payload bytes (or read payload bytes
      early) and return a torn sample. Pass ``fence`` (a full barrier,
      :func:`.memory_fence.cross_process_fence`: Cyclone DDS's
      ``ddsrt_atomic_fence``): the writer calls it after marking the slot odd
      and before marking it even, readers after the first seq check and before
      the second, which is the textbook seqlock. The ingest process passes it
      wherever the CPU needs it; on x86-64 it is None and costs nothing.

    Shared memory: pass ``buffer=shm.buf`` (at least :meth:`nbytes` bytes,
    8-byte aligned; ``SharedMemory`` is page aligned). The first RingBuffer on
    a zero-filled buffer (a freshly created ``SharedMemory`` is zero-filled)
    writes the header; every later one, in any process, checks that its
    capacity/shape/dtype match the header and raises ValueError if not. Call
    :meth:`close` before ``shm.close()``: the numpy views export the buffer.

    Hot path: ``write``, ``read_latest`` and ``latest_stamp`` allocate no numpy
    arrays and no lists; all views are made once in ``__init__``.
    """

    def __init__(self, capacity: int, shape: tuple[int, ...], dtype: Any, buffer: Any = None,
                 *, max_retries: int = DEFAULT_MAX_RETRIES, fence: Callable[[], None] | None = None) -> None:
        capacity, shape, dtype, sample, stride, payload, total = _layout(capacity, shape, dtype)
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries}")
        self.capacity: int = capacity
        self.shape: tuple[int, ...] = shape
        self.dtype: np.dtype = dtype
        self.max_retries = int(max_retries)
        #: Full memory barrier between the seqlock's accesses, or None (see "Memory ordering" above).
        self.fence = fence
        #: Failed (lapped or mid-write) read attempts seen by THIS object; process-local, for diagnostics.
        self.retries = 0
        self._mv: memoryview | None = None

        if buffer is None:
            backing = np.zeros(total + _CACHE_LINE, dtype=np.uint8)
            start = (-backing.ctypes.data) % _CACHE_LINE
            raw = backing[start:start + total]
        else:
            try:
                mv = memoryview(buffer)
            except TypeError:
                raise ValueError(f"buffer must support the buffer protocol, got {type(buffer).__name__}") from None
            if mv.readonly:
                mv.release()
                raise ValueError("buffer is read-only; the ring needs a writable buffer (readers write nothing, "
                                 "but the views are shared with the writer's layout)")
            if not mv.c_contiguous:
                mv.release()
                raise ValueError("buffer must be C-contiguous")
            mv = mv.cast("B")
            if mv.nbytes < total:
                n = mv.nbytes
                mv.release()
                raise ValueError(
                    f"buffer too small: RingBuffer(capacity={capacity}, shape={shape}, dtype={dtype}) needs "
                    f"{total} bytes (RingBuffer.nbytes(...)), got {n}"
                )
            raw = np.frombuffer(mv, dtype=np.uint8, count=total)
            if raw.ctypes.data % 8:
                del raw
                mv.release()
                raise ValueError("buffer start must be 8-byte aligned (the int64 seq/stamp/head words need it)")
            self._mv = mv

        self._raw = raw
        self._header = raw[:_HEAD_OFFSET].view(np.int64)
        self._head = raw[_HEAD_OFFSET:_HEAD_OFFSET + 8].view(np.int64)
        meta = raw[_META_OFFSET:_META_OFFSET + 16 * capacity].view(np.int64).reshape(capacity, 2)
        self._seq = meta[:, 0]
        self._stamp = meta[:, 1]
        self._slot_views = [np.ndarray(shape, dtype, buffer=raw, offset=payload + k * stride) for k in range(capacity)]
        # The same int64 words as a memoryview, for the hot path: an item store or load through it costs about
        # half of a numpy scalar item access (bench/ring_rates.py), and is the same single aligned 8-byte access.
        # Word _HEAD_WORD is the head, word _META_WORD + 2*i slot i's seq, the next one its stamp.
        self._words: memoryview = raw[:payload].data.cast("q")
        self._init_header(sample, _layout_hash(shape, dtype))

        # Writer-side state (used only by the single writer object).
        self._pending = -1  # head value whose slot begin_write() opened, or -1
        self._last_stamp = max(self.latest_stamp(), 0)

    # ------------------------------------------------------------------ setup

    def _init_header(self, sample: int, layout: int) -> None:
        h = self._header
        want = (self.capacity, sample, layout)
        if h.item(0) == 0:
            if self._raw.any():
                # Not a fresh buffer, unless another process initialised it just now.
                if h.item(0) == 0:
                    raise ValueError("buffer is neither zero-filled nor an existing RingBuffer; "
                                     "pass a freshly created (zeroed) buffer")
            else:
                h[1], h[2], h[3] = want
                h[0] = _MAGIC  # last: a reader that sees the magic sees the fields
                return
        if h.item(0) != _MAGIC:
            raise ValueError(f"buffer does not hold a RingBuffer (magic {h.item(0):#x}, expected {_MAGIC:#x})")
        have = (h.item(1), h.item(2), h.item(3))
        if have != want:
            raise ValueError(
                f"buffer holds a different RingBuffer: header has capacity={have[0]}, sample bytes={have[1]}, "
                f"layout hash={have[2]:#x}; this one wants capacity={self.capacity}, shape={self.shape}, "
                f"dtype={self.dtype} (sample bytes={sample}, layout hash={layout:#x})"
            )

    @staticmethod
    def nbytes(capacity: int, shape: Any, dtype: Any) -> int:
        """Bytes of buffer a ring of ``capacity`` samples of ``shape``/``dtype`` needs."""
        return _layout(capacity, shape, dtype)[-1]

    def close(self) -> None:
        """Drops every view of the buffer so an external buffer (``SharedMemory``) can be closed.

        The object is unusable afterwards. Arrays returned by :meth:`begin_write`
        must be dropped first, or releasing the buffer raises BufferError.
        """
        self._slot_views = []
        words: memoryview | None = self._words
        if words is not None:  # None after a first close()
            words.release()
            self._words = None  # type: ignore[assignment]
        self._raw = self._header = self._head = self._seq = self._stamp = None  # type: ignore[assignment]
        if self._mv is not None:
            self._mv.release()
            self._mv = None

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        n = self.count if self._head is not None else "closed"
        return f"RingBuffer(capacity={self.capacity}, shape={self.shape}, dtype={self.dtype}, count={n})"

    # ----------------------------------------------------------------- writer

    def write(self, value: np.ndarray, stamp_ns: int) -> None:
        """Copies ``value`` into the next slot and publishes it with ``stamp_ns``. Single writer only.

        If the copy itself fails (e.g. an uncastable dtype) the slot stays
        marked as being written: readers never see it, the oldest sample is
        dropped, and the next write reuses the slot.
        """
        try:
            vshape = value.shape
        except AttributeError:
            raise TypeError(f"value must be a numpy array, got {type(value).__name__}") from None
        if vshape != self.shape:
            raise ValueError(f"value has shape {vshape}, ring holds shape {self.shape}")
        if stamp_ns.__class__ is not int:
            stamp_ns = operator.index(stamp_ns)
        if stamp_ns < self._last_stamp:
            raise ValueError(self._stamp_error(stamp_ns))
        w = self._words
        cap = self.capacity
        n = w[_HEAD_WORD]
        i = n % cap
        j = _META_WORD + 2 * i
        odd = (n // cap) * 2 + 1
        # Order matters (see class docstring): seq odd -> payload, stamp -> seq even -> head.
        fence = self.fence
        w[j] = odd
        if fence is not None:
            fence()
        if value.dtype is self.dtype:
            # Same dtype, nothing to cast: an item assignment is the same memcpy at about a third of np.copyto's
            # call cost for a small slot (copyto parses its arguments and dispatches; bench/ring_rates.py).
            self._slot_views[i][...] = value
        else:
            _copyto(self._slot_views[i], value)  # casting rules (and errors) as np.copyto's
        w[j + 1] = stamp_ns
        if fence is not None:
            fence()
        w[j] = odd + 1
        w[_HEAD_WORD] = n + 1
        self._pending = -1
        self._last_stamp = stamp_ns

    def begin_write(self) -> np.ndarray:
        """Zero-copy write: returns the next slot's array to fill in place, then call :meth:`commit_write`.

        From this call on the slot is marked as being written, so readers skip
        it (its previous content, the oldest sample, is gone). The slot still
        holds that old sample's bytes: fill every element. Calling
        ``begin_write`` (or ``write``) again without committing abandons the
        fill and reuses the same slot, so a half-filled slot is never
        published. Do not touch the returned array after ``commit_write``.
        """
        w = self._words
        cap = self.capacity
        n = w[_HEAD_WORD]
        i = n % cap
        w[_META_WORD + 2 * i] = (n // cap) * 2 + 1
        if self.fence is not None:
            self.fence()  # the odd seq is visible before any payload byte the caller writes
        self._pending = n
        return self._slot_views[i]

    def commit_write(self, stamp_ns: int) -> None:
        """Publishes the slot opened by :meth:`begin_write`, stamped ``stamp_ns``."""
        n = self._pending
        if n < 0:
            raise RuntimeError("commit_write() without a pending begin_write()")
        if stamp_ns.__class__ is not int:
            stamp_ns = operator.index(stamp_ns)
        if stamp_ns < self._last_stamp:
            raise ValueError(self._stamp_error(stamp_ns))
        cap = self.capacity
        j = _META_WORD + 2 * (n % cap)
        w = self._words
        w[j + 1] = stamp_ns
        if self.fence is not None:
            self.fence()
        w[j] = (n // cap) * 2 + 2
        w[_HEAD_WORD] = n + 1
        self._pending = -1
        self._last_stamp = stamp_ns

    def abort_write(self) -> None:
        """Abandons a pending :meth:`begin_write` (optional: the next write reuses the slot anyway)."""
        self._pending = -1

    def _stamp_error(self, stamp_ns: int) -> str:
        if stamp_ns < 0:
            return f"stamp_ns must be >= 0 (monotonic ns), got {stamp_ns}"
        return f"stamp_ns must be non-decreasing: got {stamp_ns} after {self._last_stamp}"

    # ---------------------------------------------------------------- readers

    def _raise_bad_out(self, out: Any) -> None:
        try:
            shape, dtype = out.shape, out.dtype
        except AttributeError:
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}") from None
        raise ValueError(f"out has shape {shape} dtype {dtype}; expected shape {self.shape} dtype {self.dtype}")

    def read_latest(self, out: np.ndarray) -> int:
        """Copies the newest sample into ``out``; returns its stamp_ns, or -1 if nothing was written yet."""
        try:
            bad_out = out.shape != self.shape or out.dtype != self.dtype
        except AttributeError:
            bad_out = True
        if bad_out:
            self._raise_bad_out(out)
        w = self._words
        cap = self.capacity
        fence = self.fence
        tries = self.max_retries
        while tries:
            n = w[_HEAD_WORD]
            if n == 0:
                return -1
            k = n - 1
            i = k % cap
            j = _META_WORD + 2 * i
            committed = (k // cap) * 2 + 2
            if w[j] == committed:
                if fence is not None:
                    fence()
                out[...] = self._slot_views[i]  # same shape and dtype (checked above): a plain copy, cheaper than copyto
                t = w[j + 1]
                if fence is not None:
                    fence()
                if w[j] == committed:
                    return t
            # Lapped (or being overwritten) while we looked: take a fresh head.
            self.retries += 1
            tries -= 1
        raise RuntimeError(self._lapped_error("read_latest"))

    def latest_stamp(self) -> int:
        """Stamp of the newest sample, or -1; no payload copy."""
        # The seqlock loop is repeated inline in each reader rather than shared through a helper: these run on
        # the control loop's tick, where a Python call per read is measurable overhead.
        w = self._words
        cap = self.capacity
        fence = self.fence
        tries = self.max_retries
        while tries:
            n = w[_HEAD_WORD]
            if n == 0:
                return -1
            k = n - 1
            j = _META_WORD + 2 * (k % cap)
            committed = (k // cap) * 2 + 2
            if w[j] == committed:
                if fence is not None:
                    fence()
                t = w[j + 1]
                if fence is not None:
                    fence()
                if w[j] == committed:
                    return t
            self.retries += 1
            tries -= 1
        raise RuntimeError(self._lapped_error("latest_stamp"))

    def read_at_or_before(self, t_ns: int, out: np.ndarray) -> int:
        """Copies the newest sample with stamp <= ``t_ns`` still in the ring into ``out``; returns its stamp or -1.

        -1 means no retained sample is that old: nothing was written yet, or
        every sample still in the ring is newer than ``t_ns`` (the ones that
        old were overwritten). Binary search over the retained samples, every
        probe validated by its slot's seq; a sample found overwritten
        mid-search means it and everything older is gone.
        """
        try:
            bad_out = out.shape != self.shape or out.dtype != self.dtype
        except AttributeError:
            bad_out = True
        if bad_out:
            self._raise_bad_out(out)
        head = self._head
        seq = self._seq
        stamps = self._stamp
        cap = self.capacity
        fence = self.fence
        tries = self.max_retries
        while tries:
            n = head.item(0)
            if n == 0:
                return -1
            lo = n - cap if n > cap else 0
            hi = n - 1
            best = -1
            # Invariant: samples > hi are known newer than t_ns; samples < lo are <= t_ns or overwritten.
            while lo <= hi:
                mid = (lo + hi) // 2
                i = mid % cap
                committed = (mid // cap) * 2 + 2
                s1 = seq.item(i)
                if fence is not None:
                    fence()
                st = stamps.item(i)
                if fence is not None:
                    fence()
                if s1 != committed or seq.item(i) != committed:
                    # Sample mid was overwritten, so were all older ones: only newer ones can qualify.
                    self.retries += 1
                    best = -1
                    lo = mid + 1
                elif st <= t_ns:
                    best = mid
                    lo = mid + 1
                else:
                    hi = mid - 1
            if best >= 0:
                i = best % cap
                committed = (best // cap) * 2 + 2
                if seq.item(i) == committed:
                    if fence is not None:
                        fence()
                    _copyto(out, self._slot_views[i])
                    st = stamps.item(i)
                    if fence is not None:
                        fence()
                    if seq.item(i) == committed:
                        return st
                self.retries += 1
            if hi < n - 1:
                # Sample hi+1 was seen newer than t_ns, and everything at or before hi that could
                # qualify has been overwritten: no retained sample is <= t_ns (stamps never decrease).
                return -1
            # The newest sample itself was overwritten during the search: newer samples
            # (not covered by this search) may qualify, so search again from a fresh head.
            tries -= 1
        raise RuntimeError(self._lapped_error("read_at_or_before"))

    def _lapped_error(self, what: str) -> str:
        return (
            f"RingBuffer.{what}: lapped by the writer {self.max_retries} times in a row "
            f"(capacity={self.capacity}); the ring is too small for this writer/reader speed ratio"
        )

    @property
    def count(self) -> int:
        """Total samples ever committed (not capped at capacity)."""
        return self._words[_HEAD_WORD]
