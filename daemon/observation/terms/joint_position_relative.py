"""``joint_position_relative``: joint positions minus ``action.default_positions`` (rad), policy order."""

from __future__ import annotations

from typing import Literal

import numpy as np

from pydantic import Field

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.joint_list import JointRead, StreamJointTermConfig
from edgepilot.daemon.observation.terms.registry import register_term


class JointPositionRelativeTerm(StreamJointTermConfig):
    """Joint positions minus ``action.default_positions`` (rad), in the policy's order."""

    kind: Literal["joint_position_relative"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "position"),)

    def check_references(self, ctx: TermContext, where: str) -> None:
        super().check_references(ctx, where)
        nodef = [j for j in self.joint_names(ctx.action_joints) if j not in ctx.default_positions]
        if nodef:
            raise ValueError(f"{where}: joints {nodef} have no action.default_positions entry")


def _build(term: JointPositionRelativeTerm, inputs: TermInputs) -> JointRead:
    ctx = inputs.context
    default = np.array([ctx.default_positions[j] for j in term.joint_names(ctx.action_joints)])
    return JointRead(term, inputs, 0, default)


register_term(JointPositionRelativeTerm, _build)
