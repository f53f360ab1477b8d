"""``velocity_command``: the commanded base velocity (m/s, rad/s), streamed (zero while stale) or fixed."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from edgepilot.daemon.config.base import Bounded
from edgepilot.daemon.observation.terms.base import TWIST_TYPES, TermContext, TermInputs, TwistField
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm, StackedTermConfig
from edgepilot.daemon.streams.kinds.twist import FIELD_INDEX as TWIST_FIELD_INDEX

VelocityField = TwistField  # the name joint_policy.py gave it


class VelocityCommandTerm(StackedTermConfig):
    """The commanded base velocity (m/s, rad/s, base frame), one value per field in ``fields`` order.

    From ``stream`` (a Twist/TwistStamped stream such as /cmd_vel_in), each field
    clipped to ``limits``; while that stream has no sample younger than its
    ``max_age_s`` the command is **zero** (stand still). Or fixed: ``value``.
    """

    kind: Literal["velocity_command"]
    fields: tuple[TwistField, ...] = Field(default=("linear.x", "linear.y", "angular.z"), min_length=1)
    stream: str | None = Field(default=None, description="Twist or TwistStamped stream; exclusive with 'value'.")
    value: tuple[Bounded, ...] | None = Field(default=None, description="Fixed command, one per field (m/s, rad/s).")
    limits: tuple[tuple[Bounded, Bounded], ...] | None = Field(
        default=None, description="[low, high] per field, applied to the streamed command (m/s, rad/s). Default: none.")

    @model_validator(mode="after")
    def _one_source(self) -> "VelocityCommandTerm":
        if (self.stream is None) == (self.value is None):
            raise ValueError("velocity_command needs exactly one of 'stream' (a Twist stream, e.g. /cmd_vel_in) "
                             "or 'value' (a fixed command, one number per field)")
        if self.value is not None and len(self.value) != len(self.fields):
            raise ValueError(f"value has {len(self.value)} numbers for {len(self.fields)} fields {list(self.fields)}")
        if self.limits is not None:
            if len(self.limits) != len(self.fields):
                raise ValueError(f"limits has {len(self.limits)} pairs for {len(self.fields)} fields {list(self.fields)}")
            for lo, hi in self.limits:
                if not lo <= hi:
                    raise ValueError(f"limits pair {[lo, hi]} must be [low, high] with low <= high")
        return self

    def values_per_tick(self, ctx: TermContext) -> int:
        return len(self.fields)

    def describe_values(self, ctx: TermContext) -> str:
        return f"one per field of fields {list(self.fields)}"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return () if self.stream is None else (self.stream,)

    def check_references(self, ctx: TermContext, where: str) -> None:
        if self.stream is not None:  # need not be required: a stale command is zero, not a fault
            ctx.stream_of(where, self.stream, TWIST_TYPES, "a Twist or TwistStamped stream")


class VelocityCommand(StackedTerm):
    def __init__(self, term: VelocityCommandTerm, inputs: TermInputs) -> None:
        super().__init__(inputs.out, len(term.fields), term)
        self._snap = inputs.snapshots[term.stream] if term.stream is not None else None
        self._max_age_s = inputs.context.streams[term.stream].max_age_s if term.stream else 0.0
        self._index = np.array([TWIST_FIELD_INDEX[f] for f in term.fields], dtype=np.intp)
        self._fixed = None if term.value is None else np.array(term.value, dtype=np.float64)
        lim = term.limits or tuple((-np.inf, np.inf) for _ in term.fields)
        self._cmd_lo = np.array([a for a, _ in lim], dtype=np.float64)
        self._cmd_hi = np.array([b for _, b in lim], dtype=np.float64)

    def read(self) -> None:
        raw = self.raw
        if self._fixed is not None:
            np.copyto(raw, self._fixed)
            return
        snap = self._snap
        if snap.stamp_ns < 0 or snap.age_s > self._max_age_s:  # type: ignore[union-attr]
            raw.fill(0.0)  # no fresh command: stand still
            return
        snap.sample.take(self._index, out=raw, mode="clip")  # type: ignore[union-attr]
        np.minimum(raw, self._cmd_hi, out=raw)
        np.maximum(raw, self._cmd_lo, out=raw)


register_term(VelocityCommandTerm, VelocityCommand)
