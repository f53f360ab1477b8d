"""package.xml, read by catkin_pkg (the parser colcon, rosdep and bloom use), agrees with pyproject.toml and the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

catkin_pkg = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg is in the test extra")
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest():  # type: ignore[no-untyped-def]
    package = catkin_pkg.parse_package(str(ROOT / "package.xml"))
    package.validate()  # raises InvalidPackage naming what is wrong
    return package


def test_format_3_ament_python_named_and_versioned_as_the_python_project(manifest) -> None:  # type: ignore[no-untyped-def]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert manifest.package_format == 3
    assert manifest.get_build_type() == "ament_python"
    assert manifest.name == project["name"] == "edgepilot"
    assert manifest.version == project["version"]
    assert manifest.licenses == [project["license"]["text"]]


def test_exec_depends_cover_every_message_package_the_transport_uses(manifest) -> None:  # type: ignore[no-untyped-def]
    deps = {d.name for d in manifest.exec_depends}
    assert {"rclpy", "rosidl_runtime_py", "lifecycle_msgs", "launch", "launch_ros"} <= deps
    # Every ROS type the daemon names (daemon/transport/ros_msgs.py) comes from a package it depends on.
    from edgepilot.daemon.transport.ros_msgs import ROS_TYPES

    used = {name.split("/")[0] for name in ROS_TYPES}
    assert used <= deps, f"message packages without exec_depend: {used - deps}"
    # The launch file's own imports.
    launch_src = (ROOT / "launch" / "edgepilot.launch.py").read_text()
    imported = set(re.findall(r"^from (\w+)", launch_src, flags=re.M)) - {"__future__", "pathlib", "re"}
    assert imported - {"yaml"} <= deps and "python3-yaml" in deps


def test_system_dependencies_are_rosdep_keys_for_the_base_install(manifest) -> None:  # type: ignore[no-untyped-def]
    deps = {d.name for d in manifest.exec_depends}
    # rosdep keys (ros/rosdistro rosdep/python.yaml) for the base dependencies that have one.
    assert {"python3-numpy", "python3-yaml", "python3-pydantic", "python3-onnxruntime-pip"} <= deps
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {re.split(r"[<>=!; ]", d)[0] for d in project["dependencies"]}
    assert base == {"numpy", "pydantic", "pyyaml", "onnxruntime", "onnx", "cyclonedds"}  # what the keys stand for


def test_ament_marker_and_setup_data_install_the_package_for_ros2_launch() -> None:
    assert (ROOT / "resource" / "edgepilot").is_file()
    setup_py = (ROOT / "setup.py").read_text()
    for dest in ("share/ament_index/resource_index/packages", 'f"share/{PACKAGE}"', 'f"share/{PACKAGE}/launch"',
                 'f"share/{PACKAGE}/config"'):
        assert dest in setup_py
    cfg = (ROOT / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/edgepilot" in cfg and "script_dir=$base/lib/edgepilot" in cfg
