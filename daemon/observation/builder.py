"""Where the model's input tensor is assembled, once per tick, into one preallocated array."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgepilot.daemon.action.twist import TWIST_FIELD_INDEX
from edgepilot.daemon.config.profile import LEGGED_TERMS, GoalTerm, ImuTerm, JointActionConfig, JointTerm, Profile, TwistCommandTerm
from edgepilot.daemon.observation.joint_terms import LeggedTerm, PolicyState, make_legged_term
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import IMU_ANGULAR_VELOCITY, IMU_AXIS_INDEX, IMU_LINEAR_ACCELERATION, StreamSnapshot


class _Segment:
    """One observation term: where it reads from and where its raw values go (a slice of the builder's raw vector)."""

    __slots__ = ("raw", "source", "index", "goal_x", "goal_y", "kind")

    def __init__(self, raw: np.ndarray, kind: str) -> None:
        self.raw = raw
        self.kind = kind
        self.source: np.ndarray | None = None
        self.index: np.ndarray | None = None
        self.goal_x = 0.0
        self.goal_y = 0.0


class ObservationBuilder:
    """Fills the observation vector (float32, policy order) from this tick's stream snapshots.

    Joint terms are mapped by joint *name*: the index maps are computed here,
    once, from the profile, so the order in which a robot publishes its joints
    never reaches the policy. Each term is ``clip((raw + offset) * scale)``.
    ``build`` allocates nothing (bench/fusion_cost.py measures it): every term gathers its raw values into a
    slice of one raw vector, and the affine map and clip then run once over the whole vector (four ufuncs with
    ``out=`` per tick, not four per term; offsets, scales and limits are arrays, so no Python float is
    converted per tick).
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, StreamSnapshot], odometry: WheelOdometry | None) -> None:
        self.obs = np.zeros(profile.observation_size(), dtype=np.float32)
        # Terms are computed in float64 and cast once: offsets and scales in float32 lose digits the policy may need.
        self._work = np.zeros(profile.observation_size(), dtype=np.float64)
        self._odometry = odometry
        size = profile.observation_size()
        self._raw = np.zeros(size)
        self._tmp = np.zeros(size)  # every step writes into an array other than its input (no in-place temporaries)
        self._offset = np.zeros(size)
        self._scale = np.ones(size)
        self._lo = np.full(size, -np.inf)
        self._hi = np.full(size, np.inf)
        self._segments: list[_Segment] = []
        # Joint-policy terms (daemon/observation/joint_terms.py) and the action-side state they read (last action, steps).
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
                seg = self._segment(pos, n, term)
                stream_joints = profile.streams[term.stream].joints
                row = 0 if term.kind == "joint_position" else 1
                seg.source = snapshots[term.stream].sample[row]
                seg.index = np.array([stream_joints.index(j) for j in term.joints], dtype=np.intp)
            elif isinstance(term, ImuTerm):
                n = len(term.axes)
                seg = self._segment(pos, n, term)
                block = IMU_ANGULAR_VELOCITY if term.kind == "imu_angular_velocity" else IMU_LINEAR_ACCELERATION
                seg.source = snapshots[term.stream].sample[block]
                seg.index = np.array([IMU_AXIS_INDEX[a] for a in term.axes], dtype=np.intp)
            elif isinstance(term, TwistCommandTerm):
                n = len(term.fields)
                seg = self._segment(pos, n, term)
                seg.source = snapshots[term.stream].sample  # [vx, vy, vz, wx, wy, wz], see streams.TwistIngest
                seg.index = np.array([TWIST_FIELD_INDEX[f] for f in term.fields], dtype=np.intp)
            elif isinstance(term, GoalTerm):
                n = 2
                seg = self._segment(pos, n, term)
                seg.goal_x, seg.goal_y = term.goal_xy
            else:  # pragma: no cover - the profile's discriminated union admits nothing else
                raise TypeError(f"unknown observation term {term!r}")
            self._segments.append(seg)
            pos += n

    def _segment(self, pos: int, n: int, term: JointTerm | ImuTerm | TwistCommandTerm | GoalTerm) -> _Segment:
        self._offset[pos : pos + n] = term.offset
        self._scale[pos : pos + n] = term.scale
        if term.clip is not None:
            self._lo[pos : pos + n], self._hi[pos : pos + n] = term.clip
        return _Segment(self._raw[pos : pos + n], term.kind)

    def build(self) -> np.ndarray:
        """Assemble and return ``self.obs`` (the same array every tick)."""
        for seg in self._segments:
            raw = seg.raw
            if seg.source is not None:
                # mode="clip": the indices were checked at construction; the default mode="raise" with out= copies.
                seg.source.take(seg.index, out=raw, mode="clip")
            else:
                fx, fy = self._odometry.goal_in_body(seg.goal_x, seg.goal_y)  # type: ignore[union-attr]
                raw[0] = fx
                raw[1] = fy
        # Joint-policy terms' slots hold 0 in raw (offset 0, scale 1, no clip): harmless, overwritten just below.
        np.add(self._raw, self._offset, out=self._tmp)  # exact when the offset is 0 and the scale 1
        np.multiply(self._tmp, self._scale, out=self._raw)
        np.minimum(self._raw, self._hi, out=self._tmp)  # clip; NaN stays NaN for the watchdog, as with np.clip
        np.maximum(self._tmp, self._lo, out=self._work)
        for term in self._legged:
            term.compute()
        np.copyto(self.obs, self._work)
        return self.obs
