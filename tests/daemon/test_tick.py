"""ControlTick.step called directly on hand-written ring contents: no process, no transport, no clock but ours.

The tick maths the DDS tests check end to end (a stale stream zeroes the command, a NaN never reaches the robot,
an engine error is a fault, commands resume only after recovery_ticks) is checked here one tick at a time.
"""

from __future__ import annotations

import tracemalloc
from itertools import repeat

import numpy as np
import pytest

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import default_profile_path, load_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick

PERIOD_NS = 20_000_000  # the profile's 50 Hz
T0 = 10_000_000_000


class FakeBackend:
    """The InferenceBackend protocol around a fixed action; ``fail`` makes run() raise."""

    def __init__(self, action: tuple[float, float] = (0.5, -0.25), calls: list[str] | None = None,
                 obs_size: int = 5) -> None:
        self.inputs = {"obs": np.zeros((1, obs_size), np.float32)}
        self.outputs = {"action": np.zeros((1, 2), np.float32)}
        self.value = np.array(action, np.float32)
        self.fail = False
        self.runs = 0
        self.calls = calls

    def describe(self):  # type: ignore[no-untyped-def]
        return [], []

    def run(self) -> None:
        if self.calls is not None:
            self.calls.append("run")
        if self.fail:
            raise RuntimeError("engine lost")
        self.runs += 1
        self.outputs["action"][0] = self.value

    def close(self) -> None:
        pass


class RecordingHooks:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def begin_tick(self) -> None:
        self.calls.append("begin_tick")

    def compensate(self, command: np.ndarray) -> np.ndarray:
        self.calls.append("compensate")
        command[0] += 0.01
        return command


class Rig:
    """The embedded profile's streams as rings, fed by hand, and the tick built on them."""

    def __init__(self, backend: FakeBackend | None = None, hooks: object = None) -> None:
        self.profile = load_profile(default_profile_path())
        self.ingests = {n: make_ingest(n, c, None, self.profile) for n, c in self.profile.streams.items()}
        self.snapshots = {n: StreamSnapshot(i) for n, i in self.ingests.items()}
        self.odometry = WheelOdometry(self.profile.odometry.wheel_radius_m)
        self.backend = backend or FakeBackend()
        self.watchdog = Watchdog(self.profile.streams, self.profile.watchdog.recovery_ticks)
        self.now = T0
        self.joints = np.array([[0.0, 0.0], [1.0, 1.0]])
        self.imu = np.zeros(10)
        self.imu[2], self.imu[5], self.imu[9] = 0.2, 9.81, 1.0
        self.tick = ControlTick(self.profile, self.snapshots, self.backend,
                                ObservationBuilder(self.profile, self.snapshots, self.odometry),
                                TwistActionMapper(self.profile.action, np.float32), self.watchdog,
                                odometry=self.odometry, hooks=hooks, clock_ns=self.clock)
        self.tick.started(T0)
        self.frame = np.zeros(self.ingests["camera"].ring.shape, np.uint8)

    def clock(self) -> int:
        return self.now

    def feed(self, *skip: str) -> None:
        if "joint_states" not in skip:
            self.ingests["joint_states"].ring.write(self.joints, self.now)
        if "imu" not in skip:
            self.ingests["imu"].ring.write(self.imu, self.now)
        if "camera" not in skip:
            self.ingests["camera"].ring.write(self.frame, self.now)

    def step(self, *skip: str) -> np.ndarray:
        self.feed(*skip)
        command = self.tick.step(self.now)
        self.now += PERIOD_NS
        return command

    def healthy(self) -> None:
        for _ in range(self.profile.watchdog.recovery_ticks):
            self.step()
        assert self.tick.ok


def test_fresh_streams_give_the_policy_command_after_recovery_ticks() -> None:
    rig = Rig()
    n = rig.profile.watchdog.recovery_ticks
    assert n > 1
    for k in range(n - 1):
        command = rig.step()
        assert not rig.tick.ok and not rig.watchdog.faulted, k  # healthy, but not yet recovery_ticks of it
        assert command is rig.tick.zero and not command.any()
    command = rig.step()
    assert rig.tick.ok and rig.tick.ticks == n
    # linear.x = 0.5 * 0.4, angular.z = -0.25 * 1.5, every other field exactly zero.
    assert command.tolist() == pytest.approx([0.2, 0, 0, 0, 0, -0.375])
    assert rig.backend.runs == n  # inference runs on every healthy tick, held or not
    assert rig.tick.inference_ns[:n].min() > 0


def test_a_stale_stream_zeroes_the_command_and_recovery_ticks_hold_it_after() -> None:
    rig = Rig()
    rig.healthy()
    max_age_ns = int(rig.profile.streams["imu"].max_age_s * 1e9)
    t_last = rig.now - PERIOD_NS
    while rig.now - t_last <= max_age_ns:
        command = rig.step("imu")
        assert rig.tick.ok and command.any()  # not stale yet: still within max_age_s
    command = rig.step("imu")
    assert not rig.tick.ok and not command.any()
    assert "stale:imu" in rig.watchdog.active_names()
    runs = rig.backend.runs
    rig.step("imu")
    assert rig.backend.runs == runs  # unusable inputs never reach the engine
    for k in range(rig.profile.watchdog.recovery_ticks - 1):
        command = rig.step()
        assert rig.watchdog.active_names() == [] and not rig.tick.ok and not command.any(), k
    assert rig.step().any() and rig.tick.ok


def test_a_nan_sample_is_a_nonfinite_fault() -> None:
    rig = Rig()
    rig.healthy()
    rig.imu[2] = np.nan
    command = rig.step()
    assert not rig.tick.ok and not command.any()
    assert rig.watchdog.active_names() == ["nonfinite:imu"]


def test_an_engine_error_is_an_inference_fault_and_zero() -> None:
    rig = Rig()
    rig.healthy()
    rig.backend.fail = True
    command = rig.step()
    assert not rig.tick.ok and not command.any()
    assert rig.watchdog.active_names() == ["inference_error"]
    assert rig.tick.inference_errors == 1 and rig.tick.last_inference_error == "RuntimeError: engine lost"


def test_a_nan_action_is_a_nonfinite_action_fault() -> None:
    rig = Rig()
    rig.healthy()
    rig.backend.value[1] = np.nan
    command = rig.step()
    assert not rig.tick.ok and not command.any()
    assert rig.watchdog.active_names() == ["nonfinite_action"]


def test_missing_streams_hold_within_the_grace_then_fault() -> None:
    rig = Rig()
    command = rig.step("camera")
    assert rig.tick.state.hold and not rig.watchdog.faulted and not command.any()
    grace_end = T0 + int(rig.profile.watchdog.startup_grace_s * 1e9)
    while rig.now < grace_end:
        rig.step("camera")
        assert rig.tick.state.hold and rig.watchdog.active_names() == []
    rig.step("camera")
    assert rig.watchdog.active_names() == ["missing:camera"] and not rig.tick.state.hold


def test_a_late_tick_is_a_loop_stall() -> None:
    rig = Rig()
    rig.healthy()
    rig.now += int(rig.profile.watchdog.stall_timeout_s * 1e9)
    rig.step()
    assert rig.watchdog.active_names() == ["loop_stall"] and not rig.tick.ok


def test_hooks_run_in_the_tick_order() -> None:
    calls: list[str] = []
    rig = Rig(FakeBackend(calls=calls), hooks=RecordingHooks(calls))
    rig.healthy()
    assert calls[:3] == ["begin_tick", "run", "compensate"]
    assert calls == ["begin_tick", "run", "compensate"] * rig.profile.watchdog.recovery_ticks
    assert rig.step()[0] == pytest.approx(0.21)  # the compensated command is the one returned
    rig.backend.fail = True
    del calls[:]
    rig.step()
    assert calls == ["begin_tick", "run"]  # no command to compensate


def test_joint_torques_run_the_policy_every_decimation_ticks_and_pd_between() -> None:
    from tests.daemon.observation.test_legged_terms import Rig as LeggedRig

    r = LeggedRig(output="joint_torques", stiffness={"a": 10.0, "b": 20.0}, damping=0.5, torque_limits=3.0,
                  decimation=4, safe_damping=2.0, position_limits={})
    backend = FakeBackend((0.2, -0.2), obs_size=r.profile.observation_size())
    tick = ControlTick(r.profile, r.snaps, backend, r.builder, r.stage, Watchdog(r.profile.streams, 1),
                       clock_ns=lambda: r.t)
    tick.started(r.t - 10**10)  # past the grace: the optional velocity-command stream may stay missing
    runs = []
    for _ in range(8):
        r.joints({"a": 0.3, "b": -0.7}, {"a": 1.0, "b": -1.0})
        r.imu((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
        command = tick.step(r.t)
        assert tick.ok, tick.watchdog.active_names()
        # a: 10*(0.4-0.3) - 0.5*1 = 0.5; b: 20*(-0.8+0.7) - 0.5*(-1) = -1.5, on policy ticks and the PD ticks between
        np.testing.assert_allclose(command, [0.5, -1.5], atol=1e-6)
        runs.append(backend.runs)
        r.t += PERIOD_NS
    assert runs == [1, 1, 1, 1, 2, 2, 2, 2]  # inference on every 4th tick only


def test_step_allocates_nothing() -> None:
    rig = Rig()
    rig.healthy()
    step = rig.step  # feeds every ring (a ring write allocates nothing either), then ControlTick.step
    tracemalloc.start()
    try:
        for _ in repeat(None, 200):
            step()  # under tracing from here: objects made before the start would be freed untraced
        base, _ = tracemalloc.get_traced_memory()
        for _ in repeat(None, 1000):
            step()
        first, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in repeat(None, 1000):
            step()
        second, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rig.tick.ok and rig.backend.runs > 2200
    # Nothing kept: one object kept per tick would be 32 kB a window; what moves is which of the rig's own clock
    # values (32-byte ints) happen to be alive at the reading...
    assert second - first <= 64, (first - base, second - first)
    assert first - base <= 128, first - base
    # ...and no array or container made: the peak stays within a few Python scalars.
    assert peak - first < 512, peak - first


def test_the_policy_state_holds_while_commands_are_withheld_and_resets_on_a_fault() -> None:
    """Phase clock (steps) and last action advance only with published steps (engine.state_when_withheld: hold)."""
    from tests.daemon.observation.test_legged_terms import Rig as LeggedRig

    r = LeggedRig(output="joint_positions", position_limits={})
    backend = FakeBackend((0.2, -0.2), obs_size=r.profile.observation_size())
    recovery = 3
    tick = ControlTick(r.profile, r.snaps, backend, r.builder, r.stage, Watchdog(r.profile.streams, recovery),
                       clock_ns=lambda: r.t)
    tick.started(r.t - 10**10)  # past the grace
    state = r.builder.policy_state

    def step() -> None:
        r.joints({"a": 0.3, "b": -0.7}, {"a": 0.0, "b": 0.0})
        r.imu((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
        tick.step(r.t)
        r.t += PERIOD_NS

    for k in range(recovery - 1):
        step()
        assert not tick.ok and state.steps == 0 and not state.last_action.any(), k  # withheld: held
    step()
    assert tick.ok and state.steps == 1 and state.last_action.tolist() == pytest.approx([0.2, -0.2])
    for _ in range(4):
        step()
    assert state.steps == 5
    backend.fail = True  # an engine error: a fault withholds the command
    step()
    assert not tick.ok and state.steps == 0 and not state.last_action.any()
    backend.fail = False
    for _ in range(recovery - 1):
        step()
        assert not tick.ok and state.steps == 0
    step()
    assert tick.ok and state.steps == 1  # the first published step after the fault is a fresh episode's first
