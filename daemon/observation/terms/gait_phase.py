"""``gait_phase``: the gait clock [sin(2 pi f t), cos(2 pi f t)], t = policy steps since activation x period."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm, StackedTermConfig


class GaitPhaseTerm(StackedTermConfig):
    """Gait clock: [sin(2 pi f t), cos(2 pi f t)], t = policy steps since activation x policy period (s)."""

    kind: Literal["gait_phase"]
    frequency_hz: float = Field(gt=0, le=100, description="Gait frequency f, Hz.")
    needs_joint_action = True

    def values_per_tick(self, ctx: TermContext) -> int:
        return 2


class GaitPhase(StackedTerm):
    def __init__(self, term: GaitPhaseTerm, inputs: TermInputs) -> None:
        super().__init__(inputs.out, 2, term)
        self._state = inputs.policy_state
        self._omega = 2.0 * math.pi * term.frequency_hz

    def read(self) -> None:
        st = self._state
        a = self._omega * (st.steps * st.period_s)
        self.raw[0] = math.sin(a)
        self.raw[1] = math.cos(a)


register_term(GaitPhaseTerm, GaitPhase)
