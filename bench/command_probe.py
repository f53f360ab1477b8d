"""Records every /cmd_vel Twist with its receipt time, and turns toggles + commands into end-to-end latencies.

Method (see :mod:`bench.sensor_load`): the sensor process saves the wall-clock
publish time of the first JointState of each new wheel-velocity level (the
same time is in that message's ``header.stamp``). Between two toggles every
input is constant, so the command is constant once it has responded; the
steady command of a segment is the median of the commands received in its
second half. A toggle's latency is the receipt time (same host, same wall
clock) of the first command after the toggle that equals the new segment's
steady command and differs from the previous one. Toggles whose two segments
give the same command (the policy saturated) are not counted. The figure
includes everything a real robot would see: DDS out of the sensor process,
deserialisation and ingest, waiting for the next tick (up to one period),
fusion, inference, publish and DDS back.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np


class CommandProbe:
    """Subscribes to /cmd_vel on ``domain_id``; keeps (receipt wall ns, linear.x, angular.z) in preallocated arrays."""

    def __init__(self, domain_id: int, capacity: int = 1 << 18) -> None:
        from edgepilot.daemon.transport.dds.participant import DdsTransport

        self.t_ns = np.zeros(capacity, np.int64)
        self.vx = np.zeros(capacity)
        self.wz = np.zeros(capacity)
        self.n = 0
        self._lock = threading.Lock()
        self.transport = DdsTransport(domain_id)
        self.transport.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", self._on)

    def _on(self, msg) -> None:  # type: ignore[no-untyped-def]
        t = time.time_ns()
        with self._lock:
            i = self.n
            if i < self.t_ns.size:
                self.t_ns[i] = t
                self.vx[i] = msg.linear.x
                self.wz[i] = msg.angular.z
                self.n = i + 1

    def first_nonzero_ns(self) -> int:
        with self._lock:
            n = self.n
            nz = np.flatnonzero((self.vx[:n] != 0) | (self.wz[:n] != 0))
            return int(self.t_ns[nz[0]]) if nz.size else -1

    def close(self) -> None:
        self.transport.close()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        return self.t_ns[:n].copy(), np.stack([self.vx[:n], self.wz[:n]], axis=1)


def latencies_ns(toggles_ns: np.ndarray, cmd_t_ns: np.ndarray, cmds: np.ndarray, skip_before_ns: int,
                 tol: float = 1e-4) -> np.ndarray:
    """One latency per usable toggle (module docstring); ``skip_before_ns`` drops toggles during start-up."""
    out = []
    bounds = list(toggles_ns) + [cmd_t_ns[-1] + 1 if cmd_t_ns.size else 0]
    steady = []
    for k in range(len(toggles_ns)):
        a, b = bounds[k], bounds[k + 1]
        mid = a + (b - a) // 2
        sel = (cmd_t_ns >= mid) & (cmd_t_ns < b)
        steady.append(np.median(cmds[sel], axis=0) if sel.any() else None)
    for k in range(1, len(toggles_ns)):
        t0 = toggles_ns[k]
        if t0 < skip_before_ns or steady[k] is None or steady[k - 1] is None:
            continue
        if np.max(np.abs(steady[k] - steady[k - 1])) < 1e-3:
            continue
        sel = np.flatnonzero((cmd_t_ns >= t0) & (cmd_t_ns < bounds[k + 1]))
        for i in sel:
            c = cmds[i]
            if np.max(np.abs(c - steady[k])) <= tol and np.max(np.abs(c - steady[k - 1])) > 1e-3:
                out.append(cmd_t_ns[i] - t0)
                break
    return np.asarray(out, np.int64)


def main(argv: list[str] | None = None) -> int:
    """The probe as a process of its own, for the loop benchmark: records until SIGTERM, then saves.

    It stands where a robot's motor driver would, so it runs at SCHED_FIFO ``--rt-priority`` where permitted
    (set before its DDS threads exist, so they inherit it): its own scheduling on a busy 2-core machine is not
    charged to the system under test, and every system is measured through the same probe. Prints "ready"
    once subscribed; writes ``--out`` (.npz: t_ns, cmds) and exits 0 on SIGTERM.
    """
    p = argparse.ArgumentParser(description="record /cmd_vel receipt times (bench)")
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rt-priority", type=int, default=None)
    a = p.parse_args(argv)
    sched = "normal"
    if a.rt_priority is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(a.rt_priority))
            sched = f"SCHED_FIFO {a.rt_priority}"
        except (PermissionError, OSError) as err:
            sched = f"refused: {err}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    probe = CommandProbe(a.domain_id)
    print(f"ready {sched}", flush=True)
    stop.wait()
    probe.close()
    t, cmds = probe.arrays()
    np.savez(a.out, t_ns=t, cmds=cmds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
