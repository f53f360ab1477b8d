"""``imu_angular_velocity`` / ``imu_linear_acceleration``: IMU gyro (rad/s) or accelerometer (m/s^2), IMU frame."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgepilot.daemon.observation.terms.base import IMU, GatherTerm, TermConfig, TermContext, TermInputs
from edgepilot.daemon.observation.terms.joint_state import require_read
from edgepilot.daemon.observation.terms.registry import register_term
from edgepilot.daemon.streams.kinds.imu import ANGULAR_VELOCITY as IMU_ANGULAR_VELOCITY
from edgepilot.daemon.streams.kinds.imu import AXIS_INDEX as IMU_AXIS_INDEX
from edgepilot.daemon.streams.kinds.imu import LINEAR_ACCELERATION as IMU_LINEAR_ACCELERATION


class ImuTerm(TermConfig):
    """IMU angular velocity (rad/s) or linear acceleration (m/s^2), IMU body frame."""

    kind: Literal["imu_angular_velocity", "imu_linear_acceleration"]
    stream: str = Field(description="Name of an Imu stream in 'streams'.")
    axes: tuple[Literal["x", "y", "z"], ...] = Field(min_length=1, description="Axes, in policy order.")

    def size(self, ctx: TermContext) -> int:
        return len(self.axes)

    def describe_values(self, ctx: TermContext) -> str:
        return f"one per axis of axes {list(self.axes)}"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "angular_velocity" if self.kind == "imu_angular_velocity" else "linear_acceleration"),)

    def check(self, ctx: TermContext, where: str) -> None:
        ctx.stream_of(where, self.stream, (IMU,), "an Imu stream")
        require_read(ctx, self.stream)


def _build(term: ImuTerm, inputs: TermInputs) -> GatherTerm:
    block = IMU_ANGULAR_VELOCITY if term.kind == "imu_angular_velocity" else IMU_LINEAR_ACCELERATION
    return GatherTerm(inputs.snapshots[term.stream].sample[block], [IMU_AXIS_INDEX[a] for a in term.axes])


register_term(ImuTerm, _build)
