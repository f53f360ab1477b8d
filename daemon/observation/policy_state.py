"""What the action side tells the observation side between policy steps."""

from __future__ import annotations

import numpy as np


class PolicyState:
    """The last action and the policy steps done.

    ``last_action``: the previous policy output after ``action.clip`` (policy order), zeros before the first step.
    ``steps``: policy steps completed since activation; ``period_s``: the policy period.
    """

    def __init__(self, n_actions: int, period_s: float) -> None:
        self.last_action = np.zeros(n_actions)
        self.steps = 0
        self.period_s = period_s
