"""Closed loop: `python -m edgepilot run` drives the MuJoCo quadruped over real Cyclone DDS (loopback).

The robot (hil/legged_node.py, a thread of this process) publishes /joint_states with its joints in the
reverse of the model's order; the profile's policy order is a third one (all hips, all thighs, all calves).
The policy is the analytic stand-up controller of examples/quadruped/make_stand_policy.py (an ONNX graph,
not a trained network). Every joint has its own default angle, so a wrong name mapping shows as a wrong pose.
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

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "quadruped"
START_Q = np.tile([0.0, 0.5, -1.0], 4)  # model order, rad: a taller pose than the default one
DAEMON_S = 8.0


def test_daemon_stands_quadruped_with_joints_mapped_by_name(tmp_path: Path, dds_domain: int) -> None:
    sys.path.insert(0, str(EXAMPLE))
    from make_stand_policy import build  # type: ignore[import-not-found]

    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.hil.legged_node import LeggedNode
    from edgepilot.hil.legged_sim import QuadrupedSim

    data = yaml.safe_load((EXAMPLE / "quadruped.yaml").read_text())
    model = build(EXAMPLE / "quadruped.yaml", tmp_path / "stand_policy.onnx")
    data["engine"]["model"] = str(model)
    profile = tmp_path / "quadruped.yaml"
    profile.write_text(yaml.safe_dump(data))
    defaults = data["action"]["default_positions"]

    sim = QuadrupedSim(kp=data["action"]["stiffness"], kd=data["action"]["damping"], start_q=START_Q,
                       start_height_m=0.375)
    transport = DdsTransport(dds_domain)
    node = LeggedNode(transport, sim, command_topic="/joint_commands", command_message="joint_state")
    assert node.publish_order != tuple(data["action"]["joints"]) != sim.joint_names
    thread = threading.Thread(target=node.run, args=(DAEMON_S + 20.0,), daemon=True)
    thread.start()
    summary = tmp_path / "summary.json"
    try:
        time.sleep(1.0)
        assert node.commands_received == 0
        proc = subprocess.run(
            [sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(dds_domain),
             "--duration", str(DAEMON_S), "--summary-json", str(summary)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        t_end = time.monotonic() - node_t0(node)
    finally:
        node.stop_event.set()
        thread.join(timeout=5)
        transport.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads(summary.read_text())
    grace = data["watchdog"]["startup_grace_s"]
    assert s["policy_commands"] > 0.8 * (DAEMON_S - grace) * data["loop"]["rate_hz"], s
    assert s["faults"] == [], s["fault_events"]
    assert node.commands_received > 0 and node.bad_commands == 0

    t = np.array(node.trace_t)
    h = np.array(node.trace_height)
    up = np.array(node.trace_up)
    q = np.array(node.trace_q)
    # Stood: the last 3 s the daemon ran, trunk at the default pose's height (start pose: 0.375 m) and level.
    window = (t > t_end - 3.5) & (t < t_end - 0.5)
    assert window.sum() > 50
    assert np.all((h[window] > 0.22) & (h[window] < 0.32)), (h[window].min(), h[window].max())
    assert np.all(up[window] > 0.9), up[window].min()
    # Mapped by name: every joint near its own default, and within each joint type in the defaults' order
    # (the defaults of one type are 0.2 rad apart, so a swapped pair would reverse the order).
    names = sim.joint_names
    q_end = q[window].mean(axis=0)
    want = np.array([defaults[j] for j in names])
    assert np.all(np.abs(q_end - want) < 0.15), dict(zip(names, np.round(q_end - want, 3)))
    for kind in ("hip", "thigh", "calf"):
        idx = [i for i, j in enumerate(names) if f"_{kind}_" in j]
        assert list(np.argsort(q_end[idx])) == list(np.argsort(want[idx])), (kind, q_end[idx], want[idx])


def node_t0(node: object) -> float:
    """Monotonic time of the node's first trace sample (trace_t is relative to it)."""
    return time.monotonic() - node.trace_t[-1] if node.trace_t else time.monotonic()  # type: ignore[attr-defined]
