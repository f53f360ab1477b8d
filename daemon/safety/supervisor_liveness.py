"""Whether the stall supervisor process is still able to stop the robot, asked by the loop every tick.

Two signals, either one means lost:

* the process itself: ``waitid(P_PID, pid, WEXITED | WSTOPPED | WNOHANG | WNOWAIT)`` on the supervisor (the
  daemon's child) reports it the moment it has died (SIGKILL, a crash) or been stopped (SIGSTOP), so the loop
  zeroes on its next tick. ``WNOWAIT`` leaves the state for :class:`subprocess.Popen` to reap; a child's pid cannot
  be reused before it is reaped, so the pid always names the supervisor.
* its poll stamp in the heartbeat (:data:`~.heartbeat.SUPERVISOR_POLL_NS`): a supervisor that is running but not
  polling (starved of CPU, stuck in a DDS write) is lost once the stamp is older than ``poll_silence_s``.

Per call: one non-blocking system call and one read of the shared array; no lock, no array or container built
(``waitid`` returns None while the child is running).
"""

from __future__ import annotations

import os

import numpy as np

from edgepilot.daemon.safety import heartbeat as hb

_FLAGS = os.WEXITED | os.WSTOPPED | os.WNOHANG | os.WNOWAIT


class SupervisorLiveness:
    """Liveness of the stall supervisor child ``pid``; ``beat`` is the heartbeat array (monotonic ns stamps).

    :meth:`lost` takes the host's monotonic clock in ns (the clock the supervisor stamps with).
    """

    def __init__(self, pid: int, beat: np.ndarray, poll_silence_s: float) -> None:
        self.pid = pid
        self._beat = beat
        self._silence_ns = int(poll_silence_s * 1e9)

    def lost(self, now_ns: int) -> bool:
        """True when the supervisor has exited or is stopped, or has not polled for ``poll_silence_s``."""
        try:
            if os.waitid(os.P_PID, self.pid, _FLAGS) is not None:
                return True  # exited or stopped: it cannot publish
        except ChildProcessError:
            return True  # already reaped: gone
        return now_ns - self._beat.item(hb.SUPERVISOR_POLL_NS) > self._silence_ns
