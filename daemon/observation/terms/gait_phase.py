"""``gait_phase``: the gait clock ``[sin a, cos a]`` with ``a = 2 pi (f t + phase_offset_cycles)`` (class docstring)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm, StackedTermConfig


class GaitPhaseTerm(StackedTermConfig):
    """Gait clock: two values, ``[sin a, cos a]``, of the angle (rad)

        a = 2 pi f t + 2 pi phase_offset_cycles,    t = (n + k) T

    * ``n``: policy steps completed since activation when this observation is built (``PolicyState.steps``,
      advanced by the action stage after each policy step): 0 for the observation of the first policy step;
    * ``k``: 0 with ``first_step: zero`` (the default: the first policy step sees phase 0, ``sin 0, cos 0 =
      0, 1``), 1 with ``first_step: one_step`` (it sees one policy period of phase already, as training code
      that advances its clock before computing the observation);
    * ``T``: the policy period, s (``action.decimation / loop.rate_hz``);
    * ``f``: ``frequency_hz``, or ``1 / period_s`` (give exactly one), Hz;
    * ``phase_offset_cycles``: a constant offset in cycles (0.25 = a quarter period, pi/2 rad).

    Training code that computes ``phase = (episode_length_buf * dt) % period / period`` and feeds ``[sin 2 pi
    phase, cos 2 pi phase]`` is ``period_s: period``; whether its first observation sees ``episode_length_buf``
    0 or 1 (it is often incremented before the observation is computed) decides ``first_step``; the modulo
    changes only the last bits of ``a`` (docs/observation.md).
    """

    kind: Literal["gait_phase"]
    frequency_hz: float | None = Field(default=None, gt=0, le=100, description="Gait frequency f, Hz.")
    period_s: float | None = Field(default=None, gt=0, le=1000, description="Gait period 1/f, s.")
    phase_offset_cycles: float = Field(default=0.0, ge=-1, le=1, description="Phase at t = 0, in cycles.")
    first_step: Literal["zero", "one_step"] = Field(
        default="zero", description="zero: t = n T; one_step: t = (n + 1) T (n: policy steps completed).")
    needs_joint_action = True

    @model_validator(mode="after")
    def _one_rate(self) -> "GaitPhaseTerm":
        if (self.frequency_hz is None) == (self.period_s is None):
            raise ValueError("gait_phase needs exactly one of 'frequency_hz' (Hz) or 'period_s' (s, 1/frequency)")
        return self

    def values_per_tick(self, ctx: TermContext) -> int:
        return 2

    def describe_values(self, ctx: TermContext) -> str:
        return "[sin, cos] of the phase"


class GaitPhase(StackedTerm):
    def __init__(self, term: GaitPhaseTerm, inputs: TermInputs) -> None:
        super().__init__(inputs.out, 2, term)
        self._state = inputs.policy_state
        f = term.frequency_hz if term.frequency_hz is not None else 1.0 / term.period_s  # type: ignore[operator]
        self._omega = 2.0 * math.pi * f
        self._offset_rad = 2.0 * math.pi * term.phase_offset_cycles  # + 0.0 leaves a (>= 0) bit for bit
        self._extra_steps = 1 if term.first_step == "one_step" else 0

    def read(self) -> None:
        st = self._state
        a = self._omega * ((st.steps + self._extra_steps) * st.period_s) + self._offset_rad
        self.raw[0] = math.sin(a)
        self.raw[1] = math.cos(a)


register_term(GaitPhaseTerm, GaitPhase)
