"""Real-time scheduling of the daemon's parts (profile ``realtime``), applied where the system permits it.

Priorities (SCHED_FIFO, higher runs first), from the profile's two numbers:

* stall supervisor process: ``loop_priority + 1``. It is the safety net for a loop
  that stopped ticking, including one spinning at its own real-time priority,
  so nothing of the daemon may starve it. It sleeps between polls.
* control loop thread: ``loop_priority``; its sleeps end on time however busy
  the machine is.
* the status and diagnostics threads of the loop's process: ``loop_priority -
  1``. They hold the loop's interpreter lock while they work; at the normal
  policy a busy machine could preempt one of them mid-work and leave the loop
  waiting for the lock (priority inversion). The same for the DDS threads
  that run the fault-injection topic's callback (``--enable-fault-injection``,
  with sensors ingested in their own processes), and for the command sender.
* proprioceptive ingest process (joint states, IMU, twists;
  daemon/streams/ingest_process.py): ``ingest_priority``, below the loop. A sensor
  message then reaches its ring within ~0.1-0.4 ms even while a camera frame
  is being decoded (bench/loop_under_load.py).
* image ingest processes: always ordinary (SCHED_OTHER). Decoding a megabyte
  frame must never hold a core against the streams above.

CPUs (``loop_cpus``, ``ingest_cpus``): the loop's thread and its command sender
on their own cores, the ingest processes on others. Pinned, the loop keeps its
caches and never migrates; on this 2-core machine under the benchmark's load
that took the tick's overhead above inference from ~130 to ~95 us
(bench/loop_under_load.py). The command sender shares the loop's core one
priority below it, so waking it is a local enqueue and it sends while the loop
sleeps (daemon/action/command_sender.py). Unpinned threads (supervisor, status,
diagnostics) stay free to run anywhere: the supervisor must never wait for a
busy core. On a robot, keep other work off the loop's cores too (``isolcpus``
or systemd's ``CPUAffinity=`` for the rest of the system).

Refusals (no CAP_SYS_NICE, RLIMIT_RTPRIO 0, a container without the
capability) are not errors: the daemon runs as before and says what was
refused, in the log and in the run summary (``realtime``); ``edgepilot
doctor`` explains how to grant it (systemd/edgepilot.service.d/realtime.conf.example).
Everything here acts on the calling thread only (Linux applies
``sched_setscheduler(0, ...)`` to the calling thread).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any


def set_fifo(priority: int | None, tid: int = 0) -> str:
    """SCHED_FIFO at ``priority`` for thread ``tid`` (0: the calling one); what happened, in words. None: left
    alone."""
    if priority is None:
        return "not requested"
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError, AttributeError) as err:
        return f"refused ({type(err).__name__}: {err}); running at the normal policy"
    return f"SCHED_FIFO {priority}"


def set_affinity(cpus: tuple[int, ...] | None) -> str:
    """Pin the calling thread to ``cpus``; what happened, in words. None: left alone.

    Needs no privilege; refused only when none of the CPUs exists or is allowed to this process (a cpuset, systemd's
    ``CPUAffinity=``). Where only some exist, the thread runs on those, and the report says which.
    """
    if cpus is None:
        return "not requested"
    try:
        os.sched_setaffinity(0, cpus)
        got = sorted(os.sched_getaffinity(0))
    except (OSError, AttributeError) as err:
        return f"CPUs {list(cpus)} refused ({type(err).__name__}: {err}); running on any CPU"
    if got != list(cpus):
        return f"CPUs {got} (of {list(cpus)}: the others are not online or not allowed)"
    return f"CPUs {got}"


def set_normal() -> str:
    """SCHED_OTHER for the calling thread (undoes an inherited real-time policy; always permitted)."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            return "SCHED_OTHER (inherited real-time policy dropped)"
    except (PermissionError, OSError, AttributeError) as err:
        return f"unchanged ({type(err).__name__}: {err})"
    return "SCHED_OTHER"


class LoopThreadTuning:
    """What the loop's thread changes for the length of a run, and puts back after it.

    ``gc_freeze``: everything allocated during start-up moves to the permanent
    generation, so the collections that later garbage still triggers do not
    traverse it on the loop's time. ``switch_interval_s``: the longest a thread
    waiting for the interpreter lock waits for its holder (default 5 ms); the
    loop shares its process with the status and diagnostics threads.
    """

    def __init__(self, loop_priority: int | None, gc_freeze: bool, switch_interval_s: float,
                 loop_cpus: tuple[int, ...] | None = None) -> None:
        self.loop_priority = loop_priority
        self.loop_cpus = loop_cpus
        self.gc_freeze = gc_freeze
        self.switch_interval_s = switch_interval_s
        self.report: dict[str, Any] = {}
        self._saved: tuple[int, int] | None = None
        self._saved_cpus: set[int] = set()
        self._saved_interval = sys.getswitchinterval()

    def apply(self) -> dict[str, Any]:
        self._saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(self.switch_interval_s)
        if self.gc_freeze:
            gc.collect()
            gc.freeze()
        try:
            self._saved = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        except (OSError, AttributeError):
            self._saved = None
        self._saved_cpus = os.sched_getaffinity(0)
        self.report = {"loop": set_fifo(self.loop_priority), "loop_cpus": set_affinity(self.loop_cpus),
                       "switch_interval_us": round(self.switch_interval_s * 1e6),
                       "gc": f"frozen {gc.get_freeze_count()} objects" if self.gc_freeze else "not frozen"}
        return self.report

    def restore(self) -> None:
        """Back to the thread's policy and the interpreter's settings from before :meth:`apply`."""
        sys.setswitchinterval(self._saved_interval)
        if self.gc_freeze:
            gc.unfreeze()
        if self.loop_cpus is not None:
            try:
                os.sched_setaffinity(0, self._saved_cpus)
            except OSError:
                pass
        if self._saved is not None and self.loop_priority is not None:
            policy, prio = self._saved
            try:
                os.sched_setscheduler(0, policy, os.sched_param(prio))
            except (PermissionError, OSError):
                pass
