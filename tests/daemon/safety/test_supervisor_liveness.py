"""SupervisorLiveness (daemon/safety/supervisor_liveness.py) against a real child process: killed, stopped,
continued, reaped, or alive but not polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.safety.supervisor_liveness import SupervisorLiveness


def _wait_state(pid: int, states: str, timeout_s: float = 5.0) -> None:
    """Until /proc says the child is in one of ``states`` (T: stopped, Z: exited, S/R: running)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if state in states:
            return
        time.sleep(0.001)
    raise AssertionError(f"pid {pid} never reached state {states}")


def test_a_killed_or_stopped_child_is_lost_at_once_and_popen_still_reaps_it() -> None:
    beat = np.zeros(hb.SLOTS, np.int64)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = SupervisorLiveness(child.pid, beat, poll_silence_s=0.5)
        beat[hb.SUPERVISOR_POLL_NS] = time.monotonic_ns()
        assert not live.lost(time.monotonic_ns())
        os.kill(child.pid, signal.SIGSTOP)
        _wait_state(child.pid, "Tt")
        assert live.lost(time.monotonic_ns()), "a stopped supervisor cannot publish"
        assert live.lost(time.monotonic_ns()), "and stays lost while stopped (WNOWAIT leaves the state)"
        os.kill(child.pid, signal.SIGCONT)
        _wait_state(child.pid, "SR")
        beat[hb.SUPERVISOR_POLL_NS] = time.monotonic_ns()
        assert not live.lost(time.monotonic_ns())
        os.kill(child.pid, signal.SIGKILL)
        _wait_state(child.pid, "Z")
        assert live.lost(time.monotonic_ns())
    finally:
        child.kill()
        assert child.wait(timeout=5) == -signal.SIGKILL  # the exit status was left for Popen
    assert live.lost(time.monotonic_ns()), "reaped: still lost"


def test_a_child_that_stops_polling_is_lost_after_the_silence() -> None:
    beat = np.zeros(hb.SLOTS, np.int64)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = SupervisorLiveness(child.pid, beat, poll_silence_s=0.2)
        t = time.monotonic_ns()
        beat[hb.SUPERVISOR_POLL_NS] = t
        assert not live.lost(t + 199_000_000)
        assert live.lost(t + 201_000_000)
    finally:
        child.kill()
        child.wait(timeout=5)


def test_lost_keeps_no_memory() -> None:
    """Called every tick: nothing it builds outlives the call (waitid returns None for a running child)."""
    import tracemalloc

    beat = np.zeros(hb.SLOTS, np.int64)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = SupervisorLiveness(child.pid, beat, poll_silence_s=0.5)
        now = time.monotonic_ns()
        beat[hb.SUPERVISOR_POLL_NS] = now
        live.lost(now)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            live.lost(now)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert after - before < 512, (before, after)
    finally:
        child.kill()
        child.wait(timeout=5)
