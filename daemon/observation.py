"""Where the model's input tensor is assembled, once per tick, into one preallocated array."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .action import TWIST_FIELD_INDEX
from .config import GoalTerm, ImuTerm, JointTerm, Profile, TwistCommandTerm
from .odometry import WheelOdometry
from .streams import IMU_ANGULAR_VELOCITY, IMU_AXIS_INDEX, IMU_LINEAR_ACCELERATION, StreamSnapshot


class _Segment:
    """One observation term: where it reads from, where it writes, and its affine map and clip."""

    __slots__ = ("out", "source", "index", "offset", "scale", "lo", "hi", "goal_x", "goal_y", "kind")

    def __init__(self, out: np.ndarray, kind: str, offset: float, scale: float, clip: tuple[float, float] | None) -> None:
        self.out = out
        self.kind = kind
        self.offset = offset
        self.scale = scale
        self.lo, self.hi = clip if clip is not None else (-np.inf, np.inf)
        self.source: np.ndarray | None = None
        self.index: np.ndarray | None = None
        self.goal_x = 0.0
        self.goal_y = 0.0


class ObservationBuilder:
    """Fills the observation vector (float32, policy order) from this tick's stream snapshots.

    Joint terms are mapped by joint *name*: the index maps are computed here,
    once, from the profile, so the order in which a robot publishes its joints
    never reaches the policy. Each term is ``clip((raw + offset) * scale)``.
    ``build`` allocates nothing: every term writes into a view of ``self.obs``.
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, StreamSnapshot], odometry: WheelOdometry | None) -> None:
        self.obs = np.zeros(profile.observation_size(), dtype=np.float32)
        # Terms are computed in float64 and cast once: offsets and scales in float32 lose digits the policy may need.
        self._work = np.zeros(profile.observation_size(), dtype=np.float64)
        self._odometry = odometry
        self._segments: list[_Segment] = []
        pos = 0
        for term in profile.observation.terms:
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
            out = seg.out
            if seg.source is not None:
                np.take(seg.source, seg.index, out=out)
            else:
                odo = self._odometry
                fx, fy = odo.goal_in_body(seg.goal_x, seg.goal_y)  # type: ignore[union-attr]
                out[0] = fx
                out[1] = fy
            if seg.offset != 0.0:
                out += seg.offset
            if seg.scale != 1.0:
                out *= seg.scale
            np.clip(out, seg.lo, seg.hi, out=out)
        np.copyto(self.obs, self._work)
        return self.obs
