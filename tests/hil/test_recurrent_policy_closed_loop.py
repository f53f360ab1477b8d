"""Closed loop with a recurrent TorchScript policy: `python -m edgepilot run` drives the simulated diff-drive robot
over real Cyclone DDS (loopback), and its commands equal the source model's, run in torch offline on the very
observations the daemon fed (from its residual log), within 1e-5.

The policy is examples/diffbot/make_recurrent_policy.py's: the shipped MLP plus a GRU whose state lives in a
buffer forward() overwrites (rsl_rl's exporter layout). The profile names the .pt with ``backend: auto``: the
daemon exports it (state made explicit: hidden_state_in/out, recorded in the model), builds the ONNX Runtime
plan, verifies it against torch over 200 steps, wires the state pairing by itself and feeds the state back every
tick. Offline the TorchScript module is stepped in torch on the logged observations of the published ticks, in
order, reset (its ``reset()``) where the daemon withheld commands after publishing (a fault), exactly the
daemon's rule (daemon/config/model_io.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.shipped_profile import shipped_profile_data

torch = pytest.importorskip("torch", reason="the recurrent example policy is TorchScript: needs the 'torch' extra")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
DRIVE_S = 6.0


def _profile(tmp_path: Path, model: Path) -> Path:
    d = shipped_profile_data()
    d["engine"] = {"model": str(model), "backend": "auto", "output_name": "action", "cache_dir": str(tmp_path / "engines")}
    for term in d["observation"]["terms"]:
        if term["kind"] == "goal_relative":
            term["goal_xy"] = [50.0, 0.0]  # far: the robot keeps driving
    d["residuals"] = {"directory": "residuals", "model": {"kind": "ideal_diff_drive", "max_wheel_accel_radps2": 75.0}}
    path = tmp_path / "recurrent.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _drive(profile: Path, summary: Path, domain: int) -> tuple[str, int, list]:
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.hil.robot_node import RobotNode
    from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

    transport = DdsTransport(domain)
    node = RobotNode(transport, DiffDriveSim(SimParams(), np.random.default_rng(5)), (50.0, 0.0), verbose=False)
    robot = threading.Thread(target=node.run, kwargs={"duration_s": 200}, daemon=True)
    robot.start()
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id",
                             str(domain), "--summary-json", str(summary)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        deadline = time.monotonic() + 90  # the first start exports, builds and verifies the plan
        while time.monotonic() < deadline and not any(v != 0.0 for _, v, _ in node.commands.since(0.0)):
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.05)
        assert node.commands.t, "the daemon never commanded the robot:\n" + "".join(lines)
        time.sleep(DRIVE_S)
    finally:
        if proc.poll() is None:
            proc.send_signal(15)
        proc.wait(timeout=30)
        node.stop_event.set()
        robot.join(5)
        transport.close()
    return "".join(lines), proc.returncode, node.commands.since(0.0)


def _offline_commands(model: Path, obs: np.ndarray, published: np.ndarray, profile: dict) -> np.ndarray:
    """The source module in torch, stepped on the published ticks' observations; commands as the daemon maps them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = torch.jit.load(str(model))
    m.reset()
    out = np.zeros((len(obs), 2))
    was_published = False
    with torch.no_grad():
        for k in range(len(obs)):
            if not published[k]:
                if was_published:
                    m.reset()  # a fault withheld the command: the daemon reset its state (and holds it after)
                was_published = False
                continue
            a = m(torch.from_numpy(obs[k:k + 1].astype(np.float32))).numpy()[0].astype(np.float64)
            for j, ch in enumerate(profile["action"]["channels"]):
                out[k, j] = np.clip(a[ch["index"]] * ch["scale"], -ch["limit"], ch["limit"])
            was_published = True
    return out


def test_recurrent_torchscript_policy_drives_the_robot_exactly_as_in_torch(tmp_path: Path, dds_domain: int) -> None:
    sys.path.insert(0, str(REPO / "examples" / "diffbot"))
    from make_recurrent_policy import build  # type: ignore[import-not-found]

    from edgepilot.calibration.residual_logs import read_logs

    model = build(tmp_path / "recurrent_policy.pt")
    profile = _profile(tmp_path, model)
    out, rc, commands = _drive(profile, tmp_path / "summary.json", dds_domain)
    assert rc == 0, out
    assert "built and verified ONNX Runtime plan" in out, out
    summary = json.loads((tmp_path / "summary.json").read_text())
    res = summary["calibration"]["residuals"]
    assert res["lost_records"] == 0 and res["errors"] == 0, res
    segs = read_logs([tmp_path / "residuals"])
    data = np.concatenate([s.data for s in segs])
    fields = segs[0].fields
    ticks = data[:, fields.index("tick")]
    assert np.array_equal(ticks, np.arange(ticks[0], ticks[0] + len(ticks))), "the log must hold every tick, in order"
    published = data[:, fields.index("policy")] == 1.0
    obs = data[:, [fields.index(f"obs.{i}") for i in range(5)]]
    logged = data[:, [fields.index("cmd.linear.x"), fields.index("cmd.angular.z")]]
    assert published.sum() > 250, published.sum()  # > 5 s of policy commands at 50 Hz
    offline = _offline_commands(model, obs, published, yaml.safe_load(profile.read_text()))
    err = np.abs(offline[published] - logged[published])
    print(f"published ticks {int(published.sum())}, max abs command error vs torch {err.max():.2e}")
    assert err.max() <= 1e-5, (err.max(), int(np.argmax(err.max(axis=1))))
    # The memory matters: the same observations through the MLP alone (no state) command something else, so a
    # frozen or dropped state would have failed the comparison above.
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    mlp = OnnxRuntimeBackend(REPO / "daemon" / "profiles" / "diffbot_policy.onnx")
    stateless = []
    for o in obs[published]:
        mlp.inputs["obs"][0] = o
        mlp.run()
        stateless.append(np.clip(mlp.outputs["action"][0] * [0.4, 1.5], [-0.4, -1.5], [0.4, 1.5]))
    assert np.abs(np.array(stateless) - logged[published]).max() > 1e-2
    # And the robot was driven: non-zero commands reached it over DDS.
    assert sum(1 for _, v, _ in commands if v != 0.0) > 200
