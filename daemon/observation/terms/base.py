"""What every observation term is made of: its config model's hooks, the contexts they get, the computing kinds.

A term's **config model** (a pydantic model, one ``kind`` literal as the discriminator) answers, from the
validated profile (a :class:`TermContext`): how many values it puts into the observation (``size``), which
streams it reads (``streams``; ``latency_streams``: those whose freshness defines the command latency) and
whether its references hold (``check``: the stream exists and has the right type, the joints exist, the
action is of a kind the term can use). Its **computing object**, made once by the term's factory from a
:class:`TermInputs`, is one of three kinds, so that the builder's tick stays a few loops and ufuncs:

* ``stage = "gather"``: ``source`` and ``index`` (intp) arrays; the builder does
  ``source.take(index, out=raw_slice, mode="clip")`` each tick, then the batched affine and clip;
* ``stage = "fill"``: ``fill()`` writes the raw values into its raw slice; the batched affine and clip follow;
* ``stage = "final"``: ``compute()`` writes its finished values (its own affine, clip, history) into its slice
  of the work vector, after the batch.

Gather and fill terms get ``clip((raw + offset) * scale)`` from the builder over the whole vector at once.
Nothing a computing object does per tick may allocate (tests/daemon/observation/terms/test_properties.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping

import numpy as np

from edgepilot.daemon.config.base import ScaledTermBase

if TYPE_CHECKING:  # the profile imports this package to build its term union
    from edgepilot.daemon.observation.odometry import WheelOdometry
    from edgepilot.daemon.observation.policy_state import PolicyState
    from edgepilot.daemon.streams.ingest import StreamSnapshot

JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
TWIST_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
TwistField = Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]
# Terms take the sample layouts (Imu slices, Twist field indices) from the stream kinds (daemon/streams/kinds/),
# which sit below the profile schema and import none of it.


@dataclass(frozen=True)
class TermContext:
    """What a term's config may look at in the validated profile (built by ``Profile.term_context()``).

    ``streams``: the profile's stream configs by name; ``odometry``: its odometry section or None;
    ``action_joints``: the joint action's policy joint order, () for a twist action; ``default_positions``:
    the joint action's default angles ({} for a twist action); ``policy_period_s``: the policy's period.
    """

    streams: Mapping[str, Any]
    odometry: Any = None
    action_joints: tuple[str, ...] = ()
    default_positions: Mapping[str, float] = field(default_factory=dict)
    policy_period_s: float = 0.0

    @property
    def joint_action(self) -> bool:
        return bool(self.action_joints)

    def stream_of(self, where: str, name: str, types: tuple[str, ...], what: str) -> Any:
        """The stream config ``name``, which must exist and have one of ``types``; else ValueError naming ``where``."""
        s = self.streams.get(name)
        if s is None or s.type not in types:
            raise ValueError(f"{where}.stream={name!r} must name {what}; streams: {sorted(self.streams)}")
        return s


@dataclass(frozen=True)
class TermInputs:
    """What a term's factory gets to build its computing object (once, at builder construction)."""

    context: TermContext
    snapshots: Mapping[str, "StreamSnapshot"]
    odometry: "WheelOdometry | None"
    policy_state: "PolicyState"
    raw: np.ndarray  # the term's slice of the raw vector: gather/fill terms write here
    out: np.ndarray  # the term's slice of the float64 work vector: final terms write here, after the batch


class TermConfig(ScaledTermBase):
    """Base of every term's config model: ``scale``, ``offset``, ``clip`` and the hooks the profile calls."""

    def size(self, ctx: TermContext) -> int:
        """Values this term puts into the observation."""
        raise NotImplementedError

    def values_per_tick(self, ctx: TermContext) -> int:
        """Values this term computes per tick: the length of a per-element ``scale``/``offset``/``clip``
        (``size`` without history)."""
        return self.size(ctx)

    def describe_values(self, ctx: TermContext) -> str:
        """What the values per tick are, for error messages (``fields ['linear.x', 'angular.z']``)."""
        return f"{self.values_per_tick(ctx)} values per tick"

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        """Names of the streams this term reads (its stream, or the odometry's)."""
        return ()

    def latency_streams(self, ctx: TermContext) -> tuple[str, ...]:
        """Streams whose freshest receipt defines the command's latency; by default every stream it reads."""
        return self.streams(ctx)

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        """(stream, field) pairs of the message fields it reads (position, velocity, angular_velocity, ...)."""
        return ()

    def check(self, ctx: TermContext, where: str) -> None:
        """Raise ValueError naming ``where`` (``observation.terms[i]``) if a reference does not hold."""


class ComputedTerm:
    """Base of the computing objects; ``stage`` is one of gather, fill, final (module docstring)."""

    stage: ClassVar[str]


class GatherTerm(ComputedTerm):
    """Raw values = ``source[index]``, gathered by the builder into the term's raw slice."""

    stage = "gather"

    def __init__(self, source: np.ndarray, index: list[int] | np.ndarray) -> None:
        self.source = source
        self.index = np.asarray(index, dtype=np.intp)
        if self.index.size and (self.index.min() < 0 or self.index.max() >= source.shape[0]):
            raise IndexError(f"term index {self.index.tolist()} outside its source of {source.shape[0]} values")


class FillTerm(ComputedTerm):
    """``fill()`` writes the raw values into ``self.raw`` (the term's raw slice)."""

    stage = "fill"

    def __init__(self, raw: np.ndarray) -> None:
        self.raw = raw

    def fill(self) -> None:
        raise NotImplementedError


class FinalTerm(ComputedTerm):
    """``compute()`` writes the finished values into ``self.out`` (the term's slice of the work vector)."""

    stage = "final"

    def __init__(self, out: np.ndarray) -> None:
        self.out = out

    def compute(self) -> None:
        raise NotImplementedError
