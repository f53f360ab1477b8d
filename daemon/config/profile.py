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
from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, ValidationError, model_validator


from edgepilot.daemon.config.base import Bounded, StrictModel
from edgepilot.daemon.config.calibration_sections import ResidualsConfig
from edgepilot.daemon.config.dds_security import DdsSecurityConfig
from edgepilot.daemon.config.detectors import DetectorConfig, check_detectors
from edgepilot.daemon.config.engine import EngineConfig
from edgepilot.daemon.config.legged import LeggedConfig, check_legged
from edgepilot.daemon.config.model_io import check_contract_names, check_image_inputs
from edgepilot.daemon.config.profile_errors import format_validation_error
from edgepilot.daemon.config.topics import FIXED_OUTPUT_TOPICS, TopicName
from edgepilot.daemon.config.yaml_loading import YamlProfileError, load_yaml_text
from edgepilot.daemon.streams.kinds.image import COMPRESSED_ENCODINGS  # noqa: F401 - kept importable from here
from edgepilot.daemon.streams.kinds.registry import kind_for, type_names
from edgepilot.daemon.config.joint_policy import JointActionConfig, check_joint_action
from edgepilot.daemon.config.observation import (ObservationConfig, OdometryConfig, check_observation,
                                                 observation_size, rebuild_observation_config, term_context)
from edgepilot.daemon.observation.terms import TermContext
from edgepilot.daemon.observation.terms import registry as term_registry
# Term config models, re-exported for the modules that import them from here (daemon/service.py, streams/ingest.py).
from edgepilot.daemon.observation.terms import (LEGGED_TERMS, BaseAngularVelocityTerm, GaitPhaseTerm,  # noqa: F401
                                                GoalTerm, ImuTerm, JointPositionRelativeTerm, JointTerm,
                                                JointVelocityPolicyTerm, LastActionTerm, ProjectedGravityTerm,
                                                TwistCommandTerm, VelocityCommandTerm)


class ProfileError(ValueError):
    """A profile that cannot be used. The message names the field, the value and the fix."""


# --------------------------------------------------------------------------- streams

def _known_stream_type(v: object) -> object:
    """``type:`` names a registered stream kind (daemon/streams/kinds/: one descriptor per message type); the
    message is pydantic's own for a Literal of the registered names."""
    names = type_names()
    if isinstance(v, str) and v in names:
        return v
    expected = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}" if len(names) > 1 else repr(names[0])
    raise ValueError(f"Input should be {expected}")


#: A registered stream kind's name: sensor_msgs/msg/JointState, Imu, Image, CompressedImage,
#: geometry_msgs/msg/Twist, TwistStamped (daemon/streams/kinds/registry.py).
StreamType = Annotated[str, BeforeValidator(_known_stream_type)]
TWIST_INPUT_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
# Encodings an image stream may declare (sensor_msgs/image_encodings names). The sample the loop sees:
# rgb8/bgr8/rgba8 -> (h, w, 3) uint8 RGB; mono8 -> (h, w, 1) uint8; mono16/16UC1 -> (h, w, 1) uint16;
# 32FC1 -> (h, w, 1) float32 (see daemon/streams/image_conversion.py).
ImageEncoding = Literal["rgb8", "bgr8", "rgba8", "mono8", "mono16", "16UC1", "32FC1"]


class StreamConfig(StrictModel):
    """One sensor stream the daemon subscribes to.

    The stream is stale when its newest sample is older than ``max_age_s``
    (receipt time, monotonic clock); a required stale or missing stream is a
    fault that zeroes the command.
    """

    topic: TopicName = Field(description="ROS 2 topic name, e.g. /joint_states.")
    type: StreamType = Field(description="ROS 2 message type.")
    rate_hz: float = Field(gt=0, le=10_000, description="Expected publish rate, Hz.")
    max_age_s: float = Field(gt=0, le=10, description="Largest age of the newest sample before the stream is stale, s.")
    required: bool = Field(default=True, description="A required stream that is stale or missing is a fault.")
    queue_depth: int = Field(default=64, ge=2, le=65536, description="Ring buffer capacity, samples.")
    joints: tuple[str, ...] = Field(default=(), description="JointState only: joint names stored, in this order.")
    # 16384 px per side is beyond any robot camera; a 1e9 x 1e9 frame would try to preallocate exabytes.
    width: int = Field(default=0, ge=0, le=16384, description="Image only: expected width, px.")
    height: int = Field(default=0, ge=0, le=16384, description="Image only: expected height, px.")
    encoding: ImageEncoding | Literal[""] = Field(
        default="", description="Image: the encoding messages must carry; CompressedImage: what the jpeg/png must decode to.")
    qos: Literal["sensor_data", "reliable"] | None = Field(
        default=None, description="Subscription QoS; default: sensor_data (best effort) for sensors, reliable for Twist inputs.")
    # Integrity limits (daemon/streams/integrity.py): each off unless set, so a profile without them behaves as before.
    value_range: dict[str, tuple[Bounded, Bounded]] = Field(
        default_factory=dict, description="Physical limits per field, {field: [low, high]} in the field's unit "
        "(JointState: position rad, velocity rad/s; Imu: angular_velocity rad/s, linear_acceleration m/s^2, orientation; "
        "Twist: linear m/s, angular rad/s). A sample outside them is a fault (out_of_range:<stream>). Default: none.")
    max_identical_s: float | None = Field(
        default=None, gt=0, le=60, description="Frozen stream: fault (frozen:<stream>) when messages keep arriving but "
        "their values have been bit-identical for longer than this, s. At least max_age_s. Only for sensors whose noise "
        "makes exact repeats impossible (IMUs, cameras), never for encoders that rest. Default: off.")
    max_stamp_skew_s: float | None = Field(
        default=None, gt=0, le=3600, description="Largest |receipt wall-clock time - header.stamp|, s. A message beyond it "
        "is dropped and counted, and the stream faults (stamp:<stream>) until stamps have been good for max_age_s: stale "
        "stamps and clock jumps. Sensor and daemon clocks must be synchronised (chrony/PTP). Default: off.")
    reject_out_of_order: bool = Field(
        default=False, description="Drop and count (duplicates, reordered) a message whose header stamp is not newer "
        "than the last accepted one; no fault. Needs max_stamp_skew_s. Leave off for a topic several publishers share.")
    max_rate_hz: float | None = Field(
        default=None, gt=0, le=100_000, description="Fault (rate:<stream>) while new messages (duplicates and rejected "
        "stamps not counted) arrive faster than this, Hz, over a sliding window of max(0.1 s, 5 periods of rate_hz): "
        "a babbling driver, two publishers on one topic. "
        "Above rate_hz (about twice it). Default: off.")

    max_publishers: int | None = Field(
        default=1, ge=1, le=64, description="Most DDS writers the stream's topic may have at once: more is a fault "
        "(second_publisher:<stream>), since two drivers (or a bag played beside the robot, or another user's node) "
        "interleave conflicting data that no other check can tell apart. null: any number. dds transport only "
        "(publication matched count of the stream's reader). A driver that dies without unregistering counts until "
        "its DDS lease expires (Cyclone: 10 s) if it restarts sooner. Default: 1.")

    @model_validator(mode="after")
    def _type_specific_fields(self) -> "StreamConfig":
        kind_for(self.type).check_config(self)  # the kind's own fields: JointState joints, image size and encoding
        if self.max_age_s * self.rate_hz < 1.0:
            raise ValueError(
                f"max_age_s={self.max_age_s} is shorter than one period of rate_hz={self.rate_hz} "
                f"({1.0 / self.rate_hz:.4f} s): every sample would already be stale; use at least {2.0 / self.rate_hz:.4f}"
            )
        return self

    @model_validator(mode="after")
    def _integrity_limits(self) -> "StreamConfig":
        fields = tuple(kind_for(self.type).value_fields)  # the fields value_range may limit, per kind
        for name, (lo, hi) in self.value_range.items():
            if name not in fields:
                allowed = f"one of {list(fields)}" if fields else "none: pixels need no range"
                raise ValueError(f"value_range.{name}: {self.type} has no such field; allowed: {allowed}")
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"value_range.{name}={[lo, hi]} must be finite [low, high] with low < high")
        if self.max_identical_s is not None and self.max_identical_s < self.max_age_s:
            raise ValueError(f"max_identical_s={self.max_identical_s} is shorter than max_age_s={self.max_age_s}: a healthy "
                             f"sample may be that old, so it would look frozen; use at least {self.max_age_s}")
        if (self.max_stamp_skew_s or self.reject_out_of_order) and not kind_for(self.type).has_header:
            raise ValueError(f"max_stamp_skew_s and reject_out_of_order read header stamps; {self.type} has no header")
        if self.reject_out_of_order and not self.max_stamp_skew_s:
            raise ValueError("reject_out_of_order needs max_stamp_skew_s: without it one message stamped in the future "
                             "would make every later message look out of order; set max_stamp_skew_s (e.g. 0.1)")
        if self.max_rate_hz is not None and self.max_rate_hz <= self.rate_hz:
            raise ValueError(f"max_rate_hz={self.max_rate_hz} must be above rate_hz={self.rate_hz} or a healthy stream "
                             f"is a burst; use about {2 * self.rate_hz:g}")
        return self


# --------------------------------------------------------------------------- observation, odometry
# The sections: daemon/config/observation.py (ObservationConfig, OdometryConfig); the terms, one file each, in a
# registry: daemon/observation/terms/.


# --------------------------------------------------------------------------- engine, action

TwistField = Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]


class TwistChannel(StrictModel):
    field: TwistField
    index: int = Field(ge=0, le=4095, description="Index in the model's action vector.")
    scale: Bounded = Field(description="Command = action[index] * scale, in m/s or rad/s.")
    # 100 m/s or rad/s is beyond any ground robot; the limit is the last bound before the motors.
    limit: float = Field(gt=0, le=100, description="Command is clipped to [-limit, limit] (m/s or rad/s).")


class ActionConfig(StrictModel):
    output: Literal["twist", "twist_stamped"] = Field(
        default="twist", description="geometry_msgs/Twist, or TwistStamped (header: the transport's clock, frame_id).")
    topic: TopicName = "/cmd_vel"
    frame_id: str = Field(default="base_link", description="twist_stamped only: header.frame_id of each command.")
    channels: tuple[TwistChannel, ...] = Field(min_length=1)
    send_thread: bool = Field(
        default=False, description="Publish from a sender thread (daemon/action/command_sender.py) instead of the loop's: "
        "~35 us less per tick on Cyclone DDS; with realtime.loop_cpus it shares the loop's core and adds no latency, "
        "without, ~50 us (bench/loop_under_load.py).")

    @model_validator(mode="after")
    def _unique_fields(self) -> "ActionConfig":
        fields = [c.field for c in self.channels]
        if len(set(fields)) != len(fields):
            raise ValueError(f"a Twist field is mapped twice: {fields}")
        return self


def _action_kind(v: object) -> str:
    # pydantic callable discriminator: v is the raw mapping or an already-built model (either action kind).
    out = v.get("output", "twist") if isinstance(v, dict) else getattr(v, "output", "twist")
    return "joint" if out in ("joint_positions", "joint_torques") else "twist"


# action.output twist/twist_stamped (ActionConfig) or joint_positions/joint_torques (JointActionConfig).
ActionOrJointAction = Annotated[Union[Annotated[ActionConfig, Tag("twist")], Annotated[JointActionConfig, Tag("joint")]],
                                Discriminator(_action_kind)]


class LoopSyncConfig(StrictModel):
    """Phase-lock the loop's ticks to a sensor stream (daemon/timing/phase_lock.py): each tick starts about ``offset_s``
    after that stream's newest arrival, at the loop's own fixed rate. ``stream`` must publish at a whole multiple
    of ``loop.rate_hz``. ``gain``: fraction of the phase error corrected per tick; ``max_step_s``: largest shift
    of one tick (default 1 % of the loop period), which also bounds the jitter the lock adds."""

    stream: str
    offset_s: float = Field(default=0.0002, ge=0, le=0.1, description="Wanted age of the stream's newest sample "
                            "at tick start, s: margin for its arrival jitter.")
    gain: float = Field(default=0.1, gt=0, le=1)
    max_step_s: float | None = Field(default=None, gt=0, le=0.01)
    max_wait_s: float = Field(default=0.00015, ge=0, le=0.01, description="How long a tick may wait past its "
                              "deadline for a late sample of the stream, s (counted as tick lateness); 0: never.")


class LoopConfig(StrictModel):
    rate_hz: float = Field(gt=0, le=2000, description="Control loop rate, Hz.")
    sync: LoopSyncConfig | None = Field(default=None, description="Phase-lock ticks to a sensor stream.")

    def sync_max_step_s(self) -> float:
        s = self.sync
        return s.max_step_s if s is not None and s.max_step_s is not None else 0.01 / self.rate_hz


class WatchdogConfig(StrictModel):
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


class TransportConfig(StrictModel):
    """How messages enter and commands leave (see daemon/transport/).

    ``auto``: ``ros2`` when rclpy is importable (a ROS 2 install is sourced), else ``dds``. ``ros2``: an rclpy
    lifecycle node. ``dds``: Cyclone DDS speaking the ROS 2 wire protocol without ROS. ``replay``: a rosbag2
    recording (``bag``) played through the daemon on a simulated clock. ``record``: when set, everything received
    and published is also written to this rosbag2 MCAP file.
    """

    kind: Literal["auto", "dds", "ros2", "replay"] = "auto"
    domain_id: int = Field(default=0, ge=0, le=232, description="DDS domain (ROS_DOMAIN_ID).")
    node_name: str = Field(default="edgepilot", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="ros2 only: node name.")
    namespace: str = Field(default="", description="ros2 only: node namespace, e.g. /robot1.")
    bag: str = Field(default="", description="replay only: rosbag2 recording (.mcap, .db3 or bag folder).")
    replay_rate: float = Field(default=0.0, ge=0, le=1000, description="replay only: speed factor; 0 = as fast as possible.")
    record: str = Field(default="", description="Record received and published messages to this .mcap file (empty: off).")
    security: DdsSecurityConfig | None = Field(
        default=None, description="dds only: DDS Security files (daemon/config/dds_security.py); off: any process on "
        "the domain may publish the daemon's inputs and /cmd_vel.")

    @model_validator(mode="after")
    def _replay_needs_a_bag(self) -> "TransportConfig":
        if self.kind == "replay" and not self.bag:
            raise ValueError("transport.kind=replay needs 'bag': the rosbag2 recording to play (.mcap, .db3 or folder)")
        if self.security is not None and self.kind != "dds":
            raise ValueError(f"transport.security needs transport.kind: dds (got {self.kind!r}); a ROS 2 install "
                             "configures DDS Security through its own enclaves (ROS_SECURITY_*)")
        return self


class IngestConfig(StrictModel):
    """Where sensor callbacks run (daemon/streams/ingest_process.py). ``process``: in a child process that writes the
    stream rings (and the integrity checks' words) in shared memory, so the loop's process runs no callbacks and
    never waits for one to release the interpreter lock; dds transport only, and not with ``transport.record``.
    ``in_process``: on the transport's threads in the daemon's process. ``auto`` (default): ``process`` when the
    daemon runs on the plain dds transport, ``in_process`` on replay, ros2 (rclpy), or while recording; decided
    when the daemon is built, from the transport it was given (ingest_process.resolve_ingest_mode)."""

    mode: Literal["auto", "in_process", "process"] = "auto"


def _cpu_set(v: tuple[int, ...]) -> tuple[int, ...]:
    if len(set(v)) != len(v):
        raise ValueError(f"CPU listed twice in {list(v)}; list each CPU once")
    return tuple(sorted(v))


#: CPUs by Linux number (as in /sys/devices/system/cpu, `taskset -c`), each once.
CpuSet = Annotated[tuple[Annotated[int, Field(ge=0, le=4095)], ...], Field(min_length=1), AfterValidator(_cpu_set)]


class RealtimeConfig(StrictModel):
    """Real-time scheduling (daemon/timing/realtime.py), applied where permitted and reported either way.

    ``loop_priority``: SCHED_FIFO priority of the control loop's thread (the stall supervisor gets one more);
    ``ingest_priority``: of the proprioceptive ingest process (image ingest stays ordinary); null: leave the
    scheduler alone. ``loop_cpus``: the CPUs (Linux numbering) the loop's thread and its command sender may run
    on; ``ingest_cpus``: the ingest processes' (``ingest.mode`` process or auto); null: any CPU. ``gc_freeze`` and
    ``switch_interval_s`` tune the loop's interpreter for the run.
    """

    loop_priority: int | None = Field(default=None, ge=1, le=97)
    ingest_priority: int | None = Field(default=None, ge=1, le=97)
    loop_cpus: CpuSet | None = None
    ingest_cpus: CpuSet | None = None
    gc_freeze: bool = True
    switch_interval_s: float = Field(default=0.0002, gt=0, le=0.005)

    def supervisor_priority(self) -> int | None:
        """The stall supervisor's: one above the loop (daemon/timing/realtime.py)."""
        return None if self.loop_priority is None else self.loop_priority + 1

    def helper_priority(self) -> int | None:
        """The loop process's status and diagnostics threads': one below the loop (daemon/timing/realtime.py)."""
        return self.loop_priority - 1 if self.loop_priority is not None and self.loop_priority > 1 else None

    @model_validator(mode="after")
    def _ingest_below_loop(self) -> "RealtimeConfig":
        if self.loop_priority is not None and self.ingest_priority is not None and self.ingest_priority >= self.loop_priority:
            raise ValueError(f"realtime.ingest_priority={self.ingest_priority} must be below realtime.loop_priority="
                             f"{self.loop_priority}: the loop must preempt the ingest, not wait for it; use "
                             f"{max(1, self.loop_priority - 10)}")
        return self

    @model_validator(mode="after")
    def _cpus_apart(self) -> "RealtimeConfig":
        # A shared core gives back what pinning is for: the loop's cache and its core's time to itself.
        shared = sorted(set(self.loop_cpus or ()) & set(self.ingest_cpus or ()))
        if shared:
            raise ValueError(f"realtime.loop_cpus {list(self.loop_cpus or ())} and realtime.ingest_cpus "
                             f"{list(self.ingest_cpus or ())} share CPU {shared}: the ingest would take the loop's core; "
                             "give them disjoint CPUs, or null for either to let it run anywhere")
        return self


class Profile(StrictModel):
    """A robot profile. See daemon/profiles/diffbot.yaml for a complete example."""

    name: str
    transport: TransportConfig = TransportConfig()
    loop: LoopConfig
    streams: dict[str, StreamConfig] = Field(min_length=1)
    odometry: OdometryConfig | None = None
    observation: ObservationConfig
    engine: EngineConfig
    action: ActionOrJointAction
    watchdog: WatchdogConfig
    # Sim-to-real calibration (edgepilot.calibration; checked against the streams by load_profile).
    compensation: str | None = Field(default=None, description="Compensation file from `edgepilot calibrate fit`, "
                                     "applied every tick and reloaded on SIGHUP; relative to the profile's folder.")
    residuals: ResidualsConfig | None = Field(default=None, description="Residual logging to MCAP against a sim model.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Where sensor callbacks run.")
    realtime: RealtimeConfig = Field(default_factory=RealtimeConfig, description="Real-time scheduling.")
    detectors: dict[str, DetectorConfig] = Field(default_factory=dict, description="Detection models on camera "
                                                 "frames, beside the loop (daemon/config/detectors.py).")
    legged: LeggedConfig | None = Field(default=None, description="Operating modes and legged safety limits, joint "
                                        "actions only (daemon/config/legged.py).")
    base_dir: Path = Field(default=Path("."), exclude=True, description="Set by load_profile: the profile's folder.")

    @model_validator(mode="after")
    def _ingest_process_limits(self) -> "Profile":
        # What the profile alone shows; the transport actually made is checked again by the daemon.
        if self.ingest.mode == "process":
            if self.transport.kind != "dds":
                raise ValueError(f"ingest.mode=process needs transport.kind=dds (got {self.transport.kind!r}); "
                                 "use ingest.mode: auto (a process on DDS, the daemon's process otherwise) or in_process")
            if self.transport.record:
                raise ValueError(f"ingest.mode=process cannot record received messages (transport.record="
                                 f"{self.transport.record!r}): the ingest process receives them; use ingest.mode: auto "
                                 "or in_process to record")
        return self

    @model_validator(mode="after")
    def _topics_do_not_clash(self) -> "Profile":
        # The daemon's process publishes these; reading one of them with a listener there deadlocks Cyclone DDS
        # once another node publishes it too (daemon/transport/dds/topic_guard.py).
        outputs = {self.action.topic: "action.topic", "/diagnostics": "the diagnostics output"}
        for name, s in self.streams.items():
            if s.topic in outputs:
                raise ValueError(f"streams.{name}.topic={s.topic!r} is also {outputs[s.topic]}, which the daemon "
                                 "publishes: a stream must not read a topic the daemon writes (it would hear its own "
                                 "commands, and Cyclone DDS deadlocks when another node publishes it too); rename one")
        return self

    @model_validator(mode="after")
    def _cross_references(self) -> "Profile":
        check_observation(self)  # every term's references (daemon/observation/terms/) and the odometry's
        check_joint_action(self)  # action.stream and action.joints against the streams
        check_contract_names(self.engine, self.observation.input_name, self.engine.output_name)
        check_image_inputs(self.engine, self.streams)
        check_detectors(self)  # streams, files and topics of the detectors section
        check_legged(self)  # modes and limits against the action and streams
        self._check_loop_sync()
        period = 1.0 / self.loop.rate_hz
        if self.watchdog.stall_timeout_s <= period:
            raise ValueError(
                f"watchdog.stall_timeout_s={self.watchdog.stall_timeout_s} must be longer than one loop period ({period:.4f} s) "
                f"or every tick would look like a stall; use about 1.5 to 2 periods ({1.75 * period:.4f})"
            )
        return self

    def _check_loop_sync(self) -> None:
        sync = self.loop.sync
        if sync is None:
            return
        s = self.streams.get(sync.stream)
        if s is None:
            raise ValueError(f"loop.sync.stream={sync.stream!r} is not a stream; streams: {sorted(self.streams)}")
        k = s.rate_hz / self.loop.rate_hz
        if round(k) < 1 or abs(k - round(k)) > 0.01 * k:
            raise ValueError(f"loop.sync.stream={sync.stream!r} publishes at {s.rate_hz:g} Hz, not a whole multiple of "
                             f"loop.rate_hz={self.loop.rate_hz:g}: ticks cannot all sit just after an arrival; lock to a "
                             "stream at 1, 2, 3 ... times the loop rate, or remove loop.sync")
        period = 1.0 / s.rate_hz
        if sync.offset_s >= 0.5 * period:
            raise ValueError(f"loop.sync.offset_s={sync.offset_s} must be under half the period of {sync.stream!r} "
                             f"({0.5 * period:.6f} s): a longer wait only adds latency (the next arrival comes sooner); "
                             "0.0002 suits a stream received in the same host")
        if not s.required:
            raise ValueError(f"loop.sync.stream={sync.stream!r} is not required; lock to a stream the robot always has")

    @property
    def model_path(self) -> Path:
        p = Path(self.engine.model)
        return p if p.is_absolute() else (self.base_dir / p)

    def term_context(self) -> TermContext:
        """What the observation terms see of this profile (daemon/observation/terms/base.py)."""
        return term_context(self)

    def observation_size(self) -> int:
        return observation_size(self)  # one frame x observation.history.length (daemon/config/observation.py)


def _rebuild_term_union() -> None:
    # A term registered after this module was imported (a test's toy term): the union is rebuilt from the registry.
    rebuild_observation_config()
    Profile.model_rebuild(force=True)


term_registry.on_change(_rebuild_term_union)


def parse_profile(data: object, base_dir: Path = Path("."), source: str = "<data>") -> Profile:
    """Validate a profile given as plain data (a parsed YAML mapping)."""
    if not isinstance(data, dict):
        raise ProfileError(f"invalid robot profile {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        raise ProfileError(format_validation_error(err, source, data)) from None


def load_profile(path: str | Path) -> Profile:
    """Load and validate a YAML robot profile; raises ProfileError naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ProfileError(f"cannot read robot profile {path}: {err.strerror}") from None
    try:
        data = load_yaml_text(text)
    except YamlProfileError as err:
        raise ProfileError(f"invalid robot profile {path}: {err}") from None
    except (yaml.YAMLError, RecursionError) as err:
        raise ProfileError(f"robot profile {path} is not valid YAML: {err}") from None
    profile = parse_profile(data, base_dir=path.resolve().parent, source=str(path))
    if not profile.model_path.is_file():
        raise ProfileError(f"invalid robot profile {path}:\n  engine.model: file not found: {profile.model_path}")
    if profile.compensation is not None or profile.residuals is not None:
        from edgepilot.daemon.config.section_checks import run_section_checks

        run_section_checks(profile, str(path))  # edgepilot.calibration's (edgepilot/__init__.py): ProfileError naming the field
    return profile


def default_profile_path() -> Path:
    """The embedded default: the simulated differential-drive robot."""
    return Path(__file__).resolve().parents[1] / "profiles" / "diffbot.yaml"
