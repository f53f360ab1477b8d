"""Phase lock of the fixed-rate loop onto a sensor stream (daemon/timing/phase_lock.py), on a simulated clock.

The sensor is simulated as arrivals at ``phase + k * period + lateness`` (lateness >= 0: a message is never
received before it is sent); the loop is the real :class:`FixedRateLoop` on a fake clock. The real-clock
behaviour under DDS load is measured by bench/loop_under_load.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop
from edgepilot.daemon.timing.phase_lock import PhaseLock

from .test_fixed_rate_loop import FakeClock


def run(loop_hz: float, ratio: int, phase_ns: int, offset_ns: int, ticks: int, lateness_ns: np.ndarray | None = None,
        gain: float = 0.1, max_step_ns: int | None = None) -> tuple[FixedRateLoop, PhaseLock, np.ndarray]:
    """Run ``ticks`` ticks; return the loop, the lock and each tick's age of the newest sample (ns)."""
    clock = FakeClock()
    clock.t = 10_000_000_000
    loop = FixedRateLoop(loop_hz, spin_s=0.0, clock=clock.now, sleep=clock.sleep)
    sensor_period = int(round(1e9 / (loop_hz * ratio)))
    step = max_step_ns or int(0.01e9 / loop_hz)
    lock = PhaseLock(sensor_period, offset_ns, gain, step)
    t0 = clock.t + phase_ns
    ages = np.zeros(ticks, np.int64)
    rng = np.random.default_rng(0)
    for i in range(ticks):
        now = loop.wait_next()
        k = (now - t0) // sensor_period  # the newest arrival at or before now, before lateness
        newest = -1
        for j in (k + 1, k, k - 1, k - 2):  # a late arrival may still be pending: take the newest one received
            late = 0 if lateness_ns is None else int(lateness_ns[rng.integers(lateness_ns.size)])
            t = t0 + j * sensor_period + late
            if t <= now:
                newest = t
                break
        ages[i] = now - newest
        loop.shift(lock.shift_ns(now, newest))
        clock.t += 100_000  # 0.1 ms of work
        loop.end_tick()
    return loop, lock, ages


@settings(max_examples=60, deadline=None)
@given(ratio=st.sampled_from([1, 2, 4]), phase=st.floats(0, 1), offset_frac=st.floats(0.05, 0.45))
def test_locks_onto_any_phase_without_changing_the_rate(ratio: int, phase: float, offset_frac: float) -> None:
    loop_hz = 500.0
    sensor_period = int(round(1e9 / (loop_hz * ratio)))
    offset = int(offset_frac * sensor_period)
    loop, lock, ages = run(loop_hz, ratio, int(phase * 2e6), offset, 1500)
    # Converged: every late tick sees a sample about `offset` old (within 5 us), whatever the initial phase.
    assert np.all(np.abs(ages[-300:] - offset) <= 5_000), (ages[-300:].min(), ages[-300:].max(), offset)
    # The rate is the loop's: starts advance by one period plus at most one bounded step.
    starts = loop.recent(loop.start_ns)
    intervals = np.diff(starts)
    assert np.all(np.abs(intervals - loop.period_ns) <= int(0.01e9 / loop_hz)), np.abs(intervals - loop.period_ns).max()
    assert abs(loop.measured_rate_hz() - loop_hz) < 0.5
    assert lock.summary()["locked_fraction"] > 0.7


def test_late_arrivals_do_not_drag_the_ticks_before_the_data() -> None:
    # A fifth of the messages arrive 0.3-0.6 ms late (scheduling on a busy host): the lock must not chase them
    # into a state where most ticks see the previous sample (age near one sensor period).
    lateness = np.concatenate([np.zeros(400, np.int64), np.random.default_rng(3).integers(300_000, 600_000, 100)])
    _, _, ages = run(500.0, 2, 700_000, 200_000, 3000, lateness)
    tail = ages[-1000:]
    assert np.median(tail) < 400_000, np.median(tail)
    assert np.mean(tail > 900_000) < 0.25


def test_no_correction_without_data_or_with_a_stale_stream() -> None:
    lock = PhaseLock(1_000_000, 200_000, 0.1, 20_000)
    assert lock.shift_ns(5_000_000_000, -1) == 0
    assert lock.shift_ns(5_000_000_000, 5_000_000_000 - 2_500_000) == 0  # 2.5 periods old: stale, not a phase
    assert lock.corrections == 0
    # Fresh and 0.4 ms too old: tick earlier, by the gain's share capped at max_step.
    assert lock.shift_ns(5_000_000_000, 5_000_000_000 - 600_000) == -20_000
    assert lock.shift_ns(5_000_000_000, 5_000_000_000 - 250_000) == -5_000
    assert lock.shift_ns(5_000_000_000, 5_000_000_000 - 100_000) == 10_000  # too fresh: later


@pytest.mark.parametrize("args", [(0, 0, 0.1, 1), (1000, 1000, 0.1, 1), (1000, 0, 0.0, 1), (1000, 0, 0.1, 0)])
def test_bad_parameters_are_refused(args: tuple) -> None:
    with pytest.raises(ValueError, match="PhaseLock"):
        PhaseLock(*args)


def test_a_late_sample_is_waited_for_within_the_bound() -> None:
    # Locked (offset 0.2 ms, 1 kHz stream, 500 Hz loop), then one arrival 0.1 ms late relative to the tick: the
    # gate holds that tick until it lands; a sample 1 ms late (beyond max_wait) is not waited for past the bound.
    clock = FakeClock()
    loop = FixedRateLoop(500.0, spin_s=0.0, clock=clock.now, sleep=clock.sleep)
    newest = [-1]
    lock = PhaseLock(1_000_000, 200_000, 0.1, 20_000, newest_ns=lambda: newest[0])
    loop.gate, loop.gate_max_ns = lock.gate, 150_000
    now = loop.wait_next()  # first tick: nothing to wait for
    assert lock.gate(now)
    loop.end_tick()
    deadline = now + loop.period_ns
    newest[0] = deadline - 1_200_000  # the sample before the one this tick is locked to: 1.2 ms old at the deadline

    ticks = []
    orig_now = clock.now

    def ticking() -> int:  # each read of the clock advances it 10 us, as a spin would
        clock.t += 10_000
        if clock.t >= deadline + 100_000 and newest[0] < deadline:
            newest[0] = deadline + 100_000  # lands 0.1 ms after the deadline
        return orig_now()

    loop._clock = ticking
    ticks.append(loop.wait_next())
    assert deadline + 100_000 <= ticks[0] <= deadline + 120_000 and loop.gated_ticks == 1
    loop.end_tick()
    newest[0] = ticks[0] + loop.period_ns - 1_500_000  # next tick: its sample never comes in time
    t = loop.wait_next()
    assert t - (deadline + loop.period_ns) <= 150_000 + 10_000 and loop.gated_ticks == 2
    # Stale or absent streams are never waited for (the watchdog handles them).
    newest[0] = -1
    assert lock.gate(10**12)
    newest[0] = 10**12 - 5_000_000
    assert lock.gate(10**12)
