"""``joint_position`` / ``joint_velocity``: joint positions (rad) or velocities (rad/s) from a JointState stream."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgepilot.daemon.observation.terms.base import JOINT_STATE, GatherTerm, TermConfig, TermContext, TermInputs
from edgepilot.daemon.observation.terms.registry import register_term


class JointTerm(TermConfig):
    """Joint positions (rad) or velocities (rad/s) from a JointState stream, in ``joints`` order (policy order)."""

    kind: Literal["joint_position", "joint_velocity"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")
    joints: tuple[str, ...] = Field(min_length=1, description="Joint names in the order the policy expects.")

    def size(self, ctx: TermContext) -> int:
        return len(self.joints)

    def describe_values(self, ctx: TermContext) -> str:
        return f"one per joint of joints {list(self.joints)}"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "position" if self.kind == "joint_position" else "velocity"),)

    def check(self, ctx: TermContext, where: str) -> None:
        s = ctx.stream_of(where, self.stream, (JOINT_STATE,), "a JointState stream")
        missing = [j for j in self.joints if j not in s.joints]
        if missing:
            raise ValueError(f"{where}.joints {missing} are not in streams.{self.stream}.joints {list(s.joints)}; add them there")
        require_read(ctx, self.stream)


def require_read(ctx: TermContext, stream: str) -> None:
    """A stream the policy's inputs come from must be required (the watchdog faults when it is missing)."""
    if not ctx.streams[stream].required:
        raise ValueError(f"streams.{stream}.required is false but the observation reads it; a policy must not "
                         "run on data that may be missing: set required: true")


def _build(term: JointTerm, inputs: TermInputs) -> GatherTerm:
    # Mapped by joint *name*: the robot's publishing order never reaches the policy.
    stream_joints = inputs.context.streams[term.stream].joints
    row = 0 if term.kind == "joint_position" else 1
    return GatherTerm(inputs.snapshots[term.stream].sample[row], [stream_joints.index(j) for j in term.joints])


register_term(JointTerm, _build)
