"""The robot profile: one YAML file, validated once at load.

Everything the daemon does is decided here, before any thread starts: which
streams it listens to and how old they may get, how the observation vector is
assembled, which model runs, how its output becomes a command, the loop rate
and the watchdog limits. The hot path never looks at these models again; the
components copy what they need into plain attributes and preallocated arrays
when they are built.

Units: seconds (``*_s``), hertz (``*_hz``), metres (``*_m``), radians, m/s and
rad/s for velocities. Frames: the odometry frame is fixed at the robot's pose
when the daemon starts (x forward, y left, z up, REP 103); body-frame vectors
follow the IMU's frame.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ProfileError(ValueError):
    """A profile that cannot be used. The message names the field, the value and the fix."""


class _Strict(BaseModel):
    # Unknown keys are almost always typos (``max_age`` for ``max_age_s``); on a
    # robot a silently ignored limit is a limit that is not enforced.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- streams

StreamType = Literal["sensor_msgs/msg/JointState", "sensor_msgs/msg/Imu", "sensor_msgs/msg/Image"]


class StreamConfig(_Strict):
    """One sensor stream the daemon subscribes to.

    The stream is stale when its newest sample is older than ``max_age_s``
    (receipt time, monotonic clock); a required stale or missing stream is a
    fault that zeroes the command.
    """

    topic: str = Field(description="ROS 2 topic name, e.g. /joint_states.")
    type: StreamType = Field(description="ROS 2 message type.")
    rate_hz: float = Field(gt=0, le=10_000, description="Expected publish rate, Hz.")
    max_age_s: float = Field(gt=0, le=10, description="Largest age of the newest sample before the stream is stale, s.")
    required: bool = Field(default=True, description="A required stream that is stale or missing is a fault.")
    queue_depth: int = Field(default=64, ge=2, le=65536, description="Ring buffer capacity, samples.")
    joints: tuple[str, ...] = Field(default=(), description="JointState only: joint names stored, in this order.")
    width: int = Field(default=0, ge=0, description="Image only: expected width, px.")
    height: int = Field(default=0, ge=0, description="Image only: expected height, px.")
    encoding: Literal["rgb8", ""] = Field(default="", description="Image only: expected encoding.")

    @field_validator("topic")
    @classmethod
    def _topic_is_absolute(cls, v: str) -> str:
        if not v.startswith("/") or " " in v or v.endswith("/"):
            raise ValueError(f"topic {v!r} must be an absolute ROS 2 name such as '/imu/data'")
        return v

    @model_validator(mode="after")
    def _type_specific_fields(self) -> "StreamConfig":
        if self.type == "sensor_msgs/msg/JointState":
            if not self.joints:
                raise ValueError("a JointState stream needs 'joints': the joint names to keep, e.g. [left_wheel_joint, right_wheel_joint]")
            if len(set(self.joints)) != len(self.joints):
                raise ValueError(f"'joints' lists a name twice: {list(self.joints)}")
        if self.type == "sensor_msgs/msg/Image":
            if self.width <= 0 or self.height <= 0 or not self.encoding:
                raise ValueError("an Image stream needs 'width', 'height' (px, > 0) and 'encoding' (rgb8)")
        if self.max_age_s * self.rate_hz < 1.0:
            raise ValueError(
                f"max_age_s={self.max_age_s} is shorter than one period of rate_hz={self.rate_hz} "
                f"({1.0 / self.rate_hz:.4f} s): every sample would already be stale; use at least {2.0 / self.rate_hz:.4f}"
            )
        return self


# --------------------------------------------------------------------------- observation terms


class _TermBase(_Strict):
    scale: float = Field(default=1.0, description="Multiplier applied after the offset.")
    offset: float = Field(default=0.0, description="Added to the raw value before scaling.")
    clip: tuple[float, float] | None = Field(default=None, description="[low, high] applied after scaling.")

    @field_validator("clip")
    @classmethod
    def _clip_ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"clip {list(v)} must be [low, high] with low < high")
        return v

    @field_validator("scale", "offset")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"{v} is not a finite number")
        return v


class JointTerm(_TermBase):
    """Joint positions (rad) or velocities (rad/s) from a JointState stream, in ``joints`` order (policy order)."""

    kind: Literal["joint_position", "joint_velocity"]
    stream: str = Field(description="Name of a JointState stream in 'streams'.")
    joints: tuple[str, ...] = Field(min_length=1, description="Joint names in the order the policy expects.")


class ImuTerm(_TermBase):
    """IMU angular velocity (rad/s) or linear acceleration (m/s^2), IMU body frame."""

    kind: Literal["imu_angular_velocity", "imu_linear_acceleration"]
    stream: str = Field(description="Name of an Imu stream in 'streams'.")
    axes: tuple[Literal["x", "y", "z"], ...] = Field(min_length=1, description="Axes, in policy order.")


class GoalTerm(_TermBase):
    """Goal position in the robot's body frame (m), from the daemon's own wheel/gyro odometry.

    Two values: x (forward) and y (left) of the goal relative to the robot.
    """

    kind: Literal["goal_relative"]
    goal_xy: tuple[float, float] = Field(description="Goal in the odometry frame (the start pose), m.")


ObservationTerm = Annotated[Union[JointTerm, ImuTerm, GoalTerm], Field(discriminator="kind")]


class ObservationConfig(_Strict):
    input_name: str = Field(description="Name of the model input the observation feeds.")
    terms: tuple[ObservationTerm, ...] = Field(min_length=1)


class OdometryConfig(_Strict):
    """Planar odometry integrated each tick: distance from wheel encoders, heading from the gyro."""

    joint_stream: str
    imu_stream: str
    left_joint: str
    right_joint: str
    wheel_radius_m: float = Field(gt=0, le=5)
    wheel_separation_m: float = Field(gt=0, le=20)


# --------------------------------------------------------------------------- engine, action

class EngineConfig(_Strict):
    model: str = Field(description="Model path; relative paths are resolved against the profile's folder.")
    backend: Literal["onnxruntime"] = Field(default="onnxruntime", description="Inference backend.")
    output_name: str = Field(description="Model output holding the action.")
    intra_op_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads; 1 is lowest latency for small MLPs.")


TwistField = Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]


class TwistChannel(_Strict):
    field: TwistField
    index: int = Field(ge=0, description="Index in the model's action vector.")
    scale: float = Field(description="Command = action[index] * scale, in m/s or rad/s.")
    limit: float = Field(gt=0, description="Command is clipped to [-limit, limit] (m/s or rad/s).")


class ActionConfig(_Strict):
    output: Literal["twist"] = "twist"
    topic: str = "/cmd_vel"
    channels: tuple[TwistChannel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_fields(self) -> "ActionConfig":
        fields = [c.field for c in self.channels]
        if len(set(fields)) != len(fields):
            raise ValueError(f"a Twist field is mapped twice: {fields}")
        return self


class LoopConfig(_Strict):
    rate_hz: float = Field(gt=0, le=2000, description="Control loop rate, Hz.")


class WatchdogConfig(_Strict):
    """Limits for the faults that zero the command.

    ``stall_timeout_s``: the stall supervisor (a separate process) publishes zero
    when the loop's heartbeat is older than this. ``recovery_ticks``: healthy
    ticks needed after a fault clears before non-zero commands resume.
    ``startup_grace_s``: time allowed for every required stream to appear
    before it is reported missing (zero commands are published meanwhile).
    """

    stall_timeout_s: float = Field(gt=0, le=5)
    recovery_ticks: int = Field(default=10, ge=1, le=100_000)
    startup_grace_s: float = Field(default=2.0, ge=0, le=600)
    supervisor_poll_hz: float = Field(default=500.0, ge=10, le=5000)


class TransportConfig(_Strict):
    kind: Literal["dds"] = "dds"
    domain_id: int = Field(default=0, ge=0, le=232, description="DDS domain (ROS_DOMAIN_ID).")


class Profile(_Strict):
    """A robot profile. See daemon/profiles/diffbot.yaml for a complete example."""

    name: str
    transport: TransportConfig = TransportConfig()
    loop: LoopConfig
    streams: dict[str, StreamConfig] = Field(min_length=1)
    odometry: OdometryConfig | None = None
    observation: ObservationConfig
    engine: EngineConfig
    action: ActionConfig
    watchdog: WatchdogConfig
    base_dir: Path = Field(default=Path("."), exclude=True, description="Set by load_profile: the profile's folder.")

    @model_validator(mode="after")
    def _cross_references(self) -> "Profile":
        streams = self.streams
        for i, term in enumerate(self.observation.terms):
            where = f"observation.terms[{i}]"
            if isinstance(term, JointTerm):
                s = streams.get(term.stream)
                if s is None or s.type != "sensor_msgs/msg/JointState":
                    raise ValueError(f"{where}.stream={term.stream!r} must name a JointState stream; streams: {sorted(streams)}")
                missing = [j for j in term.joints if j not in s.joints]
                if missing:
                    raise ValueError(f"{where}.joints {missing} are not in streams.{term.stream}.joints {list(s.joints)}; add them there")
            elif isinstance(term, ImuTerm):
                s = streams.get(term.stream)
                if s is None or s.type != "sensor_msgs/msg/Imu":
                    raise ValueError(f"{where}.stream={term.stream!r} must name an Imu stream; streams: {sorted(streams)}")
            elif isinstance(term, GoalTerm) and self.odometry is None:
                raise ValueError(f"{where} (goal_relative) needs an 'odometry' section")
        if self.odometry is not None:
            o = self.odometry
            js = streams.get(o.joint_stream)
            if js is None or js.type != "sensor_msgs/msg/JointState":
                raise ValueError(f"odometry.joint_stream={o.joint_stream!r} must name a JointState stream")
            for j in (o.left_joint, o.right_joint):
                if j not in js.joints:
                    raise ValueError(f"odometry joint {j!r} is not in streams.{o.joint_stream}.joints {list(js.joints)}")
            imu = streams.get(o.imu_stream)
            if imu is None or imu.type != "sensor_msgs/msg/Imu":
                raise ValueError(f"odometry.imu_stream={o.imu_stream!r} must name an Imu stream")
        fed = {t.stream for t in self.observation.terms if isinstance(t, (JointTerm, ImuTerm))}
        if self.odometry is not None:
            fed |= {self.odometry.joint_stream, self.odometry.imu_stream}
        for name in sorted(fed):
            if not streams[name].required:
                raise ValueError(f"streams.{name}.required is false but the observation reads it; a policy must not "
                                 "run on data that may be missing: set required: true")
        period = 1.0 / self.loop.rate_hz
        if self.watchdog.stall_timeout_s <= period:
            raise ValueError(
                f"watchdog.stall_timeout_s={self.watchdog.stall_timeout_s} must be longer than one loop period ({period:.4f} s) "
                f"or every tick would look like a stall; use about 1.5 to 2 periods ({1.75 * period:.4f})"
            )
        return self

    @property
    def model_path(self) -> Path:
        p = Path(self.engine.model)
        return p if p.is_absolute() else (self.base_dir / p)

    def observation_size(self) -> int:
        n = 0
        for t in self.observation.terms:
            if isinstance(t, JointTerm):
                n += len(t.joints)
            elif isinstance(t, ImuTerm):
                n += len(t.axes)
            else:
                n += 2
        return n


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid robot profile {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] in ("extra_forbidden",):
            msg = "unknown field; check its spelling against the documented fields"
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {loc}: {msg}{shown}")
    return "\n".join(lines)


def parse_profile(data: object, base_dir: Path = Path("."), source: str = "<data>") -> Profile:
    """Validate a profile given as plain data (a parsed YAML mapping)."""
    if not isinstance(data, dict):
        raise ProfileError(f"invalid robot profile {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        raise ProfileError(_format_validation_error(err, source)) from None


def load_profile(path: str | Path) -> Profile:
    """Load and validate a YAML robot profile; raises ProfileError naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ProfileError(f"cannot read robot profile {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProfileError(f"robot profile {path} is not valid YAML: {err}") from None
    profile = parse_profile(data, base_dir=path.resolve().parent, source=str(path))
    if not profile.model_path.is_file():
        raise ProfileError(f"invalid robot profile {path}:\n  engine.model: file not found: {profile.model_path}")
    return profile


def default_profile_path() -> Path:
    """The embedded default: the simulated differential-drive robot."""
    return Path(__file__).resolve().parent / "profiles" / "diffbot.yaml"
