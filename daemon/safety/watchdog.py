"""In-loop fault evaluation: which faults are active this tick, and may a non-zero command go out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterable, TextIO

import numpy as np

from edgepilot.daemon.telemetry.journal_logging import fault_fields, logger

_count_nonzero = np.count_nonzero
_not_equal = np.not_equal

GLOBAL_FAULTS = ("loop_stall", "nonfinite_observation", "nonfinite_action", "inference_error", "supervisor_lost",
                 "command_sender", "detector")
# Index k of a stream's fault ids is kind k. frozen, out_of_range, stamp and rate come from the checks a profile
# turns on per stream (daemon/streams/integrity.py).
STREAM_FAULT_KINDS = ("missing", "stale", "nonfinite", "frozen", "out_of_range", "stamp", "rate", "second_publisher")


@dataclass
class FaultEvent:
    """One fault episode: raised and (if it cleared) cleared, seconds since the daemon started."""

    fault: str
    tick: int
    raised_s: float
    cleared_s: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"fault": self.fault, "tick": self.tick, "raised_s": round(self.raised_s, 4),
                "cleared_s": None if self.cleared_s is None else round(self.cleared_s, 4), "detail": self.detail}


@dataclass
class _Ids:
    names: list[str] = field(default_factory=list)

    def add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1


class Watchdog:
    """Decides, every tick, whether the policy's command may be published.

    Faults are named ``missing:<stream>``, ``stale:<stream>``,
    ``nonfinite:<stream>`` (and ``frozen:``, ``out_of_range:``, ``stamp:``,
    ``rate:<stream>`` where the profile sets those limits) and the global ones in ``GLOBAL_FAULTS``. The loop
    calls :meth:`begin_tick`, :meth:`raise_fault` for every condition it finds
    and then :meth:`end_tick`, which returns True only when no fault is active,
    nothing asks for a hold, and at least ``recovery_ticks`` healthy ticks have
    passed since the last fault (or since start: the robot never moves on its
    first tick). Otherwise the loop publishes zero velocity.

    Fault flags live in a preallocated boolean array; only a fault *transition*
    allocates (an event record and one log line), which on a healthy robot is
    never.
    """

    def __init__(self, stream_names: Iterable[str], recovery_ticks: int, t0_ns: int | None = None, log: TextIO | None = None) -> None:
        ids = _Ids()
        self.stream_fault_ids: dict[str, tuple[int, ...]] = {}
        for s in stream_names:
            self.stream_fault_ids[s] = tuple(ids.add(f"{kind}:{s}") for kind in STREAM_FAULT_KINDS)
        self.global_ids = {name: ids.add(name) for name in GLOBAL_FAULTS}
        self.names = ids.names
        self.active = np.zeros(len(self.names), dtype=bool)
        self._previous = np.zeros(len(self.names), dtype=bool)
        self._changed = np.zeros(len(self.names), dtype=bool)
        self._open: list[FaultEvent | None] = [None] * len(self.names)
        self._detail = [""] * len(self.names)
        self.recovery_ticks = recovery_ticks
        self.healthy_streak = 0
        self.events: list[FaultEvent] = []
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns
        self._log = log  # a text stream (tests), else the ``edgepilot`` logger with structured fields
        self.faulted = False

    def id_of(self, name: str) -> int:
        return self.names.index(name)

    def begin_tick(self) -> None:
        self.active.fill(False)

    def raise_fault(self, fault_id: int, detail: str = "") -> None:
        self.active[fault_id] = True
        if detail:
            self._detail[fault_id] = detail

    def end_tick(self, now_ns: int, tick: int, hold: bool = False) -> bool:
        """Close the tick; True if the policy's command may be published."""
        active = self.active
        # count_nonzero into a preallocated mask, not array_equal/any: those are Python-level and build objects.
        if _count_nonzero(_not_equal(active, self._previous, out=self._changed)):
            self._record_transitions(now_ns, tick)
            np.copyto(self._previous, active)
        self.faulted = bool(_count_nonzero(active))
        if self.faulted or hold:
            self.healthy_streak = 0
            return False
        self.healthy_streak += 1
        return self.healthy_streak >= self.recovery_ticks

    def _record_transitions(self, now_ns: int, tick: int) -> None:
        t = (now_ns - self.t0_ns) * 1e-9
        for i in np.flatnonzero(self.active != self._previous):
            name = self.names[i]
            if self.active[i]:
                ev = FaultEvent(name, tick, t, detail=self._detail[i])
                self._open[i] = ev
                self.events.append(ev)
                self._emit(logging.WARNING, f"FAULT {name} at t={t:.3f}s tick={tick} {self._detail[i]} -> zero velocity",
                           fault_fields(name, int(tick), "fault_raised"))
            else:
                ev = self._open[i]
                if ev is not None:
                    ev.cleared_s = t
                self._open[i] = None
                self._emit(logging.INFO, f"cleared {name} at t={t:.3f}s tick={tick}; commands resume after "
                           f"{self.recovery_ticks} healthy ticks", fault_fields(name, int(tick), "fault_cleared"))

    def _emit(self, level: int, text: str, fields: dict[str, object]) -> None:
        if self._log is not None:
            print("edgepilot: " + text, file=self._log, flush=True)
        else:
            logger.log(level, text, extra=fields)

    def active_names(self) -> list[str]:
        return [self.names[i] for i in np.flatnonzero(self.active)]

    def settled_names(self) -> list[str]:
        """Faults active as of the last completed tick; safe to read from another thread mid-tick, unlike ``active``."""
        return [self.names[i] for i in np.flatnonzero(self._previous)]

    def fault_names_seen(self) -> list[str]:
        seen: list[str] = []
        for ev in self.events:
            if ev.fault not in seen:
                seen.append(ev.fault)
        return seen
