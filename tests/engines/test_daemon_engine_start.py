"""`edgepilot run` with engine.backend auto: a cached, verified engine drives the simulated robot over real DDS.

The robot (MuJoCo physics, hil/robot_node.py) runs in this process on a
random loopback DDS domain; the daemon is a real `edgepilot run` process.
First start: the engine is built, verified and reported; second start after
the engine file was damaged: reported corrupt, rebuilt, and driving again; an
engine that fails verification: the daemon exits 2 and the robot never
receives a command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgepilot.daemon.config.profile import default_profile_path
from tests.shipped_profile import shipped_profile_data

pytestmark = pytest.mark.integration


class SimRobot:
    """The simulated differential-drive robot publishing its sensors on ``domain`` and logging /cmd_vel."""

    def __init__(self, domain: int) -> None:
        from edgepilot.daemon.transport.dds.participant import DdsTransport
        from edgepilot.hil.robot_node import RobotNode
        from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

        self.transport = DdsTransport(domain)
        self.node = RobotNode(self.transport, DiffDriveSim(SimParams(), np.random.default_rng(1)), (50.0, 0.0), verbose=False)
        self.thread = threading.Thread(target=self.node.run, kwargs={"duration_s": 120}, daemon=True)
        self.thread.start()

    def moving_commands(self) -> int:
        return sum(1 for _, v, w in self.node.commands.since(0.0) if v != 0.0 or w != 0.0)

    def close(self) -> None:
        self.node.stop_event.set()
        self.thread.join(timeout=5)
        self.transport.close()


def write_profile(folder: Path, model: Path) -> Path:
    d = shipped_profile_data()
    d["engine"].update({"model": str(model), "backend": "auto", "cache_dir": "engines"})  # cache_dir relative to the profile
    for term in d["observation"]["terms"]:
        if term["kind"] == "goal_relative":
            term["goal_xy"] = [50.0, 0.0]
    p = folder / "profile.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def run_daemon(profile: Path, domain: int, summary: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGEPILOT_CACHE_DIR"}
    return subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(domain),
                           "--duration", "4", "--summary-json", str(summary), *extra],
                          capture_output=True, text=True, timeout=90, env={**env, "PYTHONUNBUFFERED": "1"})


def test_cached_engine_drives_and_corrupt_one_is_rebuilt(tmp_path: Path, dds_domain: int) -> None:
    profile = write_profile(tmp_path, default_profile_path().parent / "diffbot_policy.onnx")
    robot = SimRobot(dds_domain)
    try:
        first = run_daemon(profile, dds_domain, tmp_path / "s1.json")
        assert first.returncode == 0, first.stderr
        assert "built and verified ONNX Runtime plan" in first.stderr and "no cached engine for this key" in first.stderr
        assert json.loads((tmp_path / "s1.json").read_text())["policy_commands"] > 0
        assert robot.moving_commands() > 0, "the engine's commands reached the robot"

        (plan,) = (tmp_path / "engines").glob("*.ort.onnx")
        plan.write_bytes(plan.read_bytes()[:-7])  # truncated, as by a full disk or a pulled plug
        moved_before = robot.moving_commands()
        second = run_daemon(profile, dds_domain, tmp_path / "s2.json")
        assert second.returncode == 0, second.stderr
        assert "is corrupt" in second.stderr and "(truncated)" in second.stderr
        assert "built and verified ONNX Runtime plan" in second.stderr
        assert robot.moving_commands() > moved_before
    finally:
        robot.close()


def test_engine_failing_verification_never_drives(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.engines.engine_cache import EngineCache, TensorInfo
    from edgepilot.engines.engine_provisioning import BuildRequest, resolve_build

    from .onnx_models import mlp

    model = mlp(tmp_path / "policy.onnx")
    profile = write_profile(tmp_path, model)
    cache = EngineCache(tmp_path / "engines")
    # The key the daemon will look up, holding an intact but wrong engine (another model's plan).
    resolved = resolve_build(BuildRequest(model=model, backend="auto", dynamic_dims_default_one=True), cache,
                             report=lambda m: None)
    wrong = mlp(tmp_path / "other.onnx", scale=3.0)
    cache.write(resolved.key, resolved.stem, wrong.read_bytes(), source_model=str(model.resolve()),
                reference_model=str(model.resolve()), build_seconds=0.0,
                inputs=[TensorInfo(name="obs", shape=(1, 5), dtype="float32")],
                outputs=[TensorInfo(name="action", shape=(1, 2), dtype="float32")])
    robot = SimRobot(dds_domain)
    try:
        t0 = time.monotonic()
        r = run_daemon(profile, dds_domain, tmp_path / "s.json")
        assert r.returncode == 2, r.stderr
        assert "failed verification" in r.stderr and "will not be activated" in r.stderr
        time.sleep(0.2)
        assert robot.node.commands.since(t0) == [], "nothing was published from an unverified engine"
        assert not (tmp_path / "s.json").exists()
    finally:
        robot.close()
