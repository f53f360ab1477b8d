"""What the joint-policy joint terms share: a ``joints`` list defaulting to ``action.joints``, read by name."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from edgepilot.daemon.observation.terms.base import JOINT_STATE, TermContext, TermInputs
from edgepilot.daemon.observation.terms.stacked import StackedTerm, StackedTermConfig, require_read_by


class JointListTermConfig(StackedTermConfig):
    joints: tuple[str, ...] | None = Field(
        default=None, description="Joint names in the policy's order; default: action.joints.")
    needs_joint_action = True

    def joint_names(self, action_joints: tuple[str, ...]) -> tuple[str, ...]:
        return self.joints if self.joints is not None else action_joints

    def values_per_tick(self, ctx: TermContext) -> int:
        return len(self.joint_names(ctx.action_joints))

    def describe_values(self, ctx: TermContext) -> str:
        src = "joints" if self.joints is not None else "action.joints"
        return f"one per joint of {src} {list(self.joint_names(ctx.action_joints))}"


class StreamJointTermConfig(JointListTermConfig):
    """A joint term read from a JointState stream, mapped by name; the concrete model declares ``stream`` after
    ``kind`` (field order as before the registry: it orders pydantic's error lines)."""

    # (No ``stream`` annotation here: it would make the field this class's, ahead of ``kind``.)

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def check_references(self, ctx: TermContext, where: str) -> None:
        s = ctx.stream_of(where, self.stream, (JOINT_STATE,), "a JointState stream")
        require_read_by(ctx, self.stream, where)
        missing = [j for j in self.joint_names(ctx.action_joints) if j not in s.joints]
        if missing:
            raise ValueError(f"{where}: policy joints {missing} are never published: they are not in "
                             f"streams.{self.stream}.joints {list(s.joints)}; add them there")


class JointRead(StackedTerm):
    """Row ``row`` of the JointState sample (0 position, 1 velocity) at the term's joints, minus ``default``."""

    def __init__(self, term: StreamJointTermConfig, inputs: TermInputs, row: int, default: np.ndarray | None) -> None:
        names = term.joint_names(inputs.context.action_joints)
        super().__init__(inputs.out, len(names), term)
        stream_joints = inputs.context.streams[term.stream].joints
        self._index = np.array([stream_joints.index(j) for j in names], dtype=np.intp)
        self._src = inputs.snapshots[term.stream].sample[row]
        self._default = default

    def read(self) -> None:
        self._src.take(self._index, out=self.raw, mode="clip")
        if self._default is not None:
            np.subtract(self.raw, self._default, out=self.raw)
