"""The profile's joint-target action (Isaac Lab, legged_gym policies): ``action.output`` joint_positions or
joint_torques.

``action.joints`` is the policy's joint order: action ``i`` drives ``action.joints[i]``; the robot's order is
whatever its JointState messages say, mapped by name every tick. The joint-policy observation terms
(base_angular_velocity, projected_gravity, velocity_command, joint_position_relative, joint_velocity_policy,
last_action, gait_phase) and their conventions (frames, scale and clip, history) are registered with every
other term in daemon/observation/terms/ (conventions: daemon/observation/terms/stacked.py); their names are
re-exported here for the code that imports them from this module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.base import Bounded, StrictModel
from edgepilot.daemon.config.topics import TopicName
from edgepilot.daemon.observation.terms import (LEGGED_TERMS, BaseAngularVelocityTerm, GaitPhaseTerm,  # noqa: F401
                                                JointPositionRelativeTerm, JointVelocityPolicyTerm, LastActionTerm,
                                                ProjectedGravityTerm, VelocityCommandTerm)


class JointActionConfig(StrictModel):
    """Joint-target action: the policy's output, one value per ``joints`` entry, becomes joint targets.

    ``target_i = clamp(default_i + scale_i * clip(action_i), position_limits_i)`` (rad).

    * ``joint_positions``: the targets are published on ``topic`` as
      sensor_msgs/JointState (``message: joint_state``: names + positions, the
      robot's controller maps by name) or std_msgs/Float64MultiArray
      (``float64_multi_array``: in ``joints`` order, which must be the order
      of the ros2_control forward command controller's ``joints`` parameter).
      ``stiffness``/``damping`` are not sent (neither message has gain
      fields): they document the PD gains the policy was trained with, which
      the robot's joint controller must use.
    * ``joint_torques``: the daemon runs the PD loop itself
      (:mod:`.pd_controller`): ``tau = kp (target - q) - kd qdot``, clipped to
      ``torque_limits`` (N m), recomputed every loop tick from the newest joint
      state; the policy runs every ``decimation`` ticks, so the policy rate is
      ``loop.rate_hz / decimation``. Published in ``joints`` order as
      Float64MultiArray (what an effort forward command controller takes).

    ``safe_action`` (what goes out on any fault, instead of a zero twist):
    ``hold``: position targets = the last targets published while healthy (the
    default pose before the first); torques = the PD law towards that pose.
    ``damping``: position targets = the measured positions (a position PD with
    its target at the current angle only damps); torques = ``-safe_damping *
    qdot``. With torques, a joint stream that is not fresh gives zero torque.
    """

    output: Literal["joint_positions", "joint_torques"]
    topic: TopicName = Field(default="/joint_commands", description="Command topic, e.g. /forward_position_controller/commands.")
    message: Literal["joint_state", "float64_multi_array"] = Field(
        default="float64_multi_array", description="joint_positions: JointState (by name) or Float64MultiArray "
        "(joints order). joint_torques: float64_multi_array only.")
    stream: str = Field(description="The JointState stream the joints are measured on (PD loop, damping, checks).")
    joints: tuple[str, ...] = Field(min_length=1, description="The policy's joint order (action index i -> joints[i]).")
    scale: Bounded | tuple[Bounded, ...] = Field(default=1.0, description="Action scale, one or one per joint (rad per unit).")
    clip: tuple[Bounded, Bounded] | None = Field(default=None, description="[low, high] on the raw action, before scaling.")
    default_positions: dict[str, Bounded] = Field(description="Default joint angles, rad, every action joint.")
    position_limits: dict[str, tuple[Bounded, Bounded]] = Field(
        default_factory=dict, description="Per joint [low, high] on the target, rad. Default: none.")
    stiffness: dict[str, Bounded] | Bounded = Field(default=0.0, description="kp, N m/rad: one or per joint.")
    damping: dict[str, Bounded] | Bounded = Field(default=0.0, description="kd, N m s/rad: one or per joint.")
    torque_limits: dict[str, Bounded] | Bounded | None = Field(default=None, description="joint_torques: |tau| max, N m.")
    decimation: int = Field(default=1, ge=1, le=100, description="Loop ticks per policy step.")
    safe_action: Literal["hold", "damping"] = Field(default="damping", description="Output on any fault.")
    safe_damping: dict[str, Bounded] | Bounded | None = Field(
        default=None, description="joint_torques damping safe action kd, N m s/rad; default: 'damping'.")

    @model_validator(mode="after")
    def _consistent(self) -> "JointActionConfig":
        j = self.joints
        if len(set(j)) != len(j):
            raise ValueError(f"action.joints lists a name twice: {list(j)}")
        n = len(j)
        if isinstance(self.scale, tuple) and len(self.scale) != n:
            raise ValueError(f"action.scale has {len(self.scale)} values for {n} joints; give one, or one per joint")
        missing = [x for x in j if x not in self.default_positions]
        if missing:
            raise ValueError(f"action.default_positions lacks {missing}: give every action joint its default angle (rad)")
        for what in ("default_positions", "position_limits", "stiffness", "damping", "torque_limits", "safe_damping"):
            v = getattr(self, what)
            if isinstance(v, dict):
                extra = [x for x in v if x not in j]
                if extra:
                    raise ValueError(f"action.{what} names {extra}, which are not in action.joints {list(j)}")
        for name, (lo, hi) in self.position_limits.items():
            if not lo < hi:
                raise ValueError(f"action.position_limits.{name}={[lo, hi]} must be [low, high] with low < high")
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            raise ValueError(f"action.clip {list(self.clip)} must be [low, high] with low < high")
        if self.output == "joint_torques":
            if self.message != "float64_multi_array":
                raise ValueError("joint_torques are published as float64_multi_array (an effort forward command "
                                 "controller); set message: float64_multi_array")
            if self.torque_limits is None:
                raise ValueError("joint_torques needs torque_limits (N m): one number or one per joint")
            kp = self.per_joint("stiffness")
            if not any(kp):
                raise ValueError("joint_torques needs stiffness (kp > 0): the daemon's PD loop tracks the targets")
        elif self.decimation != 1:
            raise ValueError("decimation applies to joint_torques (the daemon's PD loop); joint_positions runs the "
                             "policy every tick: set loop.rate_hz to the policy rate and decimation: 1")
        return self

    def per_joint(self, what: str, default: float = 0.0) -> list[float]:
        v = getattr(self, what)
        if v is None:
            return [default] * len(self.joints)
        if isinstance(v, (int, float)):
            return [float(v)] * len(self.joints)
        if isinstance(v, tuple):
            return [float(x) for x in v]
        return [float(v.get(x, default)) for x in self.joints]


def check_joint_action(profile) -> None:  # noqa: ANN001 - a config.Profile (imported there, not here)
    """The joint action's stream and joints against the streams; raises ValueError naming the field.

    (Each observation term checks its own references: daemon/observation/terms/.)"""
    streams = profile.streams
    action = profile.action
    if isinstance(action, JointActionConfig):
        s = streams.get(action.stream)
        if s is None or s.type != "sensor_msgs/msg/JointState":
            raise ValueError(f"action.stream={action.stream!r} must name a JointState stream; streams: {sorted(streams)}")
        missing = [j for j in action.joints if j not in s.joints]
        if missing:
            raise ValueError(f"action.joints {missing} are never published: they are not in streams.{action.stream}.joints "
                             f"{list(s.joints)}; add them there")
        if not s.required:
            raise ValueError(f"streams.{action.stream}.required is false but action.stream reads it: set required: true")
