"""The control tick's fault sources, each behind one small interface: ``check(now_ns) -> bool``.

A check raises its watchdog faults (``Watchdog.raise_fault``) and returns False only when this tick's inputs
cannot be used for inference (a required stream missing, stale or non-finite); checks that only forbid the
command (a late tick, a lost supervisor) return True, so inference still runs and its timing is still measured,
exactly as the loop did before it was split into checks. The tick runs every check every tick, none skipped.

Hot path: called once per tick on the loop thread. No iterator objects, no closures, no arrays built: loops
are ``while k < n`` over lists made at construction, numpy elements are read with ``.item()``.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np

from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.safety.watchdog import Watchdog


class FaultCheck(Protocol):
    def check(self, now_ns: int) -> bool:
        """Raise this tick's faults; False if the tick's inputs must not reach inference."""


class TickState:
    """What the checks know of the tick: its index, the gap since the previous one, the start and the hold."""

    __slots__ = ("ticks", "gap_ns", "prev_ns", "started_ns", "hold")

    def __init__(self) -> None:
        self.ticks = 0
        self.gap_ns = 0
        self.prev_ns = 0
        self.started_ns = 0
        self.hold = False  # a stream has not arrived yet within the start-up grace: zero, but not a fault


class StreamChecks:
    """Refreshes every stream's snapshot, then: missing, stale, non-finite and the profile's integrity checks."""

    def __init__(self, profile: Any, watchdog: Watchdog, snapshots: Sequence[Any], state: TickState) -> None:
        self._snaps = list(snapshots)
        self._n = len(self._snaps)
        self._ids = [watchdog.stream_fault_ids[s.name] for s in self._snaps]
        self._required = [profile.streams[s.name].required for s in self._snaps]
        self._max_age = [profile.streams[s.name].max_age_s for s in self._snaps]
        self._integrity = [s.ingest.integrity for s in self._snaps]  # frozen/out_of_range/stamp/rate, or None
        self._raise = watchdog.raise_fault
        self._grace_ns = int(profile.watchdog.startup_grace_s * 1e9)
        self._state = state

    def check(self, now_ns: int) -> bool:
        in_grace = now_ns - self._state.started_ns < self._grace_ns
        # One name per line: a multiple assignment of five builds a tuple every tick.
        snaps = self._snaps
        ids_of = self._ids
        required = self._required
        max_age = self._max_age
        integrity = self._integrity
        raise_fault = self._raise
        hold = False
        inputs_ok = True
        n = self._n
        k = 0
        while k < n:  # not `for ... in`: an iterator object per tick is an allocation (bench/fusion_cost.py)
            s = snaps[k]
            s.refresh(now_ns)
            ids = ids_of[k]
            if s.stamp_ns < 0:
                if in_grace:
                    hold = True
                elif required[k]:
                    raise_fault(ids[0], s.ingest.missing_detail())
                inputs_ok = inputs_ok and not required[k]
            elif s.age_s > max_age[k]:
                if required[k]:
                    raise_fault(ids[1])
                    inputs_ok = False
            elif not s.finite:
                raise_fault(ids[2])
                inputs_ok = False
            integ = integrity[k]
            if integ is not None and integ.check(s, now_ns, s.age_s <= max_age[k], raise_fault, ids):
                inputs_ok = False
            k += 1
        self._state.hold = hold
        return inputs_ok


class LoopStallCheck:
    """Too long since the previous tick started (a stalled or frozen loop): its sensors and command are stale."""

    def __init__(self, watchdog: Watchdog, stall_timeout_s: float, state: TickState) -> None:
        self._wd = watchdog
        self._id = watchdog.global_ids["loop_stall"]
        self._stall_ns = int(stall_timeout_s * 1e9)
        self._state = state

    def check(self, now_ns: int) -> bool:
        st = self._state
        if st.ticks > 0 and st.gap_ns > self._stall_ns:
            self._wd.raise_fault(self._id, f"{st.gap_ns / 1e6:.1f} ms between ticks")
        return True


class TickOverrunCheck:
    """Frozen or stalled inside this very tick (SIGSTOP, a slow engine): its command is stale by now.

    Runs after inference; ``clock_ns`` is the loop's clock (the one ``now_ns`` comes from).
    """

    def __init__(self, watchdog: Watchdog, stall_timeout_s: float, clock_ns: Callable[[], int]) -> None:
        self._wd = watchdog
        self._id = watchdog.global_ids["loop_stall"]
        self._stall_ns = int(stall_timeout_s * 1e9)
        self._clock = clock_ns

    def check(self, now_ns: int) -> bool:
        if self._clock() - now_ns > self._stall_ns:
            self._wd.raise_fault(self._id, "tick overran the stall timeout")
        return True


class SupervisorCheck:
    """The stall supervisor has exited, stopped or stopped polling (daemon/safety/supervisor_liveness.py).

    ``liveness`` is None until the supervisor runs (and under replay, which has none). It is asked with the host
    time the loop stamped into the heartbeat for this tick: the supervisor knows only the host's clock.
    """

    def __init__(self, watchdog: Watchdog, beat: np.ndarray | None = None, liveness: Any = None) -> None:
        self._wd = watchdog
        self._id = watchdog.global_ids["supervisor_lost"]
        self.beat = beat
        self.liveness = liveness

    def check(self, now_ns: int) -> bool:
        liveness = self.liveness
        if liveness is not None and liveness.lost(self.beat.item(hb.LOOP_TICK_NS)):  # type: ignore[union-attr]
            self._wd.raise_fault(self._id)
        return True


class CommandSenderCheck:
    """The command sender thread (action.send_thread) has not sent the previous tick's command."""

    def __init__(self, watchdog: Watchdog, sender: Any) -> None:
        self._wd = watchdog
        self._id = watchdog.global_ids["command_sender"]
        self._sender = sender

    def check(self, now_ns: int) -> bool:
        sender = self._sender
        if sender.lagging():
            self._wd.raise_fault(self._id, sender.last_error or "the previous tick's command was not sent")
        return True
