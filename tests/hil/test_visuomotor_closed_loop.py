"""The visuomotor example over real Cyclone DDS (loopback): `python -m edgepilot run` with
daemon/profiles/visuomotor.yaml drives the simulated robot of hil/visuomotor_node.py, which publishes its
joint states, IMU and rendered camera frames; the daemon's policy sees the target only in those frames and
brings the robot to it (the node's GOAL HELD: within the success distance for a second), with no fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("mujoco")
pytest.importorskip("cv2", reason="the image encoder needs OpenCV (the 'images' extra)")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "daemon" / "profiles" / "visuomotor.yaml"
START_S = 30.0  # the daemon's start-up (imports, model load, startup hold) on a loaded 2-core machine
DRIVE_S = 25.0  # the in-process test's episodes reach their targets within about 12 s


def test_visuomotor_policy_reaches_the_target_over_dds(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.hil.visuomotor_node import target_node

    transport = DdsTransport(dds_domain)
    node = target_node(transport, seed=3_000_001, verbose=False)
    result: dict = {}
    robot = threading.Thread(target=lambda: result.update(node.run(START_S + DRIVE_S + 30)), daemon=True)
    robot.start()
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(PROFILE), "--domain-id",
                             str(dds_domain), "--summary-json", str(summary)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    t0 = time.monotonic()
    try:
        deadline = t0 + START_S
        while time.monotonic() < deadline and not node.commands.t:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.05)
        assert node.commands.t, "the daemon never commanded the robot:\n" + "".join(lines)
        held = node.goal_held.wait(DRIVE_S)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.send_signal(15)
        rc = proc.wait(timeout=30)
        node.stop_event.set()
        robot.join(10)
        transport.close()
    out = "".join(lines)
    print(f"target held {held} after {took:.1f} s from the daemon's start; robot: {result}")
    assert held, f"the robot did not reach the target {node.goal}: {result}\n{out}"
    assert rc == 0, out
    s = json.loads(summary.read_text())
    assert s["faults"] == [], s["faults"]
    assert result["published"]["camera"] > 15 * 5  # the policy was fed rendered frames the whole way
