"""Where the model's input tensor is assembled, once per tick, into one preallocated array."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .action import TWIST_FIELD_INDEX
from .config import LEGGED_TERMS, GoalTerm, ImuTerm, JointActionConfig, JointTerm, Profile, TwistCommandTerm
from .joint_observation import LeggedTerm, PolicyState, make_legged_term
from .odometry import WheelOdometry
from .streams import IMU_ANGULAR_VELOCITY, IMU_AXIS_INDEX, IMU_LINEAR_ACCELERATION, StreamSnapshot


class _Segment:
    """One observation term: where it reads from, where it writes, and its affine map and clip."""

    __slots__ = ("out", "source", "index", "offset", "scale", "lo", "hi", "goal_x", "goal_y", "kind",
                 "offset_a", "scale_a", "lo_a", "hi_a", "raw", "tmp")

    def __init__(self, out: np.ndarray, kind: str, offset: float, scale: float, clip: tuple[float, float] | None) -> None:
        self.out = out
        self.kind = kind
        self.offset = offset
        self.scale = scale
        self.lo, self.hi = clip if clip is not None else (-np.inf, np.inf)
        # The same constants as arrays: ufuncs on arrays with out= allocate nothing, a Python float operand
        # (or np.clip's wrapper) makes temporaries every tick.
        n = out.shape[0]
        self.offset_a = np.full(n, offset)
        self.scale_a = np.full(n, scale)
        self.lo_a = np.full(n, self.lo)
        self.hi_a = np.full(n, self.hi)
        # Two scratch vectors: every step writes into an array other than its input, since an in-place ufunc
        # on a 1-element array makes numpy allocate (about 1 kB) each call.
        self.raw = np.zeros(n)
        self.tmp = np.zeros(n)
        self.source: np.ndarray | None = None
        self.index: np.ndarray | None = None
        self.goal_x = 0.0
        self.goal_y = 0.0


class ObservationBuilder:
    """Fills the observation vector (float32, policy order) from this tick's stream snapshots.

    Joint terms are mapped by joint *name*: the index maps are computed here,
    once, from the profile, so the order in which a robot publishes its joints
    never reaches the policy. Each term is ``clip((raw + offset) * scale)``.
    ``build`` allocates nothing (bench/fusion_cost.py measures it): every term writes into a view of ``self.obs``
    through ufuncs with ``out=``.
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, StreamSnapshot], odometry: WheelOdometry | None) -> None:
        self.obs = np.zeros(profile.observation_size(), dtype=np.float32)
        # Terms are computed in float64 and cast once: offsets and scales in float32 lose digits the policy may need.
        self._work = np.zeros(profile.observation_size(), dtype=np.float64)
        self._odometry = odometry
        self._segments: list[_Segment] = []
        # Joint-policy terms (daemon/joint_observation.py) and the action-side state they read (last action, steps).
        self._legged: list[LeggedTerm] = []
        act = profile.action
        joint_action = isinstance(act, JointActionConfig)
        self.policy_state = PolicyState(len(act.joints) if joint_action else 0,
                                        (act.decimation if joint_action else 1) / profile.loop.rate_hz)
        pos = 0
        for term in profile.observation.terms:
            if isinstance(term, LEGGED_TERMS):
                n = term.size(act.joints if joint_action else ())
                self._legged.append(make_legged_term(term, self._work[pos : pos + n], profile, snapshots, self.policy_state))
                pos += n
                continue
            if isinstance(term, JointTerm):
                n = len(term.joints)
                seg = _Segment(self._work[pos : pos + n], term.kind, term.offset, term.scale, term.clip)
                stream_joints = profile.streams[term.stream].joints
                row = 0 if term.kind == "joint_position" else 1
                seg.source = snapshots[term.stream].sample[row]
                seg.index = np.array([stream_joints.index(j) for j in term.joints], dtype=np.intp)
            elif isinstance(term, ImuTerm):
                n = len(term.axes)
                seg = _Segment(self._work[pos : pos + n], term.kind, term.offset, term.scale, term.clip)
                block = IMU_ANGULAR_VELOCITY if term.kind == "imu_angular_velocity" else IMU_LINEAR_ACCELERATION
                seg.source = snapshots[term.stream].sample[block]
                seg.index = np.array([IMU_AXIS_INDEX[a] for a in term.axes], dtype=np.intp)
            elif isinstance(term, TwistCommandTerm):
                n = len(term.fields)
                seg = _Segment(self._work[pos : pos + n], term.kind, term.offset, term.scale, term.clip)
                seg.source = snapshots[term.stream].sample  # [vx, vy, vz, wx, wy, wz], see streams.TwistIngest
                seg.index = np.array([TWIST_FIELD_INDEX[f] for f in term.fields], dtype=np.intp)
            elif isinstance(term, GoalTerm):
                n = 2
                seg = _Segment(self._work[pos : pos + n], term.kind, term.offset, term.scale, term.clip)
                seg.goal_x, seg.goal_y = term.goal_xy
            else:  # pragma: no cover - the profile's discriminated union admits nothing else
                raise TypeError(f"unknown observation term {term!r}")
            self._segments.append(seg)
            pos += n

    def build(self) -> np.ndarray:
        """Assemble and return ``self.obs`` (the same array every tick)."""
        for seg in self._segments:
            raw = seg.raw
            tmp = seg.tmp
            if seg.source is not None:
                # mode="clip": the indices were checked at construction; the default mode="raise" with out= copies.
                seg.source.take(seg.index, out=raw, mode="clip")
            else:
                odo = self._odometry
                fx, fy = odo.goal_in_body(seg.goal_x, seg.goal_y)  # type: ignore[union-attr]
                raw[0] = fx
                raw[1] = fy
            np.add(raw, seg.offset_a, out=tmp)  # exact when the offset is 0 and the scale 1
            np.multiply(tmp, seg.scale_a, out=raw)
            np.minimum(raw, seg.hi_a, out=tmp)  # clip; NaN stays NaN for the watchdog, as with np.clip
            np.maximum(tmp, seg.lo_a, out=seg.out)
        for term in self._legged:
            term.compute()
        np.copyto(self.obs, self._work)
        return self.obs
