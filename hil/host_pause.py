"""Host pauses: stretches of time in which nothing on this machine ran, seen by a watcher process the rig starts.

Why the rig needs it: it runs on shared virtual machines (this one is a Firecracker guest; see the steal column
of /proc/stat) whose host can deschedule the whole guest for tens of milliseconds. The daemon then rightly sees
its loop stall and stops the robot, and its stall supervisor, though above the loop, was paused with it: both
report the stall late and together (seen once in a full run of the fault matrix: "loop stalled (60.8 ms since
last tick)" from a supervisor that polls at 500 Hz, tick lateness 41 ms, in a run whose other ticks were at most
0.5 ms late). That stop is the host's, not a false stop of the daemon.

How it is told apart: a process at a real-time priority above every part of the daemon (its supervisor runs at
loop_priority + 1 = 21; this one at 90), free to run on any CPU, sleeps ``period_s`` at a time. When it wakes
more than ``pause_s`` late, no CPU was available even to it, which on this machine means the host took them.
A daemon that stalls on its own (a spinning or blocked loop) leaves this process running on time, so such a
stall is never excused. Where real-time priority is refused the watcher is not started and nothing is excused:
an ordinary process can be late for ordinary reasons.

    python -m edgepilot.hil.host_pause [--priority 90] [--period-s 0.002] [--pause-s 0.010]

prints ``gap START END`` (CLOCK_MONOTONIC seconds, the same clock as the rig's) for each pause, flushed at once.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

#: Above the daemon's whole stack (example profile: supervisor 21, loop 20), below the kernel's own threads (99).
WATCHER_PRIORITY = 90


class HostPauseWatcher:
    """Runs the watcher process for the length of a scenario and collects its pauses (monotonic s, start/end)."""

    def __init__(self, priority: int = WATCHER_PRIORITY, period_s: float = 0.002, pause_s: float = 0.010) -> None:
        self.args = ["--priority", str(priority), "--period-s", str(period_s), "--pause-s", str(pause_s)]
        self.pause_s = pause_s
        self.proc: subprocess.Popen[str] | None = None
        #: What the watcher said about itself: "watching ..." or why it is not.
        self.status = "not started"

    def start(self, timeout_s: float = 10.0) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", "edgepilot.hil.host_pause", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()  # "watching ..." or "refused ..." (then it exits)
        self.status = first or f"watcher exited ({self.proc.wait(timeout=timeout_s)})"
        if not first.startswith("watching"):
            self.proc.wait(timeout=timeout_s)
            self.proc = None
        return self.status

    @property
    def watching(self) -> bool:
        return self.status.startswith("watching")

    def stop(self) -> list[tuple[float, float]]:
        """Stop the watcher; the pauses it saw, in order."""
        if self.proc is None:
            return []
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        self.proc = None
        gaps = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "gap":
                gaps.append((float(parts[1]), float(parts[2])))
        return gaps


def watch(priority: int, period_s: float, pause_s: float) -> int:
    import os

    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError) as err:
        print(f"refused: no SCHED_FIFO {priority} ({type(err).__name__}: {err}); host pauses not watched", flush=True)
        return 3
    running = True

    def _stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    print(f"watching at SCHED_FIFO {priority}, every {period_s * 1e3:g} ms, pauses over {pause_s * 1e3:g} ms",
          flush=True)
    now = time.monotonic
    sleep = time.sleep
    while running:
        t = now()
        sleep(period_s)
        woke = now()
        if woke - t - period_s > pause_s:
            print(f"gap {t + period_s:.6f} {woke:.6f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priority", type=int, default=WATCHER_PRIORITY)
    p.add_argument("--period-s", type=float, default=0.002)
    p.add_argument("--pause-s", type=float, default=0.010)
    a = p.parse_args(argv)
    return watch(a.priority, a.period_s, a.pause_s)


if __name__ == "__main__":
    sys.exit(main())
