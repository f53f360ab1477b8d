"""Host pauses: stretches in which the hypervisor held a CPU of this virtual machine, seen by watcher processes.

Why the rig needs it: it runs on shared virtual machines (this one is a Firecracker guest; see the steal column
of /proc/stat) whose host can deschedule a virtual CPU, or all of them, for tens of milliseconds. The daemon
then rightly sees its loop stall and stops the robot, and its stall supervisor, though above the loop and free
to use any CPU, is paused with it: both report the stall late and together (seen once in a full run of the fault matrix: "loop
stalled (60.8 ms since last tick)" from a supervisor that polls at 500 Hz, tick lateness 41 ms, in a run whose
other ticks were at most 0.5 ms late). That stop is the host's, not a false stop of the daemon.

How it is told apart: one watcher process per CPU, pinned to it, at a real-time priority above every part of
the daemon (its supervisor runs at loop_priority + 1 = 21; these at 90), sleeps ``period_s`` at a time and
reports each wake-up more than ``pause_s`` late, with how much the CPU's steal time (/proc/stat: time the
hypervisor ran something else while this virtual CPU wanted to run) grew meanwhile. The host can hold one
virtual CPU while the other runs, and whatever waits on that CPU waits with it (the pinned loop; the
supervisor, when it is woken there). A late wake-up is the host's only when steal accounts for at least
``STOLEN_FRACTION`` of it; a late wake-up without steal has a cause inside this machine (a long system call on
that CPU: this kernel is not fully preemptible) and is not excused, nor is a stall of the daemon's own, which
leaves the watchers on time. Where real-time priority is refused no watcher runs and nothing is excused: an
ordinary process can be late for ordinary reasons.

    python -m edgepilot.hil.host_pause --cpu N [--priority 90] [--period-s 0.002] [--pause-s 0.010]

prints ``gap START END STEAL`` (CLOCK_MONOTONIC seconds, the same clock as the rig's; the CPU's steal time in
seconds over it) for each late wake-up, flushed at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

#: A gap is the host's when the CPU's steal time grew by at least this fraction of it meanwhile (steal is counted
#: in 10 ms ticks, so a 13 ms gap needs one tick, a 40 ms one two).
STOLEN_FRACTION = 0.5
#: Above the daemon's whole stack (example profile: supervisor 21, loop 20), below the kernel's own threads (99).
WATCHER_PRIORITY = 90


class HostPauseWatcher:
    """Runs a watcher process on each CPU for the length of a scenario; the machine's pauses (monotonic s)."""

    def __init__(self, priority: int = WATCHER_PRIORITY, period_s: float = 0.002, pause_s: float = 0.010) -> None:
        self.priority = priority
        self.period_s = period_s
        self.pause_s = pause_s
        self.procs: list[subprocess.Popen[str]] = []
        #: Late wake-ups the host's steal time does not account for (a long system call on that CPU, say): not
        #: pauses, kept to be reported.
        self.unexplained: list[tuple[float, float]] = []
        #: What the watchers said about themselves: "watching ..." or why not.
        self.status = "not started"

    def start(self, timeout_s: float = 10.0) -> str:
        cpus = sorted(os.sched_getaffinity(0))
        args = ["--priority", str(self.priority), "--period-s", str(self.period_s), "--pause-s", str(self.pause_s)]
        for cpu in cpus:
            proc = subprocess.Popen([sys.executable, "-m", "edgepilot.hil.host_pause", "--cpu", str(cpu), *args],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
            assert proc.stdout is not None
            first = proc.stdout.readline().strip()  # "watching ..." or "refused ..." (then it exits)
            if not first.startswith("watching"):
                proc.wait(timeout=timeout_s)
                self.stop()
                self.status = first or f"the watcher for CPU {cpu} exited ({proc.returncode})"
                return self.status
            self.procs.append(proc)
        self.status = (f"watching CPUs {cpus} at SCHED_FIFO {self.priority}, every {self.period_s * 1e3:g} ms; a pause: "
                       f"over {self.pause_s * 1e3:g} ms late, at least {STOLEN_FRACTION:g} of it stolen by the host")
        return self.status

    @property
    def watching(self) -> bool:
        return self.status.startswith("watching")

    def stop(self) -> list[tuple[float, float]]:
        """Stop the watchers; the stretches in which the host held a CPU (see the module docstring), in order."""
        lines: list[str] = []
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=10)
            lines += out.splitlines()
        self.procs = []
        stolen, unexplained = classify_gaps(lines)
        self.unexplained += unexplained
        return stolen


def classify_gaps(lines: list[str]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Watcher output to (the host's pauses, late wake-ups steal does not account for), each in order."""
    stolen: list[tuple[float, float]] = []
    unexplained: list[tuple[float, float]] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or parts[0] != "gap":
            continue
        start, end, steal_s = float(parts[1]), float(parts[2]), float(parts[3])
        (stolen if steal_s >= STOLEN_FRACTION * (end - start) else unexplained).append((start, end))
    return sorted(stolen), sorted(unexplained)


class StealClock:
    """One CPU's steal time (s): how long the hypervisor ran something else while this virtual CPU wanted to run,
    from /proc/stat (kept in clock ticks of 1/SC_CLK_TCK s)."""

    def __init__(self, cpu: int) -> None:
        self._fd = os.open("/proc/stat", os.O_RDONLY)
        self._prefix = f"cpu{cpu} ".encode()
        self._tick_s = 1.0 / os.sysconf("SC_CLK_TCK")

    def read(self) -> float:
        for line in os.pread(self._fd, 65536, 0).split(b"\n"):
            if line.startswith(self._prefix):
                return int(line.split()[8]) * self._tick_s  # cpuN user nice system idle iowait irq softirq steal
        return 0.0


#: How often (wake-ups) a watcher reads its CPU's steal time while nothing happens: the "before" of a gap.
STEAL_READ_EVERY = 10


def watch(cpu: int, priority: int, period_s: float, pause_s: float) -> int:
    from edgepilot.daemon.timing.realtime import set_affinity, set_fifo

    pinned, said = set_affinity((cpu,)), set_fifo(priority)
    if pinned != f"CPUs [{cpu}]" or not said.startswith("SCHED_FIFO"):
        print(f"refused: no SCHED_FIFO {priority} on CPU {cpu} ({pinned}; {said}); host pauses not watched", flush=True)
        return 3
    running = True

    def _stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    steal = StealClock(cpu)
    print(f"watching CPU {cpu} at SCHED_FIFO {priority}", flush=True)
    now = time.monotonic
    sleep = time.sleep
    before = steal.read()
    k = 0
    while running:
        t = now()
        sleep(period_s)
        woke = now()
        if woke - t - period_s > pause_s:
            after = steal.read()
            print(f"gap {t + period_s:.6f} {woke:.6f} {after - before:.3f}", flush=True)
            before = after
        k += 1
        if k % STEAL_READ_EVERY == 0:
            before = steal.read()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu", type=int, required=True)
    p.add_argument("--priority", type=int, default=WATCHER_PRIORITY)
    p.add_argument("--period-s", type=float, default=0.002)
    p.add_argument("--pause-s", type=float, default=0.010)
    a = p.parse_args(argv)
    return watch(a.cpu, a.priority, a.period_s, a.pause_s)


if __name__ == "__main__":
    sys.exit(main())
