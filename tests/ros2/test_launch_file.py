"""launch/edgepilot.launch.py's logic, imported against a stand-in for launch/launch_ros (tests/ros2/launch_standin.py).

The ROS 2 launch modules cannot be installed without ROS 2, so the stand-in
records the actions the file builds; what is checked is the file's own logic:
the arguments it declares, the node it starts (package, executable, the
``edgepilot node`` command line, parameters in precedence order, remappings),
and the lifecycle transitions (configure, then activate once configured,
once). The node's command line is parsed by the real edgepilot CLI parser.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.ros2 import launch_standin as standin

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "edgepilot.launch.py"


@pytest.fixture
def launch_file(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    standin.install(monkeypatch)
    spec = importlib.util.spec_from_file_location("edgepilot_launch_under_test", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """The embedded profile, copied with its model, named robot1/edgepilot_base."""
    src = ROOT / "daemon" / "profiles"
    shutil.copy2(src / "diffbot_policy.onnx", tmp_path)
    data = yaml.safe_load((src / "diffbot.yaml").read_text())
    data["transport"].update({"node_name": "edgepilot_base", "namespace": "/robot1"})
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def setup_actions(launch_file: ModuleType, **values: str) -> list[Any]:
    return launch_file.launch_setup(standin.LaunchContext(values))


def test_declares_profile_as_required_and_the_rest_with_defaults(launch_file: ModuleType) -> None:
    ld = launch_file.generate_launch_description()
    declared = {a.name: a.kwargs for a in ld.entities if isinstance(a, standin.DeclareLaunchArgument)}
    assert set(declared) == {"profile", "params_file", "node_name", "namespace", "autostart", "use_sim_time",
                             "remappings", "log_level"}
    assert "default_value" not in declared["profile"]  # launch refuses to start without profile:=
    assert declared["autostart"]["default_value"] == "true"
    assert all(kw["description"] for kw in declared.values())
    assert isinstance(ld.entities[-1], standin.OpaqueFunction) and ld.entities[-1].function is launch_file.launch_setup


def test_starts_edgepilot_node_with_the_profile_params_file_first_then_launch_values(
        launch_file: ModuleType, profile: Path, tmp_path: Path) -> None:
    params = tmp_path / "robot.params.yaml"
    node, *_ = setup_actions(launch_file, profile=str(profile), params_file=str(params), use_sim_time="True",
                             remappings="/imu/data:=/imu/filtered, /joint_states:=/base/joint_states",
                             log_level="debug")
    kw = node.kwargs
    assert isinstance(node, standin.LifecycleNode)
    assert (kw["package"], kw["executable"]) == ("edgepilot", "edgepilot")
    assert (kw["name"], kw["namespace"]) == ("edgepilot_base", "/robot1")  # from the profile's transport section
    assert kw["arguments"] == ["node", "--config", str(profile.resolve())]
    # Later entries win in ROS 2: the params file overrides the profile, the launch's own values override both.
    assert kw["parameters"] == [str(params), {"profile": standin.ParameterValue(str(profile.resolve()), value_type=str),
                                              "use_sim_time": True}]
    assert kw["remappings"] == [("/imu/data", "/imu/filtered"), ("/joint_states", "/base/joint_states")]
    assert kw["ros_arguments"] == ["--log-level", "debug"]
    assert float(kw["sigterm_timeout"]) >= 5  # time for deactivate (zero velocity) before launch escalates


def test_node_command_line_is_one_the_edgepilot_cli_accepts(launch_file: ModuleType, profile: Path) -> None:
    from edgepilot.cli import build_parser
    from edgepilot.ros2_commands import cmd_node

    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[launch_file.EXECUTABLE] == "edgepilot.cli:main"  # installed into lib/edgepilot/ by colcon
    node, *_ = setup_actions(launch_file, profile=str(profile))
    args = build_parser().parse_args(node.kwargs["arguments"])
    assert args.func is cmd_node and args.config == profile.resolve()
    assert node.kwargs["parameters"] == [{"profile": standin.ParameterValue(str(profile.resolve()), value_type=str)}]


def test_autostart_configures_then_activates_once_configured_and_only_once(launch_file: ModuleType,
                                                                            profile: Path) -> None:
    node, register, configure = setup_actions(launch_file, profile=str(profile))
    handler = register.args[0] if register.args else register.kwargs["event_handler"]
    assert type(handler).__name__ == "OnStateTransition"
    h = handler.kwargs
    assert h["target_lifecycle_node"] is node
    assert (h["start_state"], h["goal_state"]) == ("configuring", "inactive")  # not after a later deactivate
    assert h["handle_once"] is True  # an operator's configure after cleanup does not re-activate by itself
    activate = [e for e in h["entities"] if type(e).__name__ == "EmitEvent"]
    assert len(activate) == 1
    change = activate[0].kwargs["event"]
    assert change.kwargs["transition_id"] == standin.Transition.TRANSITION_ACTIVATE
    assert change.kwargs["lifecycle_node_matcher"].action is node
    assert type(configure).__name__ == "EmitEvent"
    assert configure.kwargs["event"].kwargs["transition_id"] == standin.Transition.TRANSITION_CONFIGURE
    assert configure.kwargs["event"].kwargs["lifecycle_node_matcher"].action is node


def test_autostart_false_leaves_the_node_unconfigured(launch_file: ModuleType, profile: Path) -> None:
    actions = setup_actions(launch_file, profile=str(profile), autostart="false")
    assert [type(a).__name__ for a in actions] == ["LifecycleNode"]


def test_launch_arguments_override_the_profiles_name_and_namespace(launch_file: ModuleType, profile: Path,
                                                                   tmp_path: Path) -> None:
    node, *_ = setup_actions(launch_file, profile=str(profile), node_name="pilot", namespace="/robot2")
    assert (node.kwargs["name"], node.kwargs["namespace"]) == ("pilot", "/robot2")
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\n")
    node, *_ = setup_actions(launch_file, profile=str(bare))
    assert (node.kwargs["name"], node.kwargs["namespace"]) == ("edgepilot", "")  # the profile's defaults


@pytest.mark.parametrize("values, message", [
    ({}, "profile:= is required"),
    ({"profile": "/nonexistent/robot.yaml"}, "profile:=/nonexistent/robot.yaml: cannot read it"),
    ({"remappings": "/imu/data=/imu"}, "remappings: '/imu/data=/imu' is not FROM:=TO"),
    ({"autostart": "maybe"}, "autostart:='maybe' is not true or false"),
    ({"use_sim_time": "2"}, "use_sim_time:='2' is not true or false"),
])
def test_bad_arguments_stop_the_launch_with_the_argument_named(launch_file: ModuleType, profile: Path,
                                                               values: dict[str, str], message: str) -> None:
    if values and "profile" not in values:
        values = {"profile": str(profile), **values}
    with pytest.raises(launch_file.LaunchArgumentError, match=re.escape("edgepilot.launch.py: " + message)):
        setup_actions(launch_file, **values)
