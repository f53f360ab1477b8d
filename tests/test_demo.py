"""`edgepilot demo`, end to end: two real processes over Cyclone DDS, MuJoCo physics, the trained policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_visuomotor_demo_reaches_the_target_from_pixels_with_no_fault() -> None:
    """The default `make demo`: the target only the camera sees; two processes over DDS, well under two minutes."""
    env = {k: v for k, v in os.environ.items() if k != "EDGEPILOT_SIM_RENDER"}  # the demo as users get it: GL camera
    proc = subprocess.run([sys.executable, "-m", "edgepilot", "demo", "--duration", "40", "--json"],
                          capture_output=True, text=True, timeout=150, env=env)
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["demo"] == "visuomotor" and result["goal_reached"] is True and result["faults"] == []
    assert result["final_distance_m"] <= result["goal_tolerance_m"]
    assert abs(result["loop_rate_hz"] - 50.0) / 50.0 < 0.01 and result["ticks"] > 100
    assert result["wall_s"] < 120, result["wall_s"]
    assert "result            : PASS" in proc.stderr


def test_diffbot_demo_reaches_goal_with_no_fault() -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGEPILOT_SIM_RENDER"}  # the demo as users get it: GL camera
    proc = subprocess.run([sys.executable, "-m", "edgepilot", "demo", "--robot", "diffbot", "--duration", "40", "--json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["goal_reached"] is True
    assert result["faults"] == []
    assert result["final_distance_m"] <= 0.15
    assert abs(result["loop_rate_hz"] - 50.0) / 50.0 < 0.01
    assert result["ticks"] > 100
    assert result["zero_commands"] >= 3  # at least the shutdown zeros
    assert result["latency_ms"]["p99"] < 20.0
    assert result["deadline_misses"] <= result["ticks"] // 100
    # Live progress reached the user: loop rate and latency lines from the daemon, distance from the robot.
    assert "rate=" in proc.stderr and "latency_p50=" in proc.stderr and "distance_to_goal=" in proc.stderr
    assert "result            : PASS" in proc.stderr
