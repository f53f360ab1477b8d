"""SIGKILL a real child process at many points while it writes, for the crash-consistency tests.

The child prints ``ready`` once its imports are done and it is about to
write; the delay before the kill is counted from there, so the kill points
spread over the writing itself rather than over interpreter start-up.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time


def start_child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def kill_after_ready(proc: subprocess.Popen, delay_s: float) -> str:
    """Wait for ``ready``, sleep ``delay_s``, SIGKILL; returns the child's stderr (for a failure message)."""
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"child did not start: {line!r} {err}")
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    return err


def delays(n: int, max_s: float, seed: int) -> list[float]:
    """``n`` kill delays: a fixed seed so a failing point can be rerun, plus the extremes 0 and ``max_s``."""
    rng = random.Random(seed)
    return [0.0, max_s] + [rng.uniform(0.0, max_s) for _ in range(n - 2)]
