"""The rig's host-pause watchers (hil/host_pause.py): the classification of late wake-ups, and real watcher
processes. A stall inside this machine is imitated by stopping a watcher (SIGSTOP): it wakes far too late with
no steal time, which is exactly what must not be excused. (A real pause by the hypervisor cannot be made on
demand; its sign, the CPU's steal time growing over the gap, is read from /proc/stat like any other field.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from edgepilot.hil.host_pause import HostPauseWatcher, StealClock, classify_gaps


def test_a_late_wake_up_is_the_hosts_only_when_steal_accounts_for_it() -> None:
    lines = ["watching CPU 0 at SCHED_FIFO 90",
             "gap 2.000 2.040 0.030",   # 40 ms late, 30 ms stolen: the host
             "gap 1.000 1.026 0.000",   # 26 ms late, nothing stolen: inside this machine
             "gap 3.000 3.013 0.010",   # 13 ms, one 10 ms tick stolen: the host (steal comes in ticks)
             "gap 4.000 4.050 0.010",   # 50 ms, one tick stolen: mostly not the host
             "garbage"]
    stolen, unexplained = classify_gaps(lines)
    assert stolen == [(2.0, 2.04), (3.0, 3.013)]
    assert unexplained == [(1.0, 1.026), (4.0, 4.05)]


def test_steal_clock_reads_this_cpus_steal_time() -> None:
    cpu = min(os.sched_getaffinity(0))
    clock = StealClock(cpu)
    with open("/proc/stat") as f:
        line = next(x for x in f if x.startswith(f"cpu{cpu} "))
    expected = int(line.split()[8]) / os.sysconf("SC_CLK_TCK")
    first = clock.read()
    assert expected <= first <= expected + 1.0 and clock.read() >= first


def test_a_watcher_stopped_inside_the_machine_is_not_a_host_pause() -> None:
    w = HostPauseWatcher()
    said = w.start()
    if not w.watching:  # no real-time priority here: not watched, so nothing can be excused
        assert said.startswith("refused: no SCHED_FIFO 90") and w.stop() == []
        return
    cpus = sorted(os.sched_getaffinity(0))
    assert said.startswith(f"watching CPUs {cpus} at SCHED_FIFO 90") and len(w.procs) == len(cpus)
    time.sleep(0.1)
    pid = w.procs[0].pid
    os.kill(pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    time.sleep(0.06)
    os.kill(pid, signal.SIGCONT)
    t_cont = time.monotonic()
    time.sleep(0.1)
    pauses = w.stop()
    late = [(a, b) for a, b in w.unexplained if a <= t_cont and b >= t_stop]
    assert len(late) == 1, (w.unexplained, t_stop, t_cont)  # seen, and kept for the report
    start, end = late[0]
    assert t_stop - 0.01 <= start <= t_stop + 0.01 and t_cont - 0.001 <= end <= t_cont + 0.02
    assert not [(a, b) for a, b in pauses if a <= t_cont and b >= t_stop], pauses  # and not excused


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and util-linux's setpriv to drop CAP_SYS_NICE from a child")
def test_without_real_time_priority_nothing_is_watched() -> None:
    """Without CAP_SYS_NICE (and RLIMIT_RTPRIO 0) the first watcher is refused: none runs, nothing is excused."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0)); "
            "from edgepilot.hil.host_pause import HostPauseWatcher as W; w = W(); print(w.start()); "
            "print(w.watching, w.procs, w.stop())")
    r = subprocess.run(["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr[-2000:]
    first, second = r.stdout.strip().splitlines()
    assert first.startswith("refused: no SCHED_FIFO 90 on CPU") and second == "False [] []", r.stdout
