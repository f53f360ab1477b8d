"""Profile sections for joint-target policies (Isaac Lab, legged_gym): observation terms and the joint action.

These models join the profile's discriminated unions in :mod:`.config`
(``observation.terms[].kind`` and ``action.output``); they are validated once
at load like every other section.

Conventions (what a policy exported from Isaac Lab or legged_gym expects):

* **Joint order.** ``action.joints`` is the policy's joint order: action ``i``
  drives ``action.joints[i]``, and every joint term lists its values in the
  order of its own ``joints`` (default: ``action.joints``). The robot's order is
  whatever its JointState messages say; they are mapped by name every tick.
* **Frames.** ``base_angular_velocity`` and ``projected_gravity`` are in the
  base frame (x forward, y left, z up). The IMU reports in its own frame; the
  IMU's mounting rotation ``imu_mounting_rpy`` (roll, pitch, yaw in rad,
  fixed axes X then Y then Z, as a URDF joint's ``rpy``: the IMU frame's
  orientation expressed in the base frame) rotates IMU-frame vectors into the
  base frame: ``v_base = R(rpy) @ v_imu``.
* **Projected gravity** is the unit gravity direction ``[0, 0, -1]`` (world)
  expressed in the base frame, from the IMU's orientation quaternion, as
  Isaac Lab's ``projected_gravity`` and legged_gym's ``projected_gravity``
  (``quat_rotate_inverse(base_quat, [0, 0, -1])``); level and upright gives
  ``[0, 0, -1]``.
* **Scale and clip**: every term is ``clip((raw + offset) * scale, clip)``
  like the other terms (legged_gym's order). Isaac Lab clips *before* it
  scales: give its ``clip`` bounds multiplied by its ``scale`` here.
* **History**: ``history`` > 1 stacks the term's last values (after scale and
  clip), **oldest first, newest last**, as Isaac Lab's ``CircularBuffer``
  flattens ``history_length``; after activation the first value fills every
  slot (Isaac Lab fills the buffer with the first observation after a reset).
  A term of ``n`` values with ``history: h`` takes ``n * h`` places,
  ``[v(t-h+1) ..., v(t)]``.
* **Last action** is the policy's previous raw output after ``action.clip``
  and before ``action.scale`` (Isaac Lab's ``last_action``, legged_gym's
  ``actions``); zeros before the first policy step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.base import Bounded, ScaledTermBase, StrictModel
from edgepilot.daemon.config.topics import TopicName


class _LeggedTermBase(ScaledTermBase):
    history: int = Field(default=1, ge=1, le=64, description="Ticks stacked, oldest first (module docstring).")

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        raise NotImplementedError

    def size(self, action_joints: tuple[str, ...]) -> int:
        return self.values_per_tick(action_joints) * self.history


class _ImuTermBase(_LeggedTermBase):
    stream: str = Field(description="Name of a sensor_msgs/Imu stream in 'streams'.")
    imu_mounting_rpy: tuple[Bounded, Bounded, Bounded] = Field(
        default=(0.0, 0.0, 0.0), description="IMU frame in the base frame: roll, pitch, yaw, rad (fixed axes XYZ).")


class BaseAngularVelocityTerm(_ImuTermBase):
    """Base angular velocity x, y, z (rad/s, base frame): the IMU's gyro rotated by the mounting rotation."""

    kind: Literal["base_angular_velocity"]

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        return 3


class ProjectedGravityTerm(_ImuTermBase):
    """Unit gravity direction in the base frame (3 values), from the IMU orientation quaternion."""

    kind: Literal["projected_gravity"]

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        return 3


VelocityField = Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]


class VelocityCommandTerm(_LeggedTermBase):
    """The commanded base velocity (m/s, rad/s, base frame), one value per field in ``fields`` order.

    From ``stream`` (a Twist/TwistStamped stream such as /cmd_vel_in), each field
    clipped to ``limits``; while that stream has no sample younger than its
    ``max_age_s`` the command is **zero** (stand still). Or fixed: ``value``.
    """

    kind: Literal["velocity_command"]
    fields: tuple[VelocityField, ...] = Field(default=("linear.x", "linear.y", "angular.z"), min_length=1)
    stream: str | None = Field(default=None, description="Twist or TwistStamped stream; exclusive with 'value'.")
    value: tuple[Bounded, ...] | None = Field(default=None, description="Fixed command, one per field (m/s, rad/s).")
    limits: tuple[tuple[Bounded, Bounded], ...] | None = Field(
        default=None, description="[low, high] per field, applied to the streamed command (m/s, rad/s). Default: none.")

    @model_validator(mode="after")
    def _one_source(self) -> "VelocityCommandTerm":
        if (self.stream is None) == (self.value is None):
            raise ValueError("velocity_command needs exactly one of 'stream' (a Twist stream, e.g. /cmd_vel_in) "
                             "or 'value' (a fixed command, one number per field)")
        if self.value is not None and len(self.value) != len(self.fields):
            raise ValueError(f"value has {len(self.value)} numbers for {len(self.fields)} fields {list(self.fields)}")
        if self.limits is not None:
            if len(self.limits) != len(self.fields):
                raise ValueError(f"limits has {len(self.limits)} pairs for {len(self.fields)} fields {list(self.fields)}")
            for lo, hi in self.limits:
                if not lo <= hi:
                    raise ValueError(f"limits pair {[lo, hi]} must be [low, high] with low <= high")
        return self

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        return len(self.fields)


class _JointListTerm(_LeggedTermBase):
    joints: tuple[str, ...] | None = Field(
        default=None, description="Joint names in the policy's order; default: action.joints.")

    def joint_names(self, action_joints: tuple[str, ...]) -> tuple[str, ...]:
        return self.joints if self.joints is not None else action_joints

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        return len(self.joint_names(action_joints))


class JointPositionRelativeTerm(_JointListTerm):
    """Joint positions minus ``action.default_positions`` (rad), in the policy's order."""

    kind: Literal["joint_position_relative"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")


class JointVelocityPolicyTerm(_JointListTerm):
    """Joint velocities (rad/s) in the policy's order (``joints`` optional: default action.joints)."""

    kind: Literal["joint_velocity_policy"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")


class LastActionTerm(_JointListTerm):
    """The previous policy action (after action.clip, before action.scale), one per action joint."""

    kind: Literal["last_action"]

    @model_validator(mode="after")
    def _all_joints(self) -> "LastActionTerm":
        if self.joints is not None:
            raise ValueError("last_action covers the whole action vector, in action.joints order; remove 'joints'")
        return self


class GaitPhaseTerm(_LeggedTermBase):
    """Gait clock: [sin(2 pi f t), cos(2 pi f t)], t = policy steps since activation x policy period (s)."""

    kind: Literal["gait_phase"]
    frequency_hz: float = Field(gt=0, le=100, description="Gait frequency f, Hz.")

    def values_per_tick(self, action_joints: tuple[str, ...]) -> int:
        return 2


LEGGED_TERMS = (BaseAngularVelocityTerm, ProjectedGravityTerm, VelocityCommandTerm, JointPositionRelativeTerm,
                JointVelocityPolicyTerm, LastActionTerm, GaitPhaseTerm)


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


_TWIST_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")


def check_joint_policy(profile) -> None:  # noqa: ANN001 - a config.Profile (imported there, not here)
    """Cross-references of the joint-policy terms and action with the streams; raises ValueError naming the field."""
    streams = profile.streams
    action = profile.action
    action_joints: tuple[str, ...] = action.joints if isinstance(action, JointActionConfig) else ()
    for i, term in enumerate(profile.observation.terms):
        if not isinstance(term, LEGGED_TERMS):
            continue
        where = f"observation.terms[{i}] ({term.kind})"
        if isinstance(term, (_JointListTerm, GaitPhaseTerm)) and not action_joints:
            raise ValueError(f"{where} needs action.output joint_positions or joint_torques (it reads action.joints "
                             "or the policy step)")
        if isinstance(term, _ImuTermBase):
            s = streams.get(term.stream)
            if s is None or s.type != "sensor_msgs/msg/Imu":
                raise ValueError(f"{where}.stream={term.stream!r} must name an Imu stream; streams: {sorted(streams)}")
            if not s.required:
                raise ValueError(f"streams.{term.stream}.required is false but {where} reads it: set required: true")
        elif isinstance(term, (JointPositionRelativeTerm, JointVelocityPolicyTerm)):
            s = streams.get(term.stream)
            if s is None or s.type != "sensor_msgs/msg/JointState":
                raise ValueError(f"{where}.stream={term.stream!r} must name a JointState stream; streams: {sorted(streams)}")
            if not s.required:
                raise ValueError(f"streams.{term.stream}.required is false but {where} reads it: set required: true")
            names = term.joint_names(action_joints)
            missing = [j for j in names if j not in s.joints]
            if missing:
                raise ValueError(f"{where}: policy joints {missing} are never published: they are not in "
                                 f"streams.{term.stream}.joints {list(s.joints)}; add them there")
            if isinstance(term, JointPositionRelativeTerm):
                nodef = [j for j in names if j not in action.default_positions]
                if nodef:
                    raise ValueError(f"{where}: joints {nodef} have no action.default_positions entry")
        elif isinstance(term, VelocityCommandTerm) and term.stream is not None:
            s = streams.get(term.stream)
            if s is None or s.type not in _TWIST_TYPES:
                raise ValueError(f"{where}.stream={term.stream!r} must name a Twist or TwistStamped stream; "
                                 f"streams: {sorted(streams)}")
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


def legged_term_size(term: _LeggedTermBase, action) -> int:  # noqa: ANN001
    """Values a joint-policy term puts into the observation (history included)."""
    return term.size(action.joints if isinstance(action, JointActionConfig) else ())
