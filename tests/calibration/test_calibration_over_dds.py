"""The daemon as a real process over Cyclone DDS (loopback) with a compensation file and residual logging:
the compensation is applied, SIGHUP reloads it without stopping the loop (and a broken file is refused),
and the residual MCAP logs are written and readable.

The test process plays the robot (hil/robot_node.py in a thread) with a gyro bias and a steering trim.
"""

from __future__ import annotations

import os
import signal
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

GYRO_BIAS = 0.05
STEER = 0.10


def _write(path: Path, gyro: float, steer: float) -> None:
    path.write_text(yaml.safe_dump({"profile": "diffbot",
                                    "observation": [{"field": "imu.angular_velocity.z", "bias": gyro}],
                                    "action": [{"field": "angular.z", "bias": steer}]}))


def test_compensation_reload_and_residual_logs_over_dds(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.calibration.residual_logs import read_logs
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.hil.robot_node import RobotNode
    from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

    comp = tmp_path / "compensation.yaml"
    _write(comp, GYRO_BIAS, STEER)
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    for term in d["observation"]["terms"]:
        if term["kind"] == "goal_relative":
            term["goal_xy"] = [50.0, 0.0]  # keeps the robot driving
    d["compensation"] = "compensation.yaml"
    d["residuals"] = {"directory": "residuals", "model": {"kind": "ideal_diff_drive", "max_wheel_accel_radps2": 75.0}}
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(d))

    transport = DdsTransport(dds_domain)
    sim = DiffDriveSim(SimParams(gyro_bias_radps=(0.0, 0.0, GYRO_BIAS), steering_bias_radps=STEER), np.random.default_rng(3))
    node = RobotNode(transport, sim, (50.0, 0.0), verbose=False)
    robot = threading.Thread(target=node.run, kwargs={"duration_s": 120}, daemon=True)
    robot.start()
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(dds_domain),
                             "--summary-json", str(summary)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_line(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in ln for ln in lines):
                return
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} in the daemon's output:\n{''.join(lines)}")

    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(v != 0.0 or w != 0.0 for _, v, w in node.commands.since(0.0)):
            time.sleep(0.02)
        assert node.commands.t, "the daemon never commanded the robot"
        time.sleep(2.0)
        comp.write_text("observation: [oops")  # broken: refused, the running compensation stays
        proc.send_signal(signal.SIGHUP)
        wait_line("compensation NOT reloaded", 5.0)
        _write(comp, GYRO_BIAS, STEER * 1.1)
        t_reload = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        wait_line("compensation generation 2", 5.0)
        time.sleep(2.0)
        during = node.commands.since(t_reload - 0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        node.stop_event.set()
        robot.join(5)
        transport.close()
    out = "".join(lines)
    assert proc.returncode == 0, out
    import json

    s = json.loads(summary.read_text())
    cal = s["calibration"]
    assert cal["compensation"]["generation"] == 2 and cal["compensation"]["reloads"] == 1, cal
    assert cal["compensation"]["reload_errors"] == 1 and "oops" not in cal["compensation"]["action"]
    assert cal["compensation"]["action"] == {"angular.z": pytest.approx(STEER * 1.1)}
    # The loop kept running through the reload: commands kept arriving (2.5 s at 50 Hz: 125).
    assert len(during) > 80, len(during)
    # And the reload did not delay or zero a tick. Gaps between receipts, or zero commands, in the window measure the
    # machine: the receipts are stamped by this process (the robot), which a loaded machine holds back, and
    # the robot then publishes late and the loop rightly zeroes for stale streams, reload or not. What a reload
    # could do is hold the loop's thread (its interpreter lock): the loop measures its own tick gaps, and a hold
    # longer than stall_timeout_s is a loop_stall on a tick between the one where the build began and the one after
    # the swap; none may be there.
    applied = int(cal["compensation"]["applied_at_tick"]["2"])
    built_ticks = int(cal["compensation"]["last_build_ms"] / 20.0) + 1
    near = [e for e in s["fault_events"]
            if e["fault"] == "loop_stall" and applied - built_ticks - 1 <= e["tick"] <= applied + 1]
    assert not near, (near, applied, cal["compensation"]["last_build_ms"])
    assert 0 < cal["compensation"]["last_build_ms"] < 1000
    res = cal["residuals"]
    assert res["records"] > 200 and res["lost_records"] == 0 and res["errors"] == 0, res
    fields = res["statistics"]["fields"]
    # Compensated: the gyro bias is off the raw value, and the robot turns as commanded despite its trim.
    assert abs(fields["imu.angular_velocity.z"]["mean"]) < 0.03, fields["imu.angular_velocity.z"]
    for w in ("joint.left_wheel_joint.velocity", "joint.right_wheel_joint.velocity"):
        assert abs(fields[w]["mean"]) < 0.1, fields[w]  # uncompensated the trim alone gives 0.3 rad/s
    segs = read_logs([tmp_path / "residuals"])
    gens = set(np.concatenate([sg.column("compensation") for sg in segs]).astype(int))
    assert gens == {1, 2}
    assert 2 in segs[-1].compensations and segs[-1].compensations[2].action[0].bias == pytest.approx(STEER * 1.1)
    assert sum(len(sg.data) for sg in segs) == res["records"]
