"""Stream checks beyond age and finiteness: header stamps, order, rate, frozen and out-of-range values.

A stale stream and a NaN are easy to see. These faults are not: a driver that
keeps re-publishing its last reading with fresh stamps (frozen), a sensor
whose clock jumped or that replays old data (stamps far from the receipt
time), duplicated or reordered delivery, two publishers on one topic or a
babbling driver (rate far above the expected one), and a reading no
physical sensor can produce (out of range). Each is off unless the stream's
profile entry sets its limit (:class:`~edgepilot.daemon.config.profile.StreamConfig`:
``max_stamp_skew_s``, ``reject_out_of_order``, ``max_rate_hz``,
``max_identical_s``, ``value_range``), so profiles without them behave as
before.

What the daemon does for each, on a robot that can hurt someone:

* stamps (``max_stamp_skew_s``): a message whose header stamp differs from the
  receipt wall-clock time by more than the limit is dropped (it never reaches
  the observation) and the stream is faulted, ``stamp:<stream>``, until
  stamps have been good for the stream's ``max_age_s``. Both directions:
  an old stamp is old data; a future stamp is a clock that jumped, and
  nothing measured by that clock can be trusted.
* order (``reject_out_of_order``): a message stamped at or before the last
  accepted one is dropped and counted (``duplicates``, ``reordered``); no
  fault, since newer data is already in hand. Needs ``max_stamp_skew_s``: one
  message stamped in the future would otherwise make every later one look
  out of order forever.
* rate (``max_rate_hz``): more than ``max_rate_hz * window`` admitted messages
  (duplicates and bad stamps do not count) within any sliding ``window`` of
  max(0.1 s, 5 expected periods) faults the stream,
  ``rate:<stream>``, for one window after the last excess arrival. The data
  is kept; the command is zero anyway.
* frozen (``max_identical_s``): new samples keep arriving but their values
  have been bit-identical for longer than the limit: ``frozen:<stream>``. Only
  meaningful for sensors whose noise makes exact repeats impossible (an IMU,
  never a wheel encoder at rest).
* out of range (``value_range``): the tick's sample has a value outside its
  field's [low, high]: ``out_of_range:<stream>``.
* publishers (``max_publishers``, default 1, on unlike the others): more DDS
  writers matched with the stream's reader than that is
  ``second_publisher:<stream>`` while they last. Two publishers with valid
  but conflicting data pass every other check (a rate check only sees it if
  both publish fast enough). The transport reports the count on its thread
  (a subscription-matched listener: discovery, not data, so a second
  publisher is seen even before it sends a sample); transports that cannot
  (replay, rclpy) report nothing and the check never fires.

Two halves, two threads. :meth:`StreamIntegrity.admit` runs on the
transport's thread for every message, before it is decoded, and
:meth:`StreamIntegrity.accepted` after it was stored; they keep the
counters and the times of the last stamp rejection, rate excess and value
change.
:meth:`StreamIntegrity.check` runs on the loop's thread once per tick on the
tick's snapshot and raises the faults; it allocates nothing (its buffers are
made once, on the first tick).

What the loop reads of the ingest side's state lives in one int64 array,
:attr:`StreamIntegrity.shared` (word indices ``CHANGED_NS`` ...
``RATE_EXCEEDED``), so that it can sit in memory another process writes:
when the ingest runs in its own process (ingest mode ``process``, what
``auto`` picks on DDS) it binds these words into the shared file next to
the stream's ring (:mod:`.ingest_process`), and the
loop's process reads the child's stamp rejections, rate excesses, value
changes and counters there. Everything else of the ingest side (arrival
times, the last header stamp, the frozen-value buffers, ``last_reject``)
stays where admit/accepted run. Why no lock is needed: each word has one
writer (the ingest side) and is meaningful on its own (no invariant spans two
words), and each is written by one aligned 8-byte store, which x86-64 and
ARMv8 make single-copy atomic, so the loop reads the old value or the new
one, never a mix. Across processes the words are not ordered with the ring's
commit: the loop may see a changed sample a tick before its ``CHANGED_NS``
(one extra tick of ``frozen``) or a rejection a tick late; both are bounded
by one tick, and neither lets bad data through (a rejected message never
reaches the ring).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edgepilot.daemon.config.profile import StreamConfig
from edgepilot.daemon.safety.watchdog import STREAM_FAULT_KINDS
from edgepilot.daemon.streams.kinds.registry import kind_for

if TYPE_CHECKING:
    from edgepilot.daemon.streams.ingest import StreamSnapshot

Clock = Callable[[], int]

FROZEN = STREAM_FAULT_KINDS.index("frozen")
OUT_OF_RANGE = STREAM_FAULT_KINDS.index("out_of_range")
STAMP = STREAM_FAULT_KINDS.index("stamp")
RATE = STREAM_FAULT_KINDS.index("rate")
SECOND_PUBLISHER = STREAM_FAULT_KINDS.index("second_publisher")

RATE_WINDOW_MIN_S = 0.1
RATE_WINDOW_PERIODS = 5

#: Words of :attr:`StreamIntegrity.shared`: receipt times (monotonic ns, -1: never) of the last value change,
#: stamp rejection and rate excess, then the four drop/excess counters, then the topic's matched publishers.
CHANGED_NS, STAMP_REJECT_NS, RATE_EXCESS_NS, DUPLICATES, REORDERED, STAMP_REJECTED, RATE_EXCEEDED, PUBLISHERS = range(8)
#: Eight words: one 64-byte cache line per stream in the shared file.
SHARED_WORDS = 8
COUNTER_WORDS = {"duplicates": DUPLICATES, "reordered": REORDERED, "stamp_rejected": STAMP_REJECTED,
                 "rate_exceeded": RATE_EXCEEDED}


def new_shared_words() -> np.ndarray:
    """A process-local :attr:`StreamIntegrity.shared` in its initial state: no event yet, counters at zero."""
    words = np.zeros(SHARED_WORDS, np.int64)
    words[[CHANGED_NS, STAMP_REJECT_NS, RATE_EXCESS_NS]] = -1
    return words


def rate_window_s(config: StreamConfig) -> float:
    """The sliding window ``max_rate_hz`` is measured over, s: max(0.1 s, 5 expected periods)."""
    return max(RATE_WINDOW_MIN_S, RATE_WINDOW_PERIODS / config.rate_hz)


#: The stream fields that turn a check on only when a profile sets them (max_publishers is on by default).
OPT_IN_LIMITS = ("value_range", "max_identical_s", "max_stamp_skew_s", "reject_out_of_order", "max_rate_hz")


def integrity_configured(config: StreamConfig) -> bool:
    return any(getattr(config, f) for f in OPT_IN_LIMITS) or bool(config.max_publishers)


def _word(index: int, doc: str) -> Any:
    """A read-only attribute backed by word ``index`` of :attr:`StreamIntegrity.shared`."""
    return property(lambda self: self._words[index], doc=doc)


class StreamIntegrity:
    """The checks of one stream (module docstring). ``clock``: the ingest's receipt clock (monotonic ns);
    ``wall_clock``: what header stamps are compared with, ns since the epoch (the daemon sets the transport's
    ROS time: the wall clock, or the recording's time in a replay, where every stamp would otherwise look old)."""

    def __init__(self, config: StreamConfig, clock: Clock, wall_clock: Clock = time.time_ns) -> None:
        self.config = config
        self._clock = clock
        self.wall_clock = wall_clock
        self.last_reject = ""
        # What the loop reads (module docstring): process-local until bind_shared moves it into shared memory.
        self.shared = new_shared_words()
        # Item access through a memoryview yields plain ints, about twice as fast as ndarray.item, and no numpy
        # scalar for the loop to drop each tick.
        self._words = memoryview(self.shared)
        # Transport-thread state, never read by the loop.
        self._skew_ns = int(config.max_stamp_skew_s * 1e9) if config.max_stamp_skew_s else 0
        self._check_order = config.reject_out_of_order
        self._last_header_ns = -1
        self._stamp_hold_ns = int(config.max_age_s * 1e9)
        if config.max_rate_hz:
            window = rate_window_s(config)
            self._rate_window_ns = int(window * 1e9)
            self._arrivals = np.full(max(1, math.ceil(config.max_rate_hz * window)), -1, np.int64)
        else:
            self._rate_window_ns = 0
            self._arrivals = np.zeros(0, np.int64)
        self._arrival_i = 0
        # Frozen values, tracked per accepted message (transport thread): the receipt time of the newest sample
        # whose values differ from the one before. Per message rather than per tick, so the moment a stream
        # froze is known exactly, not one tick late.
        self._max_identical_ns = int(config.max_identical_s * 1e9) if config.max_identical_s else 0
        self._latest: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._neq: np.ndarray | None = None
        self._seen_stamp = -1
        # Loop-thread state, bound to the snapshot's sample on the first check.
        self._bound: np.ndarray | None = None
        self._has_ranges = bool(config.value_range)
        self._max_publishers = config.max_publishers or 0
        self._ranges: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def bind_shared(self, words: np.ndarray, initialise: bool) -> None:
        """Keep :attr:`shared` in ``words`` (int64, ``SHARED_WORDS`` long, e.g. a slice of a shared file).

        ``initialise``: copy the current values there first (the side that creates the file); the other side
        binds to what is already there. Call before messages arrive and before the loop starts: the swap itself
        is not synchronised.
        """
        if words.dtype != np.int64 or words.shape != (SHARED_WORDS,) or not words.flags.c_contiguous:
            raise ValueError(f"integrity words must be {SHARED_WORDS} contiguous int64, got {words.dtype} {words.shape}")
        if initialise:
            np.copyto(words, self.shared)
        self.shared = words
        self._words = memoryview(words)

    # Read-only views of the shared words (tests, summaries); the hot paths index the words directly.
    changed_ns = _word(CHANGED_NS, "receipt time of the newest value change (monotonic ns; -1: none)")
    stamp_reject_ns = _word(STAMP_REJECT_NS, "receipt time of the latest stamp rejection (monotonic ns; -1: none)")
    rate_excess_ns = _word(RATE_EXCESS_NS, "receipt time of the latest rate excess (monotonic ns; -1: none)")
    duplicates = _word(DUPLICATES, "messages dropped: same header stamp as the last accepted one")
    reordered = _word(REORDERED, "messages dropped: header stamp before the last accepted one")
    stamp_rejected = _word(STAMP_REJECTED, "messages dropped: header stamp too far from the receipt time")
    rate_exceeded = _word(RATE_EXCEEDED, "admissions that came faster than max_rate_hz")
    publishers = _word(PUBLISHERS, "DDS writers matched with the stream's reader, as the transport last reported")

    # ------------------------------------------------------------------ transport thread

    def admit(self, msg: Any) -> bool:
        """Check one arriving message; False if it must be dropped (reason in :attr:`last_reject`)."""
        if (self._skew_ns or self._check_order) and not self._stamp_ok(msg):
            return False
        arrivals = self._arrivals
        if arrivals.size:
            # Counted after the stamp checks: duplicates (same stamp) are dropped and harmless, but new samples
            # arriving far too fast mean a broken or doubled source whose data cannot be trusted.
            now = self._clock()
            i = self._arrival_i
            oldest = arrivals[i]  # the admission len(arrivals) messages ago
            if oldest >= 0 and now - oldest < self._rate_window_ns:
                w = self._words
                w[RATE_EXCEEDED] += 1
                w[RATE_EXCESS_NS] = now
            arrivals[i] = now
            self._arrival_i = (i + 1) % arrivals.size
        return True

    def _stamp_ok(self, msg: Any) -> bool:
        st = msg.header.stamp
        stamp = int(st.sec) * 1_000_000_000 + int(st.nanosec)
        if self._skew_ns:
            skew = self.wall_clock() - stamp
            if skew > self._skew_ns or -skew > self._skew_ns:
                w = self._words
                w[STAMP_REJECTED] += 1
                w[STAMP_REJECT_NS] = self._clock()
                self.last_reject = (f"header stamp {'behind' if skew > 0 else 'ahead of'} the receipt time by "
                                    f"{abs(skew) / 1e9:.3f} s (max_stamp_skew_s={self.config.max_stamp_skew_s})")
                return False
        if self._check_order:
            last = self._last_header_ns
            if stamp <= last:
                if stamp == last:
                    self._words[DUPLICATES] += 1
                    self.last_reject = "duplicate: same header stamp as the last accepted message"
                else:
                    self._words[REORDERED] += 1
                    self.last_reject = f"out of order: header stamp {(last - stamp) / 1e9:.4f} s before the last accepted one"
                return False
            self._last_header_ns = stamp
        return True

    def publishers_changed(self, count: int) -> None:
        """The transport's thread: the topic now has ``count`` matched writers."""
        self._words[PUBLISHERS] = count

    def accepted(self, ring: Any) -> None:
        """After a message was stored in ``ring``: note when the stream's values last changed."""
        if not self._max_identical_ns:
            return
        latest, prev, neq = self._latest, self._prev, self._neq
        if latest is None or prev is None or neq is None:
            latest = self._latest = np.zeros(ring.shape, ring.dtype)
            prev = self._prev = np.zeros(ring.shape, ring.dtype)
            neq = self._neq = np.zeros(ring.shape, bool)
        stamp = ring.read_latest(latest)
        if stamp < 0 or stamp == self._seen_stamp:
            return  # nothing new committed (a partial JointState still merging)
        # count_nonzero, not .any(): the latter builds Python objects on every call.
        if self._seen_stamp < 0 or np.count_nonzero(np.not_equal(latest, prev, out=neq)):
            self._words[CHANGED_NS] = stamp
            np.copyto(prev, latest)
        self._seen_stamp = stamp

    def counters(self) -> dict[str, int]:
        """The drop/excess counts; read from :attr:`shared`, so right on the loop's side in either ingest mode."""
        w = self._words
        return {name: w[i] for name, i in COUNTER_WORDS.items()}

    # ------------------------------------------------------------------ loop thread

    def _bind(self, sample: np.ndarray) -> None:
        self._bound = sample
        fields = kind_for(self.config.type).value_fields  # where each value_range field sits (the stream's kind)
        self._ranges = []
        for name, (lo, hi) in self.config.value_range.items():
            view = sample[fields[name]]
            # Limits as arrays of the view's shape: comparing with a Python float would convert it every tick.
            self._ranges.append((view, np.full(view.shape, lo), np.full(view.shape, hi), np.zeros(view.shape, bool)))

    def check(self, snap: StreamSnapshot, now_ns: int, fresh: bool, raise_fault: Callable[..., None],
              ids: tuple[int, ...]) -> bool:
        """Raise this tick's integrity faults for ``snap`` (refreshed at ``now_ns``); True if any was raised.

        ``fresh``: the sample is within ``max_age_s`` (a stream that stopped is stale, not frozen).
        """
        faulted = False
        if self._has_ranges and self._bound is None:
            self._bind(snap.sample)  # only value_range reads the payload (see StreamSnapshot: unread streams skip the copy)
        words = self._words
        stamp = snap.stamp_ns
        if stamp >= 0:
            if self._max_identical_ns:
                changed = words[CHANGED_NS]
                if fresh and changed >= 0 and now_ns - changed > self._max_identical_ns:
                    raise_fault(ids[FROZEN])
                    faulted = True
            for view, lo, hi, buf in self._ranges:
                if np.count_nonzero(np.less(view, lo, out=buf)) or np.count_nonzero(np.greater(view, hi, out=buf)):
                    raise_fault(ids[OUT_OF_RANGE])
                    faulted = True
                    break
        t = words[STAMP_REJECT_NS]
        if t >= 0 and now_ns - t <= self._stamp_hold_ns:
            raise_fault(ids[STAMP])
            faulted = True
        t = words[RATE_EXCESS_NS]
        if t >= 0 and now_ns - t <= self._rate_window_ns:
            raise_fault(ids[RATE])
            faulted = True
        if self._max_publishers and words[PUBLISHERS] > self._max_publishers:
            raise_fault(ids[SECOND_PUBLISHER])
            faulted = True
        return faulted


def make_integrity(config: StreamConfig, clock: Clock) -> StreamIntegrity | None:
    """The stream's checks, or None when its profile entry sets none of their limits."""
    return StreamIntegrity(config, clock) if integrity_configured(config) else None
