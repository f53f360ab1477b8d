"""The ``detector`` fault: a detector the control depends on (``control_depends_on: true``) is failing or stale.

Raised when the detector's newest attempt failed (an inference error, non-finite outputs, a publish error), when
it has detected on no frame for ``max_age_s`` (a stale or frozen camera, a hung model), or when it has detected
on none by the end of the start-up grace. Detectors the control does not depend on get no check: their faults
are counted in the summary and /diagnostics only (daemon/detection/).

Hot path: runs every tick on the loop thread. It reads two attributes the detector's thread replaces whole
(``failing``, ``last_ok_ns``), so no lock; the fault details are made once, here.
"""

from __future__ import annotations

from typing import Any

from edgepilot.daemon.safety.watchdog import Watchdog

DETECTOR_FAULT = "detector"


class DetectorCheck:
    """``check(now_ns)``: raises ``detector`` for one detector; True always (only the command is withheld)."""

    def __init__(self, watchdog: Watchdog, name: str, worker: Any, max_age_s: float, startup_grace_s: float,
                 tick_state: Any) -> None:
        self._raise = watchdog.raise_fault
        self._id = watchdog.global_ids[DETECTOR_FAULT]
        self._worker = worker
        self._max_age_ns = int(max_age_s * 1e9)
        self._grace_ns = int(startup_grace_s * 1e9)
        self._state = tick_state
        self._failing = f"{name}: detection failed (summary detectors.{name}.last_error says why)"
        self._stale = f"{name}: no frame detected for over {max_age_s:g} s (stale camera or hung model)"
        self._none = f"{name}: no frame detected since start"

    def check(self, now_ns: int) -> bool:
        w = self._worker
        if w.failing:
            self._raise(self._id, self._failing)
            return True
        last = w.last_ok_ns
        if last < 0:
            if now_ns - self._state.started_ns >= self._grace_ns:
                self._raise(self._id, self._none)
        elif now_ns - last > self._max_age_ns:
            self._raise(self._id, self._stale)
        return True
