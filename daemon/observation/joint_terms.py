"""Joint-policy observation terms (Isaac Lab / legged_gym): computed per policy step into preallocated arrays.

Each term writes its raw values into its own work array, applies
``clip((raw + offset) * scale)`` and then, with ``history`` > 1, stacks its
last values oldest first into its slice of the observation (conventions:
:mod:`.joint_policy_config`). Nothing here allocates arrays per tick.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from edgepilot.daemon.action.twist import TWIST_FIELD_INDEX
from edgepilot.daemon.config.joint_policy import (BaseAngularVelocityTerm, GaitPhaseTerm, JointActionConfig, JointPositionRelativeTerm,
                                  JointVelocityPolicyTerm, LastActionTerm, ProjectedGravityTerm, VelocityCommandTerm)
from edgepilot.daemon.streams.ingest import IMU_ANGULAR_VELOCITY, IMU_ORIENTATION, StreamSnapshot


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (fixed axes X, Y, Z; URDF ``rpy``): v_parent = R @ v_child."""
    cr, sr, cp, sp, cy, sy = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


class PolicyState:
    """What the action side tells the observation side: the last action and the policy steps done.

    ``last_action``: the previous policy output after ``action.clip`` (policy order), zeros before the first step.
    ``steps``: policy steps completed since activation; ``period_s``: the policy period.
    """

    def __init__(self, n_actions: int, period_s: float) -> None:
        self.last_action = np.zeros(n_actions)
        self.steps = 0
        self.period_s = period_s


class LeggedTerm:
    """One joint-policy term: ``compute()`` fills its slice ``out`` of the observation work array."""

    def __init__(self, out: np.ndarray, n: int, history: int, offset: float, scale: float,
                 clip: tuple[float, float] | None) -> None:
        self.raw = np.zeros(n)
        self.n = n
        self.offset = offset
        self.scale = scale
        lo, hi = clip if clip is not None else (-np.inf, np.inf)
        self._lo = np.full(n, lo)
        self._hi = np.full(n, hi)
        self._off = np.full(n, offset)
        self._scl = np.full(n, scale)
        self.history = history
        self._rows = np.zeros((history, n))
        self._row_views = [self._rows[i] for i in range(history)]
        self._out_views = [out[j * n:(j + 1) * n] for j in range(history)]
        self._k = -1  # ring slot of the newest value; -1: nothing yet (first value fills every slot)

    def read(self) -> None:
        raise NotImplementedError

    def compute(self) -> None:
        raw = self.raw
        self.read()
        if self.offset != 0.0:
            np.add(raw, self._off, out=raw)
        if self.scale != 1.0:
            np.multiply(raw, self._scl, out=raw)
        np.minimum(raw, self._hi, out=raw)  # clip; NaN stays NaN for the watchdog
        np.maximum(raw, self._lo, out=raw)
        h = self.history
        if h == 1:
            np.copyto(self._out_views[0], raw)
            return
        rows = self._row_views
        if self._k < 0:
            for r in rows:
                np.copyto(r, raw)
            self._k = 0
        else:
            self._k = (self._k + 1) % h
            np.copyto(rows[self._k], raw)
        outs = self._out_views
        k = self._k
        for j in range(h):  # oldest first: slot k+1 is the oldest, slot k the newest
            np.copyto(outs[j], rows[(k + 1 + j) % h])


class BaseAngularVelocity(LeggedTerm):
    def __init__(self, out: np.ndarray, term: BaseAngularVelocityTerm, snap: StreamSnapshot) -> None:
        super().__init__(out, 3, term.history, term.offset, term.scale, term.clip)
        self._rot = rpy_matrix(*term.imu_mounting_rpy)
        self._gyro = snap.sample[IMU_ANGULAR_VELOCITY]

    def read(self) -> None:
        np.matmul(self._rot, self._gyro, out=self.raw)


class ProjectedGravity(LeggedTerm):
    def __init__(self, out: np.ndarray, term: ProjectedGravityTerm, snap: StreamSnapshot) -> None:
        super().__init__(out, 3, term.history, term.offset, term.scale, term.clip)
        self._rot = rpy_matrix(*term.imu_mounting_rpy)
        self._q = snap.sample[IMU_ORIENTATION]
        self._g_imu = np.zeros(3)

    def read(self) -> None:
        x, y, z, w = self._q  # sensor_msgs/Imu order
        n2 = x * x + y * y + z * z + w * w  # an all-zero (absent) quaternion gives NaN: the watchdog faults
        s = 2.0 / n2 if n2 > 0.0 else math.nan
        g = self._g_imu
        # World [0, 0, -1] in the IMU frame = minus the third row of R(q) (R(q): IMU -> world).
        g[0] = -s * (x * z - w * y)
        g[1] = -s * (y * z + w * x)
        g[2] = -(1.0 - s * (x * x + y * y))
        np.matmul(self._rot, g, out=self.raw)


class VelocityCommand(LeggedTerm):
    def __init__(self, out: np.ndarray, term: VelocityCommandTerm, snap: StreamSnapshot | None, max_age_s: float) -> None:
        n = len(term.fields)
        super().__init__(out, n, term.history, term.offset, term.scale, term.clip)
        self._snap = snap
        self._max_age_s = max_age_s
        self._index = np.array([TWIST_FIELD_INDEX[f] for f in term.fields], dtype=np.intp)
        self._fixed = None if term.value is None else np.array(term.value, dtype=np.float64)
        lim = term.limits or tuple((-np.inf, np.inf) for _ in term.fields)
        self._cmd_lo = np.array([a for a, _ in lim], dtype=np.float64)
        self._cmd_hi = np.array([b for _, b in lim], dtype=np.float64)

    def read(self) -> None:
        raw = self.raw
        if self._fixed is not None:
            np.copyto(raw, self._fixed)
            return
        snap = self._snap
        if snap.stamp_ns < 0 or snap.age_s > self._max_age_s:  # type: ignore[union-attr]
            raw.fill(0.0)  # no fresh command: stand still
            return
        snap.sample.take(self._index, out=raw, mode="clip")  # type: ignore[union-attr]
        np.minimum(raw, self._cmd_hi, out=raw)
        np.maximum(raw, self._cmd_lo, out=raw)


class JointRead(LeggedTerm):
    """Joint position minus default (row 0) or velocity (row 1), mapped by name from the stream's order."""

    def __init__(self, out: np.ndarray, term: JointPositionRelativeTerm | JointVelocityPolicyTerm, snap: StreamSnapshot,
                 stream_joints: tuple[str, ...], action: JointActionConfig) -> None:
        names = term.joint_names(action.joints)
        super().__init__(out, len(names), term.history, term.offset, term.scale, term.clip)
        self._index = np.array([stream_joints.index(j) for j in names], dtype=np.intp)
        relative = isinstance(term, JointPositionRelativeTerm)
        self._src = snap.sample[0 if relative else 1]
        self._default = np.array([action.default_positions[j] for j in names]) if relative else None

    def read(self) -> None:
        self._src.take(self._index, out=self.raw, mode="clip")
        if self._default is not None:
            np.subtract(self.raw, self._default, out=self.raw)


class LastAction(LeggedTerm):
    def __init__(self, out: np.ndarray, term: LastActionTerm, state: PolicyState) -> None:
        super().__init__(out, state.last_action.shape[0], term.history, term.offset, term.scale, term.clip)
        self._last = state.last_action

    def read(self) -> None:
        np.copyto(self.raw, self._last)


class GaitPhase(LeggedTerm):
    def __init__(self, out: np.ndarray, term: GaitPhaseTerm, state: PolicyState) -> None:
        super().__init__(out, 2, term.history, term.offset, term.scale, term.clip)
        self._state = state
        self._omega = 2.0 * math.pi * term.frequency_hz

    def read(self) -> None:
        st = self._state
        a = self._omega * (st.steps * st.period_s)
        self.raw[0] = math.sin(a)
        self.raw[1] = math.cos(a)


def make_legged_term(term: object, out: np.ndarray, profile: object, snapshots: Mapping[str, StreamSnapshot],
                     state: PolicyState) -> LeggedTerm:
    """The computing object for one joint-policy term, writing into ``out`` (its slice of the work array)."""
    streams = profile.streams  # type: ignore[attr-defined]
    action = profile.action  # type: ignore[attr-defined]
    if isinstance(term, BaseAngularVelocityTerm):
        return BaseAngularVelocity(out, term, snapshots[term.stream])
    if isinstance(term, ProjectedGravityTerm):
        return ProjectedGravity(out, term, snapshots[term.stream])
    if isinstance(term, VelocityCommandTerm):
        snap = snapshots[term.stream] if term.stream is not None else None
        return VelocityCommand(out, term, snap, streams[term.stream].max_age_s if term.stream else 0.0)
    if isinstance(term, (JointPositionRelativeTerm, JointVelocityPolicyTerm)):
        return JointRead(out, term, snapshots[term.stream], streams[term.stream].joints, action)
    if isinstance(term, LastActionTerm):
        return LastAction(out, term, state)
    if isinstance(term, GaitPhaseTerm):
        return GaitPhase(out, term, state)
    raise TypeError(f"not a joint-policy term: {term!r}")  # pragma: no cover
