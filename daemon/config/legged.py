"""The profile's ``legged`` section: operating modes and legged safety limits, for joint-target policies.

Every legged deployment stack people trust (rl_sar, Unitree's and Isaac Lab's deploy code, Isaac ROS deploy)
runs the policy inside a small state machine; this section configures edgepilot's:

``passive`` -> ``stand_up`` (interpolate from the measured pose to ``action.default_positions`` over
``stand_up_s``, under the robot's PD) -> ``policy`` (the policy's targets, blended in from the stand pose over
``soft_start_s``) -> ``damping`` (targets at the measured pose: the joints only damp). Any fault goes to
``damping``; going back to ``policy`` needs ``stand_up`` again. Requests come from Joy buttons, from a
``std_msgs/String`` topic (``edgepilot mode``, or any ROS 2 node) and are logged and shown in diagnostics.

The limits are fault checks acted on within one tick (their fault makes the safe action go out, and with
modes, the mode becomes ``damping``). Units: radians, rad/s, N m, seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.base import Bounded, StrictModel
from edgepilot.daemon.config.topics import TopicName

#: The modes a request may name (``passive`` is also where the daemon starts by default).
ModeName = Literal["passive", "stand_up", "policy", "damping"]


class JoyButtons(StrictModel):
    """Which ``sensor_msgs/Joy`` button (index into ``buttons``) requests which mode; a button's press (0 -> 1)
    requests it. Defaults: a common Xbox layout (A=0 stand up, B=1 damping, X=2 passive, Y=3 policy)."""

    stream: str = Field(description="The profile's sensor_msgs/msg/Joy stream.")
    stand_up: int | None = Field(default=0, ge=0, le=63)
    damping: int | None = Field(default=1, ge=0, le=63)
    passive: int | None = Field(default=2, ge=0, le=63)
    policy: int | None = Field(default=3, ge=0, le=63)

    @model_validator(mode="after")
    def _distinct(self) -> "JoyButtons":
        used = [b for b in (self.stand_up, self.damping, self.passive, self.policy) if b is not None]
        if len(set(used)) != len(used):
            raise ValueError(f"legged.modes.joy maps one button to two modes: {used}; give each mode its own button")
        return self


class OperatingModesConfig(StrictModel):
    """The operating-mode state machine. ``start``: the mode at activate (``passive``: nothing moves until an
    operator asks). ``passive``: ``damping`` (targets at the measured pose) or ``zero_torque`` (joint_torques
    only: no torque at all). ``stand_up_s``: duration of the interpolation to the default pose, s.
    ``soft_start_s``: blend from the stand pose to the policy's targets, s (0: none; Isaac ROS deploy's
    ``blend_ratio`` ramp). ``topic``: std_msgs/String requests (``passive``, ``stand_up``, ``policy``,
    ``damping``); ``joy``: buttons."""

    start: ModeName = "passive"
    passive: Literal["damping", "zero_torque"] = "damping"
    stand_up_s: float = Field(default=2.0, gt=0, le=60)
    soft_start_s: float = Field(default=1.0, ge=0, le=60)
    topic: TopicName | None = Field(default="/edgepilot/mode", description="Mode requests, std_msgs/msg/String.")
    joy: JoyButtons | None = None

    @model_validator(mode="after")
    def _start_mode(self) -> "OperatingModesConfig":
        if self.start == "policy":
            raise ValueError("legged.modes.start=policy would start the policy without a stand-up; start in passive "
                             "(or stand_up) and request policy once the robot stands")
        return self


class LeggedLimitsConfig(StrictModel):
    """Legged safety limits, each a fault acted on within one tick.

    ``max_tilt_rad``: base tilt from the IMU's projected gravity (angle between body z and up), rad;
    ``imu_stream``/``imu_mounting_rpy``: the IMU and how it is mounted (default: the first Imu stream, unrotated).
    ``joint_position``: per joint [low, high], rad (default: ``action.position_limits``), with
    ``joint_position_margin_rad`` added outside; ``joint_velocity``: |qdot| max, rad/s; ``joint_effort``: |tau|
    max, N m (the measured effort of the joint stream), one for all joints or per joint.
    """

    max_tilt_rad: float | None = Field(default=None, gt=0, le=3.1416)
    imu_stream: str | None = None
    imu_mounting_rpy: tuple[Bounded, Bounded, Bounded] = (0.0, 0.0, 0.0)
    joint_position: dict[str, tuple[Bounded, Bounded]] | None = None
    joint_position_margin_rad: float = Field(default=0.0, ge=0, le=1.0)
    joint_velocity: dict[str, Bounded] | Bounded | None = None
    joint_effort: dict[str, Bounded] | Bounded | None = None


class LeggedConfig(StrictModel):
    """``legged:`` operating modes and limits (joint_positions / joint_torques actions only)."""

    modes: OperatingModesConfig | None = None
    limits: LeggedLimitsConfig | None = None


def check_legged(profile: object) -> None:
    """Cross-references: a joint action, the Joy and IMU streams exist with the right types, joints are action joints."""
    legged = getattr(profile, "legged", None)
    if legged is None:
        return
    action, streams = getattr(profile, "action"), getattr(profile, "streams")
    if getattr(action, "output", "") not in ("joint_positions", "joint_torques"):
        raise ValueError("legged: operating modes and legged limits need a joint action (action.output joint_positions "
                         "or joint_torques); a twist robot keeps its zero-velocity behaviour: remove the legged section")
    modes, limits = legged.modes, legged.limits
    if modes is not None and modes.joy is not None:
        _stream_of(streams, modes.joy.stream, "sensor_msgs/msg/Joy", "legged.modes.joy.stream")
    if modes is not None and modes.passive == "zero_torque" and action.output != "joint_torques":
        raise ValueError("legged.modes.passive=zero_torque needs action.output joint_torques (a position target "
                         "cannot command zero torque); use passive: damping")
    if limits is None:
        return
    if limits.max_tilt_rad is not None:
        if limits.imu_stream is None:
            imus = [n for n, s in streams.items() if s.type == "sensor_msgs/msg/Imu"]
            if not imus:
                raise ValueError("legged.limits.max_tilt_rad needs an Imu stream; add one or set legged.limits.imu_stream")
        else:
            _stream_of(streams, limits.imu_stream, "sensor_msgs/msg/Imu", "legged.limits.imu_stream")
    for field in ("joint_position", "joint_velocity", "joint_effort"):
        value = getattr(limits, field)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(action.joints))
            if unknown:
                raise ValueError(f"legged.limits.{field} names joints {unknown} that are not in action.joints")


def _stream_of(streams: dict, name: str, type_name: str, field: str) -> None:
    s = streams.get(name)
    if s is None:
        raise ValueError(f"{field}={name!r} is not a stream; streams: {sorted(streams)}")
    if s.type != type_name:
        raise ValueError(f"{field}={name!r} is a {s.type} stream; it must be {type_name}")
