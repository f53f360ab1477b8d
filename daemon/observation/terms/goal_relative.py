"""``goal_relative``: the goal in the robot's body frame (m), from the daemon's own wheel/gyro odometry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgepilot.daemon.config.base import Bounded
from edgepilot.daemon.observation.terms.base import FillTerm, TermConfig, TermContext, TermInputs
from edgepilot.daemon.observation.terms.registry import register_term


class GoalTerm(TermConfig):
    """Goal position in the robot's body frame (m), from the daemon's own wheel/gyro odometry.

    Two values: x (forward) and y (left) of the goal relative to the robot.
    """

    kind: Literal["goal_relative"]
    goal_xy: tuple[Bounded, Bounded] = Field(description="Goal in the odometry frame (the start pose), m.")

    def size(self, ctx: TermContext) -> int:
        return 2

    def describe_values(self, ctx: TermContext) -> str:
        return "[x, y] of the goal in the body frame"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        o = ctx.odometry
        return () if o is None else (o.joint_stream, o.imu_stream)

    def check(self, ctx: TermContext, where: str) -> None:
        if ctx.odometry is None:  # the odometry section's own streams are checked with it, by the profile
            raise ValueError(f"{where} (goal_relative) needs an 'odometry' section")


class GoalInBody(FillTerm):
    def __init__(self, term: GoalTerm, inputs: TermInputs) -> None:
        super().__init__(inputs.raw)
        self._odometry = inputs.odometry
        self._x, self._y = term.goal_xy

    def fill(self) -> None:
        fx, fy = self._odometry.goal_in_body(self._x, self._y)  # type: ignore[union-attr]
        raw = self.raw
        raw[0] = fx
        raw[1] = fy


register_term(GoalTerm, GoalInBody)
