"""Fixed-rate scheduling on absolute deadlines of the monotonic clock."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


class FixedRateLoop:
    """Paces a loop at ``rate_hz`` on absolute deadlines, so errors never accumulate.

    Deadline k is ``t0 + k * period``; sleeping ``period`` after each tick would
    add every tick's work and wake-up latency to the schedule and drift. The
    wait sleeps until ``spin_s`` before the deadline and spins the rest, since
    a Linux sleep overshoots by 50-100 us. A tick whose work ends after the
    next deadline is a deadline miss; if the loop falls more than a whole
    period behind (a stall), the missed deadlines are skipped and counted
    rather than run back to back.

    Timing of the last ``history`` ticks is kept in preallocated arrays
    (nanoseconds): ``start_ns``, ``lateness_ns`` (start minus deadline) and
    ``duration_ns``.
    """

    def __init__(
        self,
        rate_hz: float,
        spin_s: float = 0.0002,
        history: int = 1 << 16,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.period_ns = int(round(1e9 / rate_hz))
        self.spin_ns = int(spin_s * 1e9)
        self._clock = clock
        self._sleep = sleep
        self.history = history
        self.start_ns = np.zeros(history, np.int64)
        self.lateness_ns = np.zeros(history, np.int64)
        self.duration_ns = np.zeros(history, np.int64)
        self.ticks = 0
        self.deadline_misses = 0
        self.skipped_deadlines = 0
        self.first_start_ns = -1
        self._deadline = -1
        self._tick_start = 0
        self.last_gap_ns = 0
        #: Optional gate (daemon/timing/phase_lock.py): at the deadline, keep spinning while ``gate(now)`` is False, at
        #: most ``gate_max_ns`` past the deadline. The tick's recorded start (and lateness) includes that wait.
        self.gate: Callable[[int], bool] | None = None
        self.gate_max_ns = 0
        self.gated_ticks = 0

    def wait_next(self) -> int:
        """Block until the next deadline; return this tick's start time (ns, monotonic)."""
        clock = self._clock
        now = clock()
        if self._deadline < 0:
            self._deadline = now
        else:
            self._deadline += self.period_ns
            behind = now - self._deadline
            if behind > self.period_ns:
                missed = behind // self.period_ns
                self.skipped_deadlines += missed
                self._deadline += missed * self.period_ns
        deadline = self._deadline
        remaining = deadline - now - self.spin_ns
        if remaining > 0:
            self._sleep(remaining * 1e-9)
        now = clock()
        while now < deadline:
            now = clock()
        gate = self.gate
        if gate is not None and not gate(now):
            self.gated_ticks += 1
            limit = deadline + self.gate_max_ns
            while now < limit and not gate(now):
                now = clock()
        i = self.ticks % self.history
        self.start_ns[i] = now
        self.lateness_ns[i] = now - deadline
        self.last_gap_ns = now - self._tick_start if self.ticks else 0
        self._tick_start = now
        if self.first_start_ns < 0:
            self.first_start_ns = now
        return now

    @property
    def deadline_ns(self) -> int:
        """The running tick's deadline, or while the loop waits the next one's (ns, loop clock; -1 before the
        first). Read by other threads (the detectors' loop windows, daemon/detection/loop_window.py): an int
        attribute replaced whole, so no lock."""
        return self._deadline

    def shift(self, delta_ns: int) -> None:
        """Move the schedule by ``delta_ns`` from the next deadline on (phase lock, daemon/timing/phase_lock.py)."""
        self._deadline += delta_ns

    def end_tick(self) -> None:
        """Record the tick's duration; count a miss if it ran into the next deadline."""
        end = self._clock()
        i = self.ticks % self.history
        self.duration_ns[i] = end - self._tick_start
        if end > self._deadline + self.period_ns:
            self.deadline_misses += 1
        self.ticks += 1

    def measured_rate_hz(self) -> float:
        """Mean tick rate from first to last tick start."""
        if self.ticks < 2:
            return 0.0
        last = int(self.start_ns[(self.ticks - 1) % self.history])
        return (self.ticks - 1) * 1e9 / (last - self.first_start_ns)

    def recent(self, field: np.ndarray) -> np.ndarray:
        """The retained part of one of the timing arrays (a copy; not for the hot path)."""
        n = min(self.ticks, self.history)
        return field[:n].copy()
