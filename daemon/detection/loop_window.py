"""When a detector may hold the interpreter lock: only while the control loop sleeps until its next tick.

The detector's thread and the loop share one interpreter lock. Its inference and its image resizing release the
lock (ONNX Runtime, OpenCV), but copying the frame out of the ring, decoding the boxes and building, serialising
and writing the message are Python: about a millisecond a frame on a loaded 2-core machine. Were the loop to
want the lock meanwhile it would wait up to the interpreter's switch interval, or far longer if the detector's
thread were preempted while holding it (measured: 1.3 ms p99 tick jitter at 500 Hz with a 30 Hz detector, vs
17 us without). So each such section first waits here until the loop is between ticks with room before its next
deadline for the section's budget (its own recent duration, with a margin), and runs at a real-time priority
below all of the daemon's own threads (:data:`SECTION_PRIORITY`) so that no ordinary process preempts it while it
holds the lock. Even a wake-up takes the lock for a moment, so the worker's polls and these waits wake in the
middle of the loop's idle time, never at a deadline. The frame's inference runs at the normal policy, off the
loop's CPUs, whenever it likes.

A section that never fits (longer than the loop's idle time) runs anyway after two periods: the detector slows
down, it never stops.
"""

from __future__ import annotations

import time
from typing import Any, Callable

#: SCHED_FIFO 1: above every ordinary process (so a section holding the interpreter lock is not preempted), below
#: every real-time thread of the daemon (ingest 10, helpers 19, loop 20, supervisor 21 in the example profile).
SECTION_PRIORITY = 1
MARGIN_NS = 100_000  # kept free before the loop's spin-up to its deadline


class LoopWindow:
    """``wait_for(budget_ns)``: return once a section of ``budget_ns`` fits before the loop's next deadline;
    ``sleep_idle(at_least_s)``: sleep at least that long, waking mid-way between two ticks.

    ``loop``: the :class:`~edgepilot.daemon.timing.fixed_rate_loop.FixedRateLoop` (its ``deadline_ns``,
    ``period_ns``, ``spin_ns``, ``ticks`` and ``duration_ns``), on the host's monotonic clock ``clock_ns``.
    """

    def __init__(self, loop: Any, clock_ns: Callable[[], int] = time.monotonic_ns, margin_ns: int = MARGIN_NS) -> None:
        self._loop, self._clock, self._margin = loop, clock_ns, margin_ns
        self.waits = 0  # sections that had to wait for a window
        self.forced = 0  # sections that found no window within two periods and ran anyway

    def _tick_ns(self) -> int:
        loop = self._loop
        n = loop.ticks
        return int(loop.duration_ns[(n - 1) % loop.history]) if n else 0

    def _next_idle_ns(self, after_ns: int) -> int:
        """The middle of the first gap between two ticks that starts no sooner than ``after_ns``; -1: no loop."""
        loop = self._loop
        d = loop.deadline_ns
        if d < 0:
            return -1
        period = loop.period_ns
        tick = min(self._tick_ns() + 50_000, period)
        mid = d + tick + (period - tick) // 2  # the gap after the tick at (or running from) deadline d
        if mid < after_ns:
            mid += -(-(after_ns - mid) // period) * period
        return mid

    def sleep_idle(self, at_least_s: float) -> None:
        now = self._clock()
        wake = self._next_idle_ns(now + int(at_least_s * 1e9))
        time.sleep(at_least_s if wake < 0 else (wake - now) * 1e-9)

    def wait_for(self, budget_ns: int) -> None:
        loop, clock = self._loop, self._clock
        now = clock()
        give_up = now + 2 * loop.period_ns
        waited = False
        while True:
            deadline = loop.deadline_ns
            if deadline < 0:
                return  # the loop is not ticking (yet): nothing to stay clear of
            if now >= give_up:
                self.forced += 1
                return
            if now < deadline and deadline - loop.spin_ns - self._margin - now >= budget_ns:
                self.waits += waited
                return
            # No room before this deadline (or the tick is running): wake after the next tick, at its gap's start.
            wake = self._next_idle_ns(now + 1) - (loop.period_ns - min(self._tick_ns() + 50_000, loop.period_ns)) // 2
            time.sleep(max(wake - now, 20_000) * 1e-9)
            waited = True
            now = clock()
