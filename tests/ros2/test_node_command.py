"""`edgepilot node` as ros2 launch starts it: the real CLI in a subprocess, with the ROS arguments launch_ros appends.

rclpy is not installable here, so a start whose checks all pass ends at the
one-line "source ROS 2" message (exit 2); a start the checks refuse ends
earlier, with its own line. Neither may print a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "daemon" / "profiles" / "diffbot.yaml"
NEEDS_ROS = ("edgepilot node: rclpy is not installed; it comes with ROS 2: source its setup first "
             "(source /opt/ros/$ROS_DISTRO/setup.bash, then your workspace's)")


def edgepilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepilot", *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def launch_params_file(tmp_path: Path, params: dict) -> Path:
    """What launch_ros writes for a dict in ``parameters=``: a file under the ``/**`` wildcard."""
    path = tmp_path / "launch_params_x"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_as_launched_with_the_shipped_params_file_the_checks_pass(tmp_path: Path) -> None:
    launch = launch_params_file(tmp_path, {"profile": str(PROFILE), "use_sim_time": True})
    r = edgepilot("node", "--config", str(PROFILE), "--ros-args", "--log-level", "info", "-r", "__node:=edgepilot",
                  "-r", "__ns:=/", "--params-file", str(ROOT / "config" / "edgepilot.params.yaml"),
                  "--params-file", str(launch), "-r", "/imu/data:=/imu/filtered")
    assert r.returncode == 2 and one_line(r) == NEEDS_ROS


def test_a_namespaced_node_reads_its_namespaced_section(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/robot1/edgepilot": {"ros__parameters": {"loop": {"rate_hz": 50}}}}))
    r = edgepilot("node", "--config", str(PROFILE), "--ros-args", "-r", "__ns:=/robot1", "--params-file", str(params))
    assert r.returncode == 2
    assert one_line(r) == (f"edgepilot node: {params} [/robot1/edgepilot]: loop.rate_hz: 50 is of type int, the "
                           "parameter of type float (ROS 2 parameters keep their type): write 50.0")
    # Without the namespace, that section is another node's: not read, not refused.
    r = edgepilot("node", "--config", str(PROFILE), "--ros-args", "--params-file", str(params))
    assert r.returncode == 2 and one_line(r) == NEEDS_ROS


def test_a_parameter_the_profile_does_not_have_stops_the_start() -> None:
    r = edgepilot("node", "--config", str(PROFILE), "--ros-args", "-p", "streams.lidar.max_age_s:=0.1")
    assert r.returncode == 2
    assert one_line(r).startswith("edgepilot node: -p: streams.lidar.max_age_s is not a parameter of this profile's "
                                  "node; its parameters: profile, use_sim_time, loop.rate_hz, ")


def test_remapping_the_command_topic_stops_the_start() -> None:
    r = edgepilot("node", "--config", str(PROFILE), "--ros-args", "-r", "/cmd_vel:=/base/cmd_vel")
    assert r.returncode == 2
    assert one_line(r) == ("edgepilot node: remapping /cmd_vel:=/base/cmd_vel moves the command publisher but not the "
                           "stall supervisor, which writes zero on /cmd_vel; set action.topic: /base/cmd_vel in the "
                           "profile instead")


def test_run_takes_ros_args_too_and_a_dds_profile_ignores_them(tmp_path: Path) -> None:
    # --ros-args must not reach argparse; the dds profile then runs (briefly) as before.
    r = edgepilot("run", "--config", str(PROFILE), "--duration", "0.5", "--loopback", "--domain-id", "151",
                  "--ros-args", "-r", "__node:=x")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_ros2_params_writes_the_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "robot.params.yaml"
    r = edgepilot("ros2-params", "--config", str(PROFILE), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == (ROOT / "config" / "edgepilot.params.yaml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["robot.params.yaml"]  # no temp file left
    r = edgepilot("ros2-params", "--config", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "cannot read robot profile" in r.stderr and "Traceback" not in r.stderr
