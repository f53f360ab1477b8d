"""Keeps the fixed-rate loop's ticks a set time after a sensor stream's arrivals (profile ``loop.sync``).

Why: a loop that ticks at a fixed rate but at an arbitrary phase relative to
its sensors reads a sample that is anywhere from 0 to one sensor period old,
and a change a sensor reports waits up to one *loop* period for the next tick.
Which phase a run gets is chance (the two clocks start independently), so the
sensor-to-command latency of a run is chance too. Real controllers tick right
after the state they act on arrives (an EtherCAT master after its frame, a
ros2_control loop after ``read()``); this does the same without giving up the
fixed rate: the loop keeps its own absolute deadlines, and each tick nudges
the next deadline by a bounded step towards ``offset_s`` after the newest
arrival of the reference stream. The rate does not change; only the phase
does, so tick-start jitter stays within ``max_step_s`` even while locking.

With a stream ``k`` times faster than the loop (k a whole number, checked at
load), every tick then sees a sample about ``offset_s`` old, and a sensor
change waits at most one *sensor* period plus the offset before a tick acts
on it (bench/loop_under_load.py measures both).

Phase error at a tick (ns): the age of the stream's newest sample minus the
offset, wrapped into [-P/2, P/2) with P the stream's period, so the error to
the nearest arrival is corrected, never a whole period. A late arrival that
misses the tick shows as an error near 0 (the previous sample is one period
older), not as a jump. No correction while the stream is stale (age above two
periods, the watchdog's business) or has never arrived.

Late arrivals (:meth:`gate`, the loop's gate): when the sample a tick is
locked to has not arrived by the deadline (the newest one is more than half a
period old), the loop waits for it, at most ``loop.sync.max_wait_s``; without the wait the tick would
act on the previous sample, and a change carried by the late one would wait a
whole loop period more. The wait counts as tick lateness (jitter), never as
work.
"""

from __future__ import annotations

from typing import Callable


class PhaseLock:
    """Proportional phase lock of the loop onto one stream's receipt times (all times monotonic ns).

    ``stream_period_ns``: the reference stream's period; ``offset_ns``: wanted age
    of its newest sample at tick start; ``gain``: fraction of the phase error
    corrected per tick; ``max_step_ns``: largest shift of one deadline.
    """

    __slots__ = ("period_ns", "offset_ns", "gain", "max_step_ns", "_half", "_stale_ns", "last_error_ns",
                 "corrections", "locked_ticks", "ticks", "_lock_band_ns", "newest_ns")

    def __init__(self, stream_period_ns: int, offset_ns: int, gain: float, max_step_ns: int,
                 newest_ns: Callable[[], int] | None = None) -> None:
        if stream_period_ns <= 0 or max_step_ns <= 0 or not 0 < gain <= 1 or not 0 <= offset_ns < stream_period_ns:
            raise ValueError(f"PhaseLock: period {stream_period_ns} ns, offset {offset_ns} ns, gain {gain}, "
                             f"max step {max_step_ns} ns: need period > 0, 0 <= offset < period, 0 < gain <= 1, step > 0")
        self.period_ns = int(stream_period_ns)
        self.offset_ns = int(offset_ns)
        self.gain = float(gain)
        self.max_step_ns = int(max_step_ns)
        self._half = self.period_ns // 2
        self._stale_ns = 2 * self.period_ns
        # "Locked": within a tenth of the stream's period (100 us for a 1 kHz stream); for the summary only.
        self._lock_band_ns = max(self.max_step_ns, self.period_ns // 10)
        #: The reference stream's newest receipt time (its ring's latest_stamp), for :meth:`gate`.
        self.newest_ns = newest_ns
        self.last_error_ns = 0
        self.corrections = 0
        self.locked_ticks = 0
        self.ticks = 0

    def shift_ns(self, now_ns: int, newest_receipt_ns: int) -> int:
        """How far to move the loop's next deadline (ns; negative: earlier), from this tick's start and the
        reference stream's newest receipt time (-1: none yet)."""
        self.ticks += 1
        if newest_receipt_ns < 0:
            return 0
        age = now_ns - newest_receipt_ns
        if age > self._stale_ns:
            return 0
        err = (age - self.offset_ns + self._half) % self.period_ns - self._half
        self.last_error_ns = err
        if -self._lock_band_ns <= err <= self._lock_band_ns:
            self.locked_ticks += 1
        # Sample older than wanted (err > 0): the tick comes too long after the arrival, so tick earlier.
        step = int(err * self.gain)
        if step > self.max_step_ns:
            step = self.max_step_ns
        elif step < -self.max_step_ns:
            step = -self.max_step_ns
        if step:
            self.corrections += 1
        return -step

    def gate(self, now_ns: int) -> bool:
        """True when a tick may start at ``now_ns``: the sample it is locked to has arrived (the newest is at most
        half a period old), or there is nothing to wait for (none yet, or the stream stale)."""
        t = self.newest_ns() if self.newest_ns is not None else -1
        if t < 0:
            return True
        age = now_ns - t
        return age <= self._half or age > self._stale_ns

    def summary(self) -> dict[str, float | int]:
        return {"offset_ms": self.offset_ns / 1e6, "last_error_ms": round(self.last_error_ns / 1e6, 4),
                "locked_fraction": round(self.locked_ticks / self.ticks, 4) if self.ticks else 0.0,
                "corrections": self.corrections}
