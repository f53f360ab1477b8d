"""One control tick, written once: snapshots -> fault checks -> observation -> inference -> action -> command.

:class:`ControlTick` is what the daemon's loop (daemon/service.py), the in-process rig
(hil/daemon_in_process.py), the example's training (examples/diffbot/train.py) and the bench call: built once
from a validated profile and its parts, every buffer preallocated, and :meth:`ControlTick.step` does the tick's
work in this order and nothing else (no threads, no transport, no I/O, no sleeping):

1. ``watchdog.begin_tick``; every check in ``checks`` (daemon/safety/fault_checks.py: stream snapshots refreshed
   and checked, loop stall, supervisor liveness);
2. the tick hooks' ``begin_tick`` (sensor biases off, daemon/tick_hooks.py), then wheel odometry;
3. if the inputs are usable: the observation, its finiteness, inference (an exception is an ``inference_error``),
   the action stage and the hooks' ``compensate``, the command's finiteness;
4. every check in ``after_checks`` (tick overrun, command sender lag);
5. ``watchdog.end_tick``: :attr:`ControlTick.ok` says whether the returned command is the policy's; when it is
   not, ``step`` returns :attr:`ControlTick.zero` and the caller publishes the action stage's safe command;
6. the policy's own state (recurrent state fed back, last action, phase clock): a step whose command is published
   is committed (``engine.state_when_withheld: advance``: every step); a tick a fault withholds resets it
   (daemon/config/model_io.py says why; daemon/inference/recurrent_state.py double-buffers it).

Hot path: no allocation, no lock. Loops are ``while k < n`` (a ``for`` makes an iterator object), numpy elements
are read with ``.item()`` (Python floats from CPython's free list, not numpy scalars), no closure is made per
tick; bench/fusion_cost.py and tests/daemon/test_tick.py measure it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from edgepilot.engines.backend import InferenceBackend

from edgepilot.daemon.action.stage import ActionStage
from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.inference.image_feeds import ImageFeeds
from edgepilot.daemon.inference.model_io import bind_model
from edgepilot.daemon.safety.fault_checks import FaultCheck, LoopStallCheck, StreamChecks, TickOverrunCheck, TickState
from edgepilot.daemon.safety.watchdog import Watchdog

if TYPE_CHECKING:  # the hooks protocol sits beside the tick (docs/architecture.md), annotations only
    from edgepilot.daemon.tick_hooks import TickHooks

_copyto = np.copyto
_dot = np.dot
_INF = float("inf")


def check_backend_matches(profile: Profile, backend: InferenceBackend, action_size_needed: int) -> tuple[np.ndarray, np.ndarray]:
    """Check the model I/O contract once, at load (daemon/inference/model_io.py); (observation view, action view)."""
    b = bind_model(profile, backend, action_size_needed)
    return b.observation, b.action


class ControlTick:
    """The tick of one profile (module docstring). ``clock_ns``: the loop's clock, for the overrun check.

    ``stage`` is the action stage (:class:`~.action.twist.TwistActionMapper` or
    :class:`~.action.joint.JointActionStage`); ``hooks`` a :class:`~.tick_hooks.TickHooks` or None;
    ``injector`` the test rigs' :class:`~.safety.fault_injection.FaultInjector` or None. ``checks`` and
    ``after_checks`` are added after the stream and loop-stall checks, and after the overrun check.
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, Any], backend: InferenceBackend, observation: Any,
                 stage: ActionStage, watchdog: Watchdog, *, odometry: Any = None, hooks: TickHooks | None = None,
                 injector: Any = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns, checks: Sequence[FaultCheck] = (),
                 after_checks: Sequence[FaultCheck] = (), history: int = 1 << 16) -> None:
        self.profile = profile
        self.watchdog = watchdog
        self.state = TickState()
        self.binding = bind_model(profile, backend, stage.action_size_needed)
        self.model_input, self.action = self.binding.observation, self.binding.action
        self.recurrent = self.binding.state
        # Camera frames straight into the model's image inputs (daemon/inference/image_feeds.py), or none.
        self.images = ImageFeeds(self.binding.images, backend, snapshots) if self.binding.images else None
        self._feed_images = self.images.feed if self.images is not None else None
        self.policy_state = observation.policy_state
        self._reset_observation = observation.reset
        self._advance_withheld = profile.engine.state_when_withheld == "advance"
        self._stepped = False  # this tick ran a policy step (inference and the action stage)
        self._dirty = False  # the policy's state moved since its last reset (a step ran)
        stall_s = profile.watchdog.stall_timeout_s
        self.checks: list[FaultCheck] = [StreamChecks(profile, watchdog, list(snapshots.values()), self.state),
                                         LoopStallCheck(watchdog, stall_s, self.state), *checks]
        self.after_checks: list[FaultCheck] = [TickOverrunCheck(watchdog, stall_s, clock_ns), *after_checks]
        self.zero = np.zeros(6)
        self.ok = False
        self.history = history
        self.inference_ns = np.zeros(history, np.int64)  # host clock, whatever clock paces the loop
        self.inference_errors = 0
        self.last_inference_error = ""
        self.hooks = hooks
        self.injector = injector
        self.stage = stage
        self._build = observation.build
        self._run = backend.run
        self._map = stage.map
        # joint_torques with decimation: the PD law runs on the ticks between policy steps (daemon/action/joint.py).
        self._skip_policy = stage.skip_policy if stage.decimates else None
        self._between = stage.between if stage.decimates else None
        self._host_now = time.monotonic_ns
        self._id_obs = watchdog.global_ids["nonfinite_observation"]
        self._id_act = watchdog.global_ids["nonfinite_action"]
        self._id_inf = watchdog.global_ids["inference_error"]
        self._bind_odometry(profile, snapshots, odometry)
        self.reset_policy()

    def _bind_odometry(self, profile: Profile, snapshots: Mapping[str, Any], odometry: Any) -> None:
        self.odometry = odometry
        cfg = profile.odometry
        if odometry is None or cfg is None:
            self.odometry = None
            return
        self._js = snapshots[cfg.joint_stream]
        self._imu = snapshots[cfg.imu_stream]
        joints = profile.streams[cfg.joint_stream].joints
        self._li, self._ri = joints.index(cfg.left_joint), joints.index(cfg.right_joint)
        self._jpos = self._js.sample[0]
        self._imu_sample = self._imu.sample

    def started(self, t0_ns: int) -> None:
        """The run starts at ``t0_ns`` (loop clock): the start-up grace and the fault times count from here."""
        self.state.started_ns = t0_ns
        self.watchdog.t0_ns = t0_ns
        self.reset_policy()

    def reset_policy(self) -> None:
        """The policy's state back to its start: recurrent state initial, last action zero, phase clock and
        observation histories restarted (daemon/config/model_io.py)."""
        self.recurrent.reset()
        self._reset_observation()
        self._dirty = False

    def _end_policy_step(self, ok: bool) -> None:
        if self.watchdog.faulted:
            if self._dirty:
                self.reset_policy()  # a fault withheld the command: the robot resumes as a fresh episode
        elif self._stepped and (ok or self._advance_withheld):
            self.recurrent.commit()
            self.policy_state.commit()

    @property
    def ticks(self) -> int:
        return self.state.ticks

    def step(self, now_ns: int) -> np.ndarray:
        """Run one tick at ``now_ns``; the command to publish if :attr:`ok`, else :attr:`zero`."""
        st = self.state
        tick = st.ticks
        st.gap_ns = now_ns - st.prev_ns if tick else 0
        st.prev_ns = now_ns
        wd = self.watchdog
        wd.begin_tick()
        self._stepped = False
        inputs_ok = True
        checks = self.checks
        n = len(checks)
        k = 0
        while k < n:
            if not checks[k].check(now_ns):
                inputs_ok = False
            k += 1
        hooks = self.hooks
        if hooks is not None:
            hooks.begin_tick()  # sensor biases off the raw values, before odometry and the observation read them
        if self.odometry is not None:
            self._update_odometry(st.gap_ns)
        command = self._policy_command(tick) if inputs_ok else self.zero
        checks = self.after_checks
        n = len(checks)
        k = 0
        while k < n:
            checks[k].check(now_ns)
            k += 1
        ok = wd.end_tick(now_ns, tick, st.hold)
        self._end_policy_step(ok)
        self.ok = ok
        st.ticks = tick + 1
        return command if ok else self.zero

    def _update_odometry(self, gap_ns: int) -> None:
        js = self._js
        imu = self._imu
        if js.stamp_ns >= 0 and imu.stamp_ns >= 0 and js.finite and imu.finite:
            # Integrated even while faulted: encoders are absolute, so distance stays right across a fault.
            jpos = self._jpos
            self.odometry.update(jpos.item(self._li), jpos.item(self._ri), self._imu_sample.item(2), gap_ns * 1e-9)

    def _policy_command(self, tick: int) -> np.ndarray:
        skip = self._skip_policy
        if skip is not None and skip():
            return self._between()  # type: ignore[misc]  # the PD law on this tick's joint state, targets held
        model_input = self.model_input
        self._dirty = True
        _copyto(model_input, self._build())
        d = float(_dot(model_input, model_input))
        if not (d == d and d != _INF):
            self.watchdog.raise_fault(self._id_obs)
            return self.zero
        injector = self.injector
        try:
            feed = self._feed_images
            if feed is not None:
                feed()  # the camera frames, encoded into the model's image inputs
            if injector is not None:
                injector.before_inference()
            t_inf = self._host_now()
            self._run()
        except Exception as err:  # noqa: BLE001 - any engine failure is a fault, not a crash
            self.inference_errors += 1
            self.last_inference_error = f"{type(err).__name__}: {err}"
            self.watchdog.raise_fault(self._id_inf, self.last_inference_error)
            return self.zero
        self.inference_ns[tick % self.history] = self._host_now() - t_inf
        if injector is not None:
            injector.after_inference(self.action)
        command = self._map(self.action)
        self._stepped = True
        if self.hooks is not None:
            command = self.hooks.compensate(command)  # action bias, clipped to the channel limits
        c = float(_dot(command, command))
        if not (c == c and c != _INF):
            self.watchdog.raise_fault(self._id_act)
            return self.zero
        return command
