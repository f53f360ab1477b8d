"""``twist_command``: a commanded velocity from a Twist input stream (teleop, a planner), m/s and rad/s."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgepilot.daemon.observation.terms.base import TWIST_TYPES, GatherTerm, TermConfig, TermContext, TermInputs
from edgepilot.daemon.observation.terms.joint_state import require_read
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.streams.kinds.twist import FIELD_INDEX as TWIST_FIELD_INDEX


class TwistCommandTerm(TermConfig):
    """A commanded velocity from a Twist input stream (e.g. teleop or a planner on /cmd_vel_in), m/s and rad/s.

    One value per listed field, in the order the policy expects.
    """

    kind: Literal["twist_command"]
    stream: str = Field(description="Name of a geometry_msgs/Twist or TwistStamped stream in 'streams'.")
    fields: tuple[Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"], ...] = Field(
        min_length=1, description="Twist fields, in policy order.")

    def size(self, ctx: TermContext) -> int:
        return len(self.fields)

    def describe_values(self, ctx: TermContext) -> str:
        return f"one per field of fields {list(self.fields)}"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def latency_streams(self, ctx: TermContext) -> tuple[str, ...]:
        return ()  # a command input, not a sensor: its stamp never defined the command latency (daemon/service.py)

    def check(self, ctx: TermContext, where: str) -> None:
        ctx.stream_of(where, self.stream, TWIST_TYPES, "a Twist or TwistStamped stream")
        require_read(ctx, self.stream)


def _build(term: TwistCommandTerm, inputs: TermInputs) -> GatherTerm:
    # The sample is [vx, vy, vz, wx, wy, wz] (daemon/streams TwistIngest).
    return GatherTerm(inputs.snapshots[term.stream].sample, [TWIST_FIELD_INDEX[f] for f in term.fields])


register_term(TwistCommandTerm, _build)
