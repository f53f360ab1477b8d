"""Sensor fault injection: what the robot's drivers publish when something breaks.

:class:`SensorFaults` is the set of switches (flipped from any thread while
the robot node runs); :class:`SensorFaultInjector` turns one clean reading
into the messages a broken driver or link would deliver. Faults of the
daemon's own process (SIGSTOP, SIGKILL) and inside it (engine errors, a
stalled loop) are not here: see :mod:`edgepilot.hil.daemon_process`.

Sensor fault kinds, per stream unless noted:

* ``stop``: nothing is published.
* ``freeze``: the reading taken when the fault began is re-published with
  fresh stamps (a driver stuck in a loop).
* ``nan`` / ``inf``: one field (default joint velocity, IMU angular velocity)
  becomes NaN / +Inf.
* ``out_of_range``: one value of a field set far outside physics
  (default 1000 rad/s wheel speed, 100 rad/s yaw rate).
* ``stale_stamps``: header stamps ``age_s`` in the past (old data re-sent).
* ``clock_jump``: every stream's header stamps shifted by ``offset_s`` (the
  sensor host's clock stepped).
* ``duplicate``: every message delivered twice.
* ``reorder``: pairs of messages delivered newest first.
* ``malformed``: one message in ``every`` broken (see
  :mod:`edgepilot.hil.sensor_messages` for the modes).
* ``delay_spike``: every reading taken during the spike arrives ``delay_s``
  late, stamps unchanged; readings after it queue behind the late ones and
  arrive in a burst when they are through (head-of-line blocking, as on a
  real link).
* ``rate_burst``: ``factor`` messages per reading, stamps spread over one
  period (a babbling driver).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .sensor_messages import Reading

SENSOR_FAULT_KINDS = ("stop", "freeze", "nan", "inf", "out_of_range", "stale_stamps", "clock_jump", "duplicate",
                      "reorder", "malformed", "delay_spike", "rate_burst")

#: Field each value fault writes by default, and the out-of-range value used.
DEFAULT_VALUE_FIELD = {"joint_states": "velocity", "imu": "angular_velocity"}
DEFAULT_OUT_OF_RANGE = {"joint_states": 1000.0, "imu": 100.0}


@dataclass
class SensorFaults:
    """Fault switches, flipped from another thread while the node runs. Stream names: joint_states, imu, camera.

    ``stopped`` and ``nan`` are sets of stream names (as they always were); the
    others map a stream to the fault's parameter. Units: seconds, the field's
    own unit for ``out_of_range`` values.
    """

    stopped: set[str] = field(default_factory=set)
    nan: set[str] = field(default_factory=set)
    inf: set[str] = field(default_factory=set)
    frozen: set[str] = field(default_factory=set)
    out_of_range: dict[str, tuple[str, float]] = field(default_factory=dict)   # stream -> (field, value)
    stamp_offset_s: dict[str, float] = field(default_factory=dict)             # stream -> added to header stamps
    clock_offset_s: float = 0.0                                                # added to every stream's stamps
    duplicate: set[str] = field(default_factory=set)
    reorder: set[str] = field(default_factory=set)
    malformed: dict[str, tuple[str, int]] = field(default_factory=dict)       # stream -> (mode, one in every N)
    delay_s: dict[str, float] = field(default_factory=dict)                    # stream -> extra link delay
    burst: dict[str, int] = field(default_factory=dict)                        # stream -> messages per reading

    def clear(self) -> None:
        """Every switch off."""
        for s in (self.stopped, self.nan, self.inf, self.frozen, self.duplicate, self.reorder):
            s.clear()
        for d in (self.out_of_range, self.stamp_offset_s, self.malformed, self.delay_s, self.burst):
            d.clear()
        self.clock_offset_s = 0.0

    def set(self, kind: str, stream: str | None, on: bool, **params: Any) -> None:
        """Switch one fault kind on or off (module docstring). ``params``: ``field``/``value`` (out_of_range),
        ``age_s`` (stale_stamps), ``offset_s`` (clock_jump), ``mode``/``every`` (malformed), ``delay_s``
        (delay_spike), ``factor`` (rate_burst)."""
        if kind == "clock_jump":
            self.clock_offset_s = float(params.get("offset_s", 0.0)) if on else 0.0
            return
        if stream is None:
            raise ValueError(f"fault {kind!r} needs a stream (joint_states, imu or camera)")
        sets = {"stop": self.stopped, "freeze": self.frozen, "nan": self.nan, "inf": self.inf,
                "duplicate": self.duplicate, "reorder": self.reorder}
        if kind in sets:
            (sets[kind].add if on else sets[kind].discard)(stream)
            return
        if not on:
            by_kind: dict[str, dict[str, Any]] = {
                "out_of_range": self.out_of_range, "stale_stamps": self.stamp_offset_s, "malformed": self.malformed,
                "delay_spike": self.delay_s, "rate_burst": self.burst}
            by_kind[kind].pop(stream, None)
            return
        if kind == "out_of_range":
            f = params.get("field") or DEFAULT_VALUE_FIELD[stream]
            v = params.get("value")
            self.out_of_range[stream] = (f, float(DEFAULT_OUT_OF_RANGE[stream] if v is None else v))
        elif kind == "stale_stamps":
            self.stamp_offset_s[stream] = -float(params["age_s"])
        elif kind == "malformed":
            self.malformed[stream] = (str(params["mode"]), int(params.get("every", 1)))
        elif kind == "delay_spike":
            self.delay_s[stream] = float(params["delay_s"])
        elif kind == "rate_burst":
            self.burst[stream] = int(params["factor"])
        else:
            raise ValueError(f"unknown sensor fault {kind!r}; kinds: {list(SENSOR_FAULT_KINDS)}")


class SensorFaultInjector:
    """Turns one clean reading into the readings a faulty driver publishes (possibly none, possibly several).

    Runs on the robot node's thread; reads :class:`SensorFaults` without locks
    (single flips of Python containers). ``injected`` counts what each fault
    did, keyed ``<stream>.<what>`` (``imu.duplicates``, ``joint_states.reordered``
    ...), for the report.
    """

    def __init__(self, faults: SensorFaults, periods_s: dict[str, float]) -> None:
        self.faults = faults
        self.periods_s = periods_s
        self._held_frozen: dict[str, dict[str, Any]] = {}
        self._held_reorder: dict[str, Reading] = {}
        self._malformed_count: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()  # only guards `injected` against a reader copying it mid-update

    def _count(self, stream: str, what: str, n: int = 1) -> None:
        key = f"{stream}.{what}"
        with self._lock:
            self.injected[key] = self.injected.get(key, 0) + n

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.injected)

    def apply(self, stream: str, values: dict[str, Any], stamp_s: float) -> list[Reading]:
        f = self.faults
        if stream in f.stopped:
            self._count(stream, "stopped")
            return []
        if stream in f.frozen:
            held = self._held_frozen.get(stream)
            if held is None:
                held = self._held_frozen[stream] = copy.deepcopy(values)
            values = held
            self._count(stream, "frozen")
        else:
            self._held_frozen.pop(stream, None)
        bad_value: tuple[str, float] | None = None
        if stream in f.nan:
            bad_value = (DEFAULT_VALUE_FIELD.get(stream, ""), float("nan"))
        elif stream in f.inf:
            bad_value = (DEFAULT_VALUE_FIELD.get(stream, ""), float("inf"))
        elif stream in f.out_of_range:
            bad_value = f.out_of_range[stream]
        if bad_value is not None and bad_value[0] in values:
            name, v = bad_value
            arr = np.array(values[name], dtype=np.float64)
            if np.isfinite(v):
                arr[-1] = v  # one value: a range check must catch a single bad element
            else:
                arr[:] = v
            values = {**values, name: arr}
            self._count(stream, "bad_values")
        stamp = stamp_s + f.stamp_offset_s.get(stream, 0.0) + f.clock_offset_s
        if stamp != stamp_s:
            self._count(stream, "restamped")
        malformed = None
        if stream in f.malformed:
            mode, every = f.malformed[stream]
            k = self._malformed_count.get(stream, 0)
            self._malformed_count[stream] = k + 1
            if k % every == 0:
                malformed = mode
                self._count(stream, "malformed")
        else:
            self._malformed_count.pop(stream, None)
        out = [Reading(values, stamp, malformed)]
        factor = f.burst.get(stream, 1)
        if factor > 1:
            step = self.periods_s[stream] / factor
            out = [Reading(values, stamp + i * step, malformed) for i in range(factor)]
            self._count(stream, "burst_extra", factor - 1)
        if stream in f.duplicate:
            out = [r for r in out for _ in (0, 1)]
            self._count(stream, "duplicates", len(out) // 2)
        pending = self._held_reorder.pop(stream, None)
        if stream in f.reorder:
            if pending is None:
                # Hold the first of this pair; it goes out after the next (newer) one.
                self._held_reorder[stream] = out[0]
                return out[1:]
            self._count(stream, "reordered")
            return out + [pending]
        return ([pending] if pending is not None else []) + out
