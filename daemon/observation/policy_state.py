"""What the action side tells the observation side between policy steps."""

from __future__ import annotations

import numpy as np


class PolicyState:
    """The last action and the policy steps done, advanced only when a step is committed.

    ``last_action``: the previous *committed* policy output after ``action.clip`` (policy order), zeros before the
    first step; ``pending_action``: this step's, written by the action stage and made ``last_action`` by
    :meth:`commit`. ``steps``: policy steps committed since activation (or the last reset); ``period_s``: the
    policy period. The tick commits a step whose command is published, and with
    ``engine.state_when_withheld: advance`` every step (daemon/config/model_io.py says why ``hold`` is the default).
    """

    def __init__(self, n_actions: int, period_s: float) -> None:
        self.last_action = np.zeros(n_actions)
        self.pending_action = np.zeros(n_actions)
        self.steps = 0
        self.period_s = period_s

    def commit(self) -> None:
        np.copyto(self.last_action, self.pending_action)
        self.steps += 1

    def reset(self) -> None:
        self.last_action.fill(0.0)
        self.pending_action.fill(0.0)
        self.steps = 0
