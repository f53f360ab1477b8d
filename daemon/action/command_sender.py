"""Where a twist command leaves the daemon: a thread of its own does the DDS write (ros2_control's
RealtimePublisher pattern).

Why: a DDS write to a remote reader is a ``sendmsg`` through the kernel's
network stack, which also wakes the reader (an inter-processor interrupt
when that reader runs at a real-time priority on another core); measured on
the loop's thread under the benchmark's load it took ~45 us of a ~100 us
tick (bench/loop_under_load.py). Handed to this thread, the loop spends a
copy of six floats and one ``eventfd`` write.

Where it runs decides what it costs (daemon/timing/realtime.py): with
``realtime.loop_cpus`` it is pinned to the loop's core one priority below the
loop, so the hand-off wakes it on the same core without preempting the loop,
and it writes as soon as the loop sleeps, a few microseconds after the tick:
no latency measured on top (e2e p99 within run-to-run noise). Unpinned, it
wakes on another core and the command leaves ~50 us later (the wake-up and
the interpreter lock). On in the example profile; off by default.

Hand-off, without locks: the loop copies the command into :attr:`_next`
(six float64: numpy does not release the interpreter lock for a copy that
small, so the copy is atomic with respect to this thread's copy out), counts
it in :attr:`handed` and writes the eventfd; this thread blocks on the
eventfd (interpreter lock released), copies the newest command out and
publishes it, then sets :attr:`sent`. Commands are never queued: if the
thread is late it sends the newest one, as a robot wants.

Safety: the loop checks every tick that the previous tick's command was sent
(:meth:`lagging`). If not (this thread is stuck, or its writes fail), the
loop raises the ``command_sender`` fault and publishes zero itself, every
tick, synchronously, until the thread catches up; it also hands zero to this
thread, so what the thread sends when it resumes is zero. Shutdown stops the
thread first, then publishes zero directly. The stall supervisor is
unchanged (it watches the loop's heartbeat). Pinned below the loop on its
core, the thread runs only while the loop sleeps: a loop that overran every
period would starve it, trip :meth:`lagging` within two ticks and so publish
zero itself, the same end as any sustained overrun.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

import numpy as np

from edgepilot.daemon.timing.realtime import set_affinity, set_fifo


class CommandSender:
    """Publishes the newest handed command (6-vector: vx, vy, vz (m/s), wx, wy, wz (rad/s)) from its thread."""

    def __init__(self, publish: Callable[[np.ndarray], None], size: int = 6, priority: int | None = None,
                 cpus: tuple[int, ...] | None = None) -> None:
        self._publish = publish
        self._next = np.zeros(size)
        self._out = np.zeros(size)
        self.handed = 0
        self.sent = 0
        self.errors = 0
        self.last_error = ""
        self._priority = priority
        self._cpus = cpus
        #: How the thread's scheduling went (daemon/timing/realtime.py), once it has started.
        self.scheduling: dict[str, str] = {}
        self._fd = os.eventfd(0)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="edgepilot-command-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hand(self, command: np.ndarray) -> None:
        """The loop's side: make ``command`` the one to send, and wake the thread. No lock, no allocation."""
        np.copyto(self._next, command)
        self.handed += 1
        os.eventfd_write(self._fd, 1)

    def lagging(self) -> bool:
        """True when a command handed before the last one is still unsent (the thread is stuck or failing)."""
        return self.handed - self.sent > 1

    def _run(self) -> None:
        self.scheduling = {"cpus": set_affinity(self._cpus), "policy": set_fifo(self._priority)}
        fd = self._fd
        while True:
            os.eventfd_read(fd)  # blocks with the interpreter lock released; several hands wake it once
            while self.sent < self.handed:
                np.copyto(self._out, self._next)
                handed = self.handed
                try:
                    self._publish(self._out)
                except Exception as err:  # noqa: BLE001 - counted; the loop sees `sent` fall behind and takes over
                    self.errors += 1
                    self.last_error = f"{type(err).__name__}: {err}"
                    break
                self.sent = handed
                if not self._closing:
                    break  # a newer command handed meanwhile has written the eventfd: the next read returns at once
            if self._closing:
                return  # the last handed command went out (what the loop counted); the zeros follow

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread (after the command it may be sending); idempotent."""
        if self._closing:
            return
        self._closing = True
        os.eventfd_write(self._fd, 1)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            os.close(self._fd)
