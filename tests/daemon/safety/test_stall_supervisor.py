"""The stall supervisor as the real child process it is (daemon/safety/stall_supervisor.py), on a heartbeat this
test writes: no stall before the first tick, one once ticks stop."""

from __future__ import annotations

import time

from edgepilot.daemon.config.profile import TransportConfig
from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.safety.stall_supervisor import StallSupervisorProcess


def test_no_stall_between_running_and_the_first_tick_then_one_when_ticks_stop(dds_domain: int) -> None:
    beat = hb.Heartbeat.create()
    a = beat.array
    # A long stall timeout: before the fix a zero heartbeat read as decades since the last tick, so any timeout
    # tripped on the first poll; a long one keeps this test's own scheduling on a busy machine out of the result.
    sup = StallSupervisorProcess(beat, TransportConfig(kind="dds", domain_id=dds_domain), "/cmd_vel", 0.5, 500.0, 0.02)
    try:
        assert sup.wait_ready(60.0), "the supervisor did not start"
        a[hb.STATE] = hb.STATE_RUNNING  # as the daemon does just before its first tick, LOOP_TICK_NS still 0
        last = time.monotonic_ns()
        time.sleep(0.05)  # ~25 supervisor polls see RUNNING with no tick yet
        gaps = []
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:
            now = time.monotonic_ns()
            gaps.append((now - last) / 1e9)
            a[hb.LOOP_TICK_NS] = last = now
            time.sleep(0.01)
        assert max(gaps) < 0.5, f"this test's own ticks were {max(gaps):.3f} s apart: the machine, not the supervisor"
        assert a[hb.SUPERVISOR_STALLS] == 0 and a[hb.SUPERVISOR_ZEROS] == 0, "a stall before or between ticks"
        deadline = time.monotonic() + 5.0  # ticks stop: a stall once 0.5 s have passed (the poll is 2 ms)
        # The stall is counted just before its zero is published: wait for both, not only the first.
        while (a[hb.SUPERVISOR_STALLS] == 0 or a[hb.SUPERVISOR_ZEROS] == 0) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert a[hb.SUPERVISOR_STALLS] == 1 and a[hb.SUPERVISOR_ZEROS] >= 1
    finally:
        sup.stop()
        beat.unlink()
