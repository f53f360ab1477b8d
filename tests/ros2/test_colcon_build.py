"""`colcon build` of the package in a workspace, with colcon-core and colcon-ros and no ROS install, then used from it.

What a ROS 2 user does: the repository in ``ws/src/``, ``colcon build``,
``source install/setup.sh``. The test then finds the package the way
``ros2 launch``/``ros2 run`` do (the ament index under ``AMENT_PREFIX_PATH``,
``lib/<package>/`` for executables) and runs the installed executable. rclpy
cannot be installed here, so the node itself stops at its one-line "source
ROS 2" message, which is what the installed entry point must print then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(420)

ROOT = Path(__file__).resolve().parents[2]
COLCON = Path(sys.executable).parent / "colcon"
PACKAGE_FILES = ["package.xml", "setup.py", "setup.cfg", "pyproject.toml", "README.md", "resource", "launch", "config",
                 "edgepilot", "common", "daemon", "engines", "calibration", "hil"]


def ament_share(name: str, ament_prefix_path: str) -> Path | None:
    """ament_index_python.get_package_share_directory without ament_index_python: the first prefix indexing ``name``."""
    for prefix in ament_prefix_path.split(os.pathsep):
        if prefix and (Path(prefix) / "share" / "ament_index" / "resource_index" / "packages" / name).is_file():
            return Path(prefix) / "share" / name
    return None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not COLCON.is_file():
        pytest.skip("colcon is not installed (test extra: colcon-core, colcon-ros)")
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "src" / "edgepilot"
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in PACKAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    r = subprocess.run([str(COLCON), "build", "--event-handlers", "console_direct+"], cwd=ws, capture_output=True,
                       text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "Finished <<< edgepilot" in r.stdout
    return ws


def sourced(ws: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in a shell that sourced the workspace, as a user's terminal after ``source install/setup.sh``."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
           "CYCLONEDDS_URI": os.environ.get("CYCLONEDDS_URI", "")}
    return subprocess.run(["sh", "-c", f". install/setup.sh && {command}"], cwd=ws, capture_output=True, text=True,
                          env=env, timeout=120)


def test_install_tree_has_the_ament_index_entry_manifest_launch_config_and_executable(workspace: Path) -> None:
    prefix = workspace / "install" / "edgepilot"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "edgepilot").is_file()
    share = prefix / "share" / "edgepilot"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    assert (share / "launch" / "edgepilot.launch.py").is_file()
    assert (share / "config" / "edgepilot.params.yaml").is_file()
    assert (share / "profiles" / "diffbot.yaml").is_file() and (share / "profiles" / "diffbot_policy.onnx").is_file()
    exe = prefix / "lib" / "edgepilot" / "edgepilot"  # where launch_ros's package=/executable= look
    assert exe.is_file() and os.access(exe, os.X_OK)
    assert not (prefix / "bin").exists()


def test_sourced_workspace_indexes_the_package_and_imports_the_installed_copy(workspace: Path) -> None:
    r = sourced(workspace, f'echo "$AMENT_PREFIX_PATH"; {sys.executable} -c '
                           '"import edgepilot.daemon.config as c; print(c.__file__)"')
    assert r.returncode == 0, r.stderr
    ament_prefix_path, module_file = r.stdout.split()
    share = ament_share("edgepilot", ament_prefix_path)
    assert share == workspace / "install" / "edgepilot" / "share" / "edgepilot"
    assert Path(module_file).is_relative_to(workspace / "install"), module_file


def test_installed_executable_runs_and_the_node_asks_for_ros2(workspace: Path) -> None:
    share = workspace / "install" / "edgepilot" / "share" / "edgepilot"
    exe = "install/edgepilot/lib/edgepilot/edgepilot"
    r = sourced(workspace, f"{exe} ros2-params --config {share / 'profiles' / 'diffbot.yaml'}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (share / "config" / "edgepilot.params.yaml").read_text()
    # As ros2 launch starts it (launch/edgepilot.launch.py), without a ROS 2 install to source.
    r = sourced(workspace, f"{exe} node --config {share / 'profiles' / 'diffbot.yaml'} --ros-args -r __node:=edgepilot")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "edgepilot node: rclpy is not installed; it comes with ROS 2: source its setup first "
        "(source /opt/ros/$ROS_DISTRO/setup.bash, then your workspace's)"]
