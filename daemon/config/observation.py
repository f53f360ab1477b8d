"""The profile's ``observation`` and ``odometry`` sections, and their cross-references with the streams.

The terms themselves (config models, sizes, checks, computing objects) are registered in
daemon/observation/terms/; ``observation.terms`` is the union of every registered kind, discriminated on
``kind``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.base import StrictModel
from edgepilot.daemon.config.joint_policy import JointActionConfig
from edgepilot.daemon.observation.terms import TermContext
from edgepilot.daemon.observation.terms import registry as term_registry
from edgepilot.daemon.observation.terms.stacked import HistoryOrder

ObservationTerm = term_registry.term_union()


class ObservationHistoryConfig(StrictModel):
    """The whole observation stacked over its last ``length`` ticks (docs/observation.md, "History layouts").

    ``layout: time_major``: whole frames (every term of one tick) one after another, as legged_gym-style obs
    histories; ``term_major``: each term's own ``length`` values in turn, as Isaac Lab flattens its terms'
    histories (the same as giving every term ``history: length``, for every kind of term). ``order``:
    ``oldest_first`` ``[x(t-h+1) ... x(t)]`` or ``newest_first`` ``[x(t) ... x(t-h+1)]``. After activation
    the first frame fills every slot.
    """

    length: int = Field(ge=1, le=64, description="Ticks stacked, h.")
    layout: Literal["time_major", "term_major"] = Field(description="Frames one after another, or term by term.")
    order: HistoryOrder = Field(default="oldest_first", description="oldest_first or newest_first.")


class ObservationConfig(StrictModel):
    input_name: str = Field(description="Name of the model input the observation feeds.")
    history: ObservationHistoryConfig | None = Field(
        default=None, description="Stack the whole observation over ticks (instead of per-term history).")
    # The union is built from the registry at import (and rebuilt by rebuild_observation_config).
    terms: tuple[ObservationTerm, ...] = Field(  # type: ignore[valid-type]
        min_length=1, description="Observation terms, in policy order (kinds: daemon/observation/terms/).")

    @model_validator(mode="after")
    def _one_history(self) -> "ObservationConfig":
        if self.history is None:
            return self
        terms: tuple[Any, ...] = self.terms
        for i, term in enumerate(terms):
            # Both at once would be ambiguous: stacked per term inside each frame, then frames stacked again?
            if getattr(term, "history", 1) != 1:
                raise ValueError(f"observation.terms[{i}] ({term.kind}).history is {term.history} and "
                                 "observation.history is set: stack either per term (each term's history) or the "
                                 "whole observation (observation.history), not both; remove one")
            if "history_order" in term.model_fields_set:
                raise ValueError(f"observation.terms[{i}] ({term.kind}).history_order is set and observation.history "
                                 "is set: the order of the whole observation's history is observation.history.order; "
                                 "remove the term's history_order")
        return self


def rebuild_observation_config() -> None:
    """Rebuild ``ObservationConfig`` with the registry's current union (the profile then rebuilds itself)."""
    global ObservationTerm
    ObservationTerm = term_registry.term_union()
    ObservationConfig.model_fields["terms"].annotation = tuple[ObservationTerm, ...]  # type: ignore[valid-type]
    ObservationConfig.model_rebuild(force=True)


class OdometryConfig(StrictModel):
    """Planar odometry integrated each tick: distance from wheel encoders, heading from the gyro."""

    joint_stream: str
    imu_stream: str
    left_joint: str
    right_joint: str
    wheel_radius_m: float = Field(gt=0, le=5)
    wheel_separation_m: float = Field(gt=0, le=20)


def term_context(profile: Any) -> TermContext:
    """What the observation terms see of a profile (daemon/observation/terms/base.py)."""
    act = profile.action
    joint = isinstance(act, JointActionConfig)
    return TermContext(streams=profile.streams, odometry=profile.odometry, action_joints=act.joints if joint else (),
                       default_positions=act.default_positions if joint else {},
                       policy_period_s=(act.decimation if joint else 1) / profile.loop.rate_hz)


def frame_size(profile: Any) -> int:
    """Values of one tick's observation (every term's ``size``, its own history included)."""
    ctx = term_context(profile)
    return sum(t.size(ctx) for t in profile.observation.terms)


def observation_size(profile: Any) -> int:
    """Values of the model input: one frame, times ``observation.history.length`` where that is set."""
    h = profile.observation.history
    return frame_size(profile) * (1 if h is None else h.length)


def check_observation(profile: Any) -> None:
    """Every term's references (its own ``check``), then the odometry's; raises ValueError naming the field."""
    ctx = term_context(profile)
    for i, term in enumerate(profile.observation.terms):
        term.check(ctx, f"observation.terms[{i}]")
        # After the references: the count of values per tick may depend on them (joints default to action.joints).
        term.check_elementwise(term.values_per_tick(ctx), f"observation.terms[{i}] ({term.kind})",
                               term.describe_values(ctx))
    o = profile.odometry
    if o is None:
        return
    streams = profile.streams
    js = streams.get(o.joint_stream)
    if js is None or js.type != "sensor_msgs/msg/JointState":
        raise ValueError(f"odometry.joint_stream={o.joint_stream!r} must name a JointState stream")
    for j in (o.left_joint, o.right_joint):
        if j not in js.joints:
            raise ValueError(f"odometry joint {j!r} is not in streams.{o.joint_stream}.joints {list(js.joints)}")
    imu = streams.get(o.imu_stream)
    if imu is None or imu.type != "sensor_msgs/msg/Imu":
        raise ValueError(f"odometry.imu_stream={o.imu_stream!r} must name an Imu stream")
    for name in sorted({o.joint_stream, o.imu_stream}):
        if not streams[name].required:
            raise ValueError(f"streams.{name}.required is false but the observation reads it; a policy must not "
                             "run on data that may be missing: set required: true")


def observation_fields_read(profile: Any, stream: str) -> frozenset[str]:
    """The message fields of ``stream`` the observation terms read (position, velocity, angular_velocity, ...);
    the odometry's and the action's reads are not included."""
    ctx = term_context(profile)
    return frozenset(f for t in profile.observation.terms for s, f in t.fields_read(ctx) if s == stream)
