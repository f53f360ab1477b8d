"""The container's way: pip installs edgepilot into a prefix that is also a ROS 2 package prefix, and the
entrypoint indexes it, so `ros2 launch edgepilot ...` finds the package (Dockerfile.l4t, docker/entrypoint.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ros2.test_colcon_build import ament_share

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pip")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work)], check=True, timeout=240)
    wheel = next(work.glob("edgepilot-*.whl"))
    target = work / "venv"
    # --ignore-installed: without it pip --prefix first uninstalls the edgepilot of the running environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--ignore-installed",
                    "--prefix", str(target), str(wheel)], check=True, timeout=240)
    return target


def test_pip_puts_the_ros2_package_files_under_the_prefix(prefix: Path) -> None:
    share = ament_share("edgepilot", str(prefix))
    assert share == prefix / "share" / "edgepilot"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    assert (share / "launch" / "edgepilot.launch.py").read_text() == (ROOT / "launch" / "edgepilot.launch.py").read_text()
    assert (share / "config" / "edgepilot.params.yaml").is_file()
    assert (prefix / "bin" / "edgepilot").is_file()  # pip's console script: setup.cfg's lib/edgepilot is colcon's only


def test_entrypoint_indexes_the_prefix_after_sourcing_ros2(prefix: Path, tmp_path: Path) -> None:
    setup = tmp_path / "setup.bash"
    setup.write_text("export AMENT_PREFIX_PATH=/opt/ros/humble ROS_DISTRO=humble\n")
    env = {**os.environ, "EDGEPILOT_ROS_SETUP": str(setup), "EDGEPILOT_AMENT_PREFIX": str(prefix)}
    r = subprocess.run([str(ENTRYPOINT), "bash", "-c", 'echo "$AMENT_PREFIX_PATH"'], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{prefix}:/opt/ros/humble"
    # A prefix without edgepilot's index entry is left out (a stale or mistyped EDGEPILOT_AMENT_PREFIX).
    env["EDGEPILOT_AMENT_PREFIX"] = str(tmp_path)
    r = subprocess.run([str(ENTRYPOINT), "bash", "-c", 'echo "$AMENT_PREFIX_PATH"'], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.stdout.strip() == "/opt/ros/humble"


def test_dockerfile_installs_the_package_files_and_makes_the_venv_a_ros2_prefix() -> None:
    import shlex

    from tests.deployment.test_container import args_of

    copied = {src for a in args_of("COPY") for src in [p for p in shlex.split(a) if not p.startswith("--")][:-1]}
    assert {"setup.py", "setup.cfg", "package.xml", "resource", "launch", "config"} <= copied
    run = " ".join(args_of("RUN"))
    # launch_ros runs lib/<package>/<executable> of the prefix that indexes the package.
    assert "ln -s /opt/edgepilot/venv/bin/edgepilot /opt/edgepilot/venv/lib/edgepilot/edgepilot" in run
    assert "EDGEPILOT_AMENT_PREFIX=/opt/edgepilot/venv" in " ".join(args_of("ENV"))
