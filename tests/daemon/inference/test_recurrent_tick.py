"""A recurrent policy through ControlTick: state fed back each step, held while commands are withheld (or advanced,
when the profile says so), reset by a fault; checked against the model's numpy twin stepped offline, on the real
ONNX Runtime backend."""

from __future__ import annotations

import tracemalloc
from itertools import repeat
from pathlib import Path

import numpy as np

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from tests.daemon.inference.profiles import profile_for
from tests.daemon.inference.recurrent_models import RecurrentTwin, recurrent_model

PERIOD_NS = 20_000_000
T0 = 10_000_000_000


class RecurrentRig:
    """The diffbot profile's rings fed by hand; the tick on a real recurrent ONNX model; its twin beside it."""

    def __init__(self, tmp: Path, **engine: object) -> None:
        model = tmp / "rnn.onnx"
        self.twin: RecurrentTwin = recurrent_model(model)
        engine.setdefault("inputs", {"h_in": {"source": "state", "from_output": "h_out", "initial": 0.1}})
        self.profile = profile_for(model, tmp, **engine)
        p = self.profile
        self.ingests = {n: make_ingest(n, c, None, p) for n, c in p.streams.items()}
        snaps = {n: StreamSnapshot(i) for n, i in self.ingests.items()}
        odometry = WheelOdometry(p.odometry.wheel_radius_m)
        self.backend = OnnxRuntimeBackend(model)
        self.watchdog = Watchdog(p.streams, p.watchdog.recovery_ticks)
        self.builder = ObservationBuilder(p, snaps, odometry)
        self.mapper = TwistActionMapper(p.action, np.float32)
        self.now = T0
        self.tick = ControlTick(p, snaps, self.backend, self.builder, self.mapper, self.watchdog, odometry=odometry,
                                clock_ns=lambda: self.now)
        self.tick.started(T0)
        self.frame = np.zeros(self.ingests["camera"].ring.shape, np.uint8)
        self.rng = np.random.default_rng(1)
        self.h = np.full((1, 8), 0.1, np.float32)  # the twin's state

    def step(self, *skip: str) -> tuple[np.ndarray, np.ndarray]:
        """One tick on fresh random joint/IMU readings; (command, the observation the model saw)."""
        joints = np.array([self.rng.uniform(-1, 1, 2), self.rng.uniform(-2, 2, 2)])
        imu = np.zeros(10)
        imu[2], imu[5], imu[9] = self.rng.uniform(-0.5, 0.5), 9.81, 1.0
        for name, sample in (("joint_states", joints), ("imu", imu), ("camera", self.frame)):
            if name not in skip:
                self.ingests[name].ring.write(sample, self.now)
        command = self.tick.step(self.now).copy()
        self.now += PERIOD_NS
        return command, self.backend.inputs["obs"].copy()

    def twin_step(self, obs: np.ndarray, *, commit: bool) -> np.ndarray:
        action, h = self.twin.step(obs, self.h)
        if commit:
            self.h = h
        return action


def _command_of(rig: RecurrentRig, action: np.ndarray) -> np.ndarray:
    return rig.mapper.map(action.reshape(-1)).copy()


def test_state_is_fed_back_and_held_on_withheld_ticks(tmp_path: Path) -> None:
    rig = RecurrentRig(tmp_path)
    n = rig.profile.watchdog.recovery_ticks
    for _ in range(n - 1):  # the first recovery_ticks - 1 commands are withheld: the state must not move
        command, obs = rig.step()
        assert not rig.tick.ok and not command.any()
        rig.twin_step(obs, commit=False)
        np.testing.assert_array_equal(rig.backend.inputs["h_in"], rig.h)
    for k in range(60):
        command, obs = rig.step()
        assert rig.tick.ok, k
        expected = _command_of(rig, rig.twin_step(obs, commit=True))
        np.testing.assert_allclose(command, expected, atol=1e-5, err_msg=f"tick {k}")
        np.testing.assert_allclose(rig.backend.inputs["h_in"], rig.h, atol=1e-5)
    assert np.abs(rig.h - 0.1).max() > 0.05  # the state really moved: a frozen state would have failed above


def test_advance_lets_the_state_run_on_withheld_ticks(tmp_path: Path) -> None:
    rig = RecurrentRig(tmp_path, state_when_withheld="advance")
    n = rig.profile.watchdog.recovery_ticks
    for _ in range(n + 20):
        command, obs = rig.step()
        rig.twin_step(obs, commit=True)
        np.testing.assert_allclose(rig.backend.inputs["h_in"], rig.h, atol=1e-5)
    assert rig.tick.ok


def test_a_fault_resets_the_state_and_the_robot_resumes_as_a_fresh_episode(tmp_path: Path) -> None:
    rig = RecurrentRig(tmp_path)
    for _ in range(30):
        rig.step()
    assert rig.tick.ok and np.abs(rig.backend.inputs["h_in"] - 0.1).max() > 0.05
    max_age = rig.profile.streams["imu"].max_age_s
    while rig.tick.ok or not rig.watchdog.faulted:
        rig.step("imu")  # the IMU goes stale: a fault withholds the command
    assert "stale:imu" in rig.watchdog.active_names()
    np.testing.assert_array_equal(rig.backend.inputs["h_in"], np.full((1, 8), 0.1, np.float32))
    rig.h = np.full((1, 8), 0.1, np.float32)
    assert max_age > 0
    while not rig.tick.ok:  # recovery ticks: withheld, held at the initial state
        command, obs = rig.step()
        if not rig.tick.ok:
            np.testing.assert_array_equal(rig.backend.inputs["h_in"], rig.h)
    # The first command after the fault came from the initial state, as the first step of an episode.
    np.testing.assert_allclose(command, _command_of(rig, rig.twin_step(obs, commit=True)), atol=1e-5)


def test_a_recurrent_tick_allocates_nothing(tmp_path: Path) -> None:
    rig = RecurrentRig(tmp_path)
    for _ in repeat(None, 50):
        rig.step()
    tick, now = rig.tick, [rig.now]
    ring_writes = [(rig.ingests[n].ring.write, s) for n, s in (("joint_states", np.zeros((2, 2))),
                                                                   ("imu", np.eye(1, 10, 9)[0]),
                                                                   ("camera", rig.frame))]

    def step() -> None:
        t = now[0]
        for write, sample in ring_writes:
            write(sample, t)
        rig.now = t
        tick.step(t)
        now[0] = t + PERIOD_NS

    for _ in repeat(None, 200):
        step()
    tracemalloc.start()
    try:
        for _ in repeat(None, 200):
            step()
        base, _ = tracemalloc.get_traced_memory()
        for _ in repeat(None, 1000):
            step()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tick.ok
    assert after - base <= 256, after - base  # a few ints; one array a tick would be 100 kB
    assert peak - base < 2048, peak - base
