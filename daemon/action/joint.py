"""Where a joint-target policy's action becomes joint commands, and what goes out on a fault.

One :class:`JointActionStage` per daemon with ``action.output: joint_positions
| joint_torques`` (see :class:`~.joint_policy_config.JointActionConfig`). The
loop calls, on its own thread:

* ``skip_policy()`` each healthy tick: True on the ticks between policy steps
  (``decimation``), where ``between()`` gives the command (the PD law on the
  newest joint state for torques, the held targets for positions);
* ``map(action)`` on policy ticks: ``target = clamp(default + scale *
  clip(action), limits)``, and the command (targets, or PD torques);
* ``publish(command)`` for a command the watchdog allows: it also becomes the
  pose ``hold`` returns to;
* ``publish_safe()`` on every faulted or held tick and at shutdown: the
  profile's ``safe_action`` (``hold`` or ``damping``).

Everything is in the policy's joint order (``action.joints``); the joint
state is mapped from the stream's order by name once, here. No allocation per
tick (beyond what the transport's message building does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.common.private_files import create_private

from edgepilot.daemon.observation.joint_terms import PolicyState
from edgepilot.daemon.config.joint_policy import JointActionConfig
from edgepilot.daemon.action.pd_controller import PdController
from edgepilot.daemon.streams.ingest import StreamSnapshot


class JointActionStage:
    decimates = True  # asks skip_policy() each healthy tick; between() gives the command on the skipped ones

    def __init__(self, config: JointActionConfig, snapshot: StreamSnapshot, stream_joints: tuple[str, ...],
                 state: PolicyState, publisher: Any, max_age_s: float, clock_ns: Any) -> None:
        n = len(config.joints)
        self.config = config
        self.joints = config.joints
        self.n = n
        self.action_size_needed = n
        self.decimation = config.decimation
        self.torques = config.output == "joint_torques"
        self.safe_mode = config.safe_action
        self._state = state
        self._publisher = publisher
        self._snap = snapshot
        self._max_age_ns = int(max_age_s * 1e9)
        self._clock = clock_ns
        self._index = np.array([stream_joints.index(j) for j in config.joints], dtype=np.intp)
        self.default = np.array([config.default_positions[j] for j in config.joints])
        self.scale = np.array(config.per_joint("scale", 1.0))
        lo, hi = config.clip if config.clip is not None else (-np.inf, np.inf)
        self._clip_lo = np.full(n, lo)
        self._clip_hi = np.full(n, hi)
        self._pos_lo = np.array([config.position_limits.get(j, (-np.inf, np.inf))[0] for j in config.joints])
        self._pos_hi = np.array([config.position_limits.get(j, (-np.inf, np.inf))[1] for j in config.joints])
        self.targets = self.default.copy()
        self.safe_pose = self.default.copy()  # what `hold` holds: the last targets published while healthy
        self.q = np.zeros(n)
        self.qd = np.zeros(n)
        self.safe_command = np.zeros(n)
        self._raw = state.pending_action  # made last_action when the tick commits the step
        self._has_targets = False
        self._phase = 0
        self.pd: PdController | None = None
        if self.torques:
            self.pd = PdController(np.array(config.per_joint("stiffness")), np.array(config.per_joint("damping")),
                                   np.array(config.per_joint("torque_limits")))
            kd_safe = config.per_joint("safe_damping") if config.safe_damping is not None else config.per_joint("damping")
            self._kd_safe = np.array(kd_safe)
        self.safe_commands = 0
        self._pose_file: np.ndarray | None = None
        self._pose_path: Path | None = None

    # ------------------------------------------------------------------ joint state

    def _fresh(self) -> bool:
        s = self._snap
        return s.stamp_ns >= 0 and s.finite and self._clock() - s.stamp_ns <= self._max_age_ns

    def _read_joints(self) -> None:
        sample = self._snap.sample
        sample[0].take(self._index, out=self.q, mode="clip")
        sample[1].take(self._index, out=self.qd, mode="clip")

    # ------------------------------------------------------------------ the loop's calls

    def skip_policy(self) -> bool:
        """True on a tick between policy steps (only with decimation > 1, once the policy has run)."""
        if not self._has_targets:
            self._phase = 0
            return False
        self._phase += 1
        if self._phase >= self.decimation:
            self._phase = 0
            return False
        return True

    def map(self, action: np.ndarray) -> np.ndarray:
        """Policy output (flat, policy order) -> this tick's command; NaN stays NaN for the watchdog."""
        raw = self._raw
        np.copyto(raw, action[: self.n])
        np.minimum(raw, self._clip_hi, out=raw)
        np.maximum(raw, self._clip_lo, out=raw)
        t = self.targets
        np.multiply(raw, self.scale, out=t)
        np.add(t, self.default, out=t)
        np.minimum(t, self._pos_hi, out=t)
        np.maximum(t, self._pos_lo, out=t)
        self._has_targets = True
        self._phase = 0
        return self.between()

    def between(self) -> np.ndarray:
        if self.pd is None:
            return self.targets
        self._read_joints()
        return self.pd.compute(self.targets, self.q, self.qd)

    def publish(self, command: np.ndarray) -> None:
        np.copyto(self.safe_pose, self.targets)
        if self._pose_file is not None:
            np.copyto(self._pose_file, self.targets)  # the stall supervisor's hold pose
        self._publisher.publish(command)

    def supervisor_safe(self, heartbeat_path: Path) -> tuple[tuple[str, ...], str, Path | None]:
        """What the stall supervisor publishes when the loop stalls: (joints, message, pose file or None).

        joint_positions: the targets last published while healthy (default pose before), kept current in a
        float64 file next to the heartbeat: a hold, whatever ``safe_action`` says (the supervisor has no joint
        state, so it cannot damp). joint_torques: None, i.e. zero torque.
        """
        if self.torques:
            return self.joints, self.config.message, None
        path = Path(str(heartbeat_path) + ".pose")
        # Next to the heartbeat, in the private runtime directory: exclusive, 0600, no symlink followed.
        os.close(create_private(path, self.safe_pose.astype(np.float64).tobytes()))
        self._pose_file = np.memmap(path, dtype=np.float64, mode="r+", shape=(self.n,))
        self._pose_path = path
        return self.joints, self.config.message, path

    def close(self) -> None:
        self._pose_file = None
        if self._pose_path is not None:
            self._pose_path.unlink(missing_ok=True)

    def compute_safe(self) -> np.ndarray:
        """The safe action for this tick (module docstring)."""
        out = self.safe_command
        fresh = self._fresh()
        if fresh:
            self._read_joints()
        if not self.torques:
            if self.safe_mode == "hold" or not fresh:
                np.copyto(out, self.safe_pose)  # damping without a fresh measurement: the last pose held is safest
            else:
                np.copyto(out, self.q)
            return out
        pd = self.pd
        assert pd is not None
        if not fresh:
            out.fill(0.0)
        elif self.safe_mode == "hold":
            np.copyto(out, pd.compute(self.safe_pose, self.q, self.qd))
        else:
            np.copyto(out, pd.damp(self._kd_safe, self.qd))
        return out

    def publish_safe(self) -> None:
        self.safe_commands += 1
        self._publisher.publish(self.compute_safe())


def make_joint_action_stage(profile: Any, transport: Any, snapshots: dict[str, StreamSnapshot], state: PolicyState,
                            clock_ns: Any, model_output: Any) -> JointActionStage:
    """The stage for a joint profile, with its publisher on ``action.topic``; checks the model's action size."""
    from edgepilot.engines.backend import BackendError

    from edgepilot.daemon.transport.outputs import joint_target_publisher

    cfg: JointActionConfig = profile.action
    if model_output is not None and model_output.size != len(cfg.joints):
        raise BackendError(f"model output {profile.engine.output_name!r} has {model_output.size} values but action.joints "
                           f"lists {len(cfg.joints)} joints; one action per joint, in action.joints order")
    stream = profile.streams[cfg.stream]
    publisher = joint_target_publisher(transport, cfg.topic, cfg.joints, cfg.message)
    return JointActionStage(cfg, snapshots[cfg.stream], stream.joints, state, publisher, stream.max_age_s, clock_ns)
