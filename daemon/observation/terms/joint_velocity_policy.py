"""``joint_velocity_policy``: joint velocities (rad/s) in the policy's order (default: action.joints)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgepilot.daemon.observation.terms.base import TermContext, TermInputs
from edgepilot.daemon.observation.terms.joint_list import JointRead, StreamJointTermConfig
from edgepilot.daemon.observation.terms.registry import register_term


class JointVelocityPolicyTerm(StreamJointTermConfig):
    """Joint velocities (rad/s) in the policy's order (``joints`` optional: default action.joints)."""

    kind: Literal["joint_velocity_policy"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "velocity"),)


def _build(term: JointVelocityPolicyTerm, inputs: TermInputs) -> JointRead:
    return JointRead(term, inputs, 1, None)


register_term(JointVelocityPolicyTerm, _build)
