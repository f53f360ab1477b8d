"""Fixed-rate loop: absolute deadlines, real clock, and the bookkeeping of misses and skips."""

from __future__ import annotations

import time

import numpy as np

from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop


def test_mean_rate_within_one_percent_over_five_seconds() -> None:
    """Real monotonic clock, real sleeps, 50 Hz for 5 s with work in every tick."""
    loop = FixedRateLoop(50.0)
    x = np.zeros(1000)
    t_end = time.monotonic() + 5.0
    while time.monotonic() < t_end:
        loop.wait_next()
        x += 1.0  # some work, well inside the period
        loop.end_tick()
    rate = loop.measured_rate_hz()
    assert abs(rate - 50.0) / 50.0 < 0.01, rate
    assert 245 <= loop.ticks <= 252
    # Absolute deadlines: tick k starts at t0 + k*period, so start times never drift.
    starts = loop.recent(loop.start_ns)
    drift = (starts[-1] - starts[0]) - (len(starts) - 1) * loop.period_ns
    assert abs(drift) < 2_000_000, drift


class FakeClock:
    """Deterministic clock for the bookkeeping tests (the real-clock test above covers real time)."""

    def __init__(self) -> None:
        self.t = 1_000_000_000

    def now(self) -> int:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += int(s * 1e9)


def test_no_drift_from_work_time() -> None:
    c = FakeClock()
    loop = FixedRateLoop(100.0, spin_s=0.0, clock=c.now, sleep=c.sleep)
    for _ in range(100):
        loop.wait_next()
        c.t += 3_000_000  # 3 ms of work each 10 ms tick
        loop.end_tick()
    starts = loop.recent(loop.start_ns)
    assert np.all(np.diff(starts) == 10_000_000)
    assert loop.deadline_misses == 0


def test_overrun_counted_and_stall_skips_missed_deadlines() -> None:
    c = FakeClock()
    loop = FixedRateLoop(100.0, spin_s=0.0, clock=c.now, sleep=c.sleep)
    loop.wait_next()
    loop.end_tick()
    loop.wait_next()
    c.t += 15_000_000  # overrun: 15 ms of work in a 10 ms tick
    loop.end_tick()
    assert loop.deadline_misses == 1
    loop.wait_next()  # late by 5 ms: runs at once, no skip
    loop.end_tick()
    assert loop.skipped_deadlines == 0
    c.t += 55_000_000  # a 55 ms stall
    start = loop.wait_next()
    assert loop.skipped_deadlines == 5
    assert loop.last_gap_ns >= 55_000_000
    loop.end_tick()
    nxt = loop.wait_next()
    assert nxt - start <= 10_000_000  # back on the grid, no burst of catch-up ticks
