"""The committed visuomotor policy finds and reaches a target it sees only through the camera, in process.

No DDS: the loop is closed with the daemon's own ControlTick (hil/visuomotor_tick.py) configured from
daemon/profiles/visuomotor.yaml, the committed ONNX model on the daemon's onnxruntime backend, the camera's
frames rendered by the simulator (ray caster, as conftest sets) into the daemon's camera ring and encoded by
the daemon's image encoder, at the profile's 50 Hz with the camera at 15 Hz. The targets are new random places
(seeds never used in training) around domain-randomised robots; the observation vector has no goal term, so
every target is found from pixels.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
pytest.importorskip("mujoco")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2", reason="the image encoder needs OpenCV (the 'images' extra)")

from edgepilot.daemon.config.profile import load_profile  # noqa: E402
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from edgepilot.hil.sim_robot import SimParams  # noqa: E402
from edgepilot.hil.visuomotor_sim import TargetSim  # noqa: E402
from edgepilot.hil.visuomotor_tick import VisionSimTick, run_episode  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "visuomotor"
EPISODE_S = 20.0
EPISODES = 10
REQUIRED_SUCCESSES = 8


@pytest.fixture(scope="module")
def profile():
    return load_profile(REPO / "daemon" / "profiles" / "visuomotor.yaml")  # also checks that the committed model file exists


def test_the_profile_feeds_the_camera_and_proprioception_only(profile) -> None:
    cam = profile.streams["camera"]
    assert cam.required and cam.max_identical_s is not None
    assert profile.engine.inputs["image"].source == "image" and profile.engine.inputs["image"].stream == "camera"
    assert [t.kind for t in profile.observation.terms] == ["joint_velocity", "imu_angular_velocity"]
    assert profile.model_path.stat().st_size < 1_000_000
    backend = OnnxRuntimeBackend(profile.model_path, 1)
    try:
        ins, outs = backend.describe()
        assert {s.name: s.shape for s in ins} == {"image": (1, 3, 48, 64), "obs": (1, 3)}
        assert [(s.name, s.shape) for s in outs] == [("action", (1, 2))]
    finally:
        backend.close()


def _first_turn(profile, target_xy: tuple[float, float]) -> float:
    """The angular command of the first ticks with the target at ``target_xy`` (robot at the origin, facing +x)."""
    sim = TargetSim(SimParams(), 0, render_backend="raycast")
    sim.place_target(*target_xy)
    backend = OnnxRuntimeBackend(profile.model_path, 1)
    try:
        loop = VisionSimTick(profile, backend)
        turns = [float(loop.step(sim, k * 20_000_000)[5]) for k in range(3)]
        assert loop.tick.ok, loop.tick.watchdog.active_names()
    finally:
        backend.close()
    return float(np.mean(turns))


def test_the_policy_steers_towards_where_the_camera_sees_the_target(profile) -> None:
    # Same robot, same proprioception (at rest): only the pixels differ.
    left, right = _first_turn(profile, (1.5, 0.6)), _first_turn(profile, (1.5, -0.6))
    assert left > 0.2 and right < -0.2, (left, right)


def test_policy_reaches_random_targets_from_pixels(profile) -> None:
    results = []
    for i in range(EPISODES):
        rng = np.random.default_rng(2_000_000 + i)  # training used seeds < 10**5, its evaluation 10**6 + i
        sim = TargetSim(SimParams.randomized(rng), rng, render_backend="raycast")
        sim.reset_episode(rng)
        backend = OnnxRuntimeBackend(profile.model_path, 1)
        try:
            results.append(run_episode(profile, backend, sim, EPISODE_S))
        finally:
            backend.close()
    report = [(round(r.final_distance_m, 2), r.time_to_target_s, r.faults) for r in results]
    assert all(r.faults == 0 for r in results), report  # the noisy camera is never taken for a frozen one
    assert sum(r.success for r in results) >= REQUIRED_SUCCESSES, report
    reached = [r.time_to_target_s for r in results if r.success]
    assert all(math.isfinite(t) and t < EPISODE_S for t in reached), report


def test_the_training_script_runs_a_smoke_configuration(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out, record = tmp_path / "policy.onnx", tmp_path / "record.json"
    proc = subprocess.run([sys.executable, str(EXAMPLE / "train.py"), "--smoke", "--out", str(out),
                           "--record", str(record)], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    rec = json.loads(record.read_text())
    assert rec["dataset_size"] > 0 and rec["final_eval"]["raycast"]["episodes"] == 1
    backend = OnnxRuntimeBackend(out, 1)  # what it wrote is a model the daemon opens
    try:
        assert {s.name for s in backend.describe()[0]} == {"image", "obs"}
    finally:
        backend.close()
