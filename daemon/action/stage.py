"""What the tick asks of an action stage: model output in, the command out, into a preallocated array.

Stages: :class:`~.twist.TwistActionMapper` (Twist channels, m/s and rad/s in the body frame) and
:class:`~.joint.JointActionStage` (joint position targets in radians, or PD torques in N m, with decimation).
A new stage is one class with these members; the service publishes its command and, on a fault, its safe one.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ActionStage(Protocol):
    #: The model output must have at least this many values (checked against the model at load).
    action_size_needed: int
    #: The preallocated command ``map`` and ``between`` fill and return.
    command: np.ndarray
    #: True: the stage runs ticks between policy steps (``skip_policy`` / ``between``); False: a step every tick.
    decimates: bool

    def map(self, action: np.ndarray) -> np.ndarray:
        """The command for this tick from the flat model output (NaN stays NaN, for the watchdog)."""

    def skip_policy(self) -> bool:
        """True on a tick between policy steps (only asked when ``decimates``)."""

    def between(self) -> np.ndarray:
        """The command on a tick between policy steps (only called when ``decimates``)."""
