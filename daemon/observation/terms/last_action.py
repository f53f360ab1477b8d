"""``last_action``: the previous policy action (after action.clip, before action.scale), one per action joint."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import model_validator

from edgepilot.daemon.observation.terms.base import TermInputs
from edgepilot.daemon.observation.terms.joint_list import JointListTermConfig
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.observation.terms.stacked import StackedTerm


class LastActionTerm(JointListTermConfig):
    """The previous policy action (after action.clip, before action.scale), one per action joint."""

    kind: Literal["last_action"]

    @model_validator(mode="after")
    def _all_joints(self) -> "LastActionTerm":
        if self.joints is not None:
            raise ValueError("last_action covers the whole action vector, in action.joints order; remove 'joints'")
        return self


class LastAction(StackedTerm):
    def __init__(self, term: LastActionTerm, inputs: TermInputs) -> None:
        last = inputs.policy_state.last_action
        super().__init__(inputs.out, last.shape[0], term)
        self._last = last

    def read(self) -> None:
        np.copyto(self.raw, self._last)


register_term(LastActionTerm, LastAction)
