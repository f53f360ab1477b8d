"""The ROS 2 parameters of a profile (edgepilot/ros2_params.py) and the ROS arguments read before rclpy starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config import default_profile_path, load_profile
from edgepilot.daemon.config.tunable_parameters import tunable_parameters
from edgepilot.ros2_arguments import (RosArgumentError, check_command_topic, parse_ros_args, resolve_topic,
                                      split_ros_args)
from edgepilot.ros2_params import check_parameters, flatten, node_fqn, node_sections, render_parameters_file

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile():  # type: ignore[no-untyped-def]
    return load_profile(default_profile_path())


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_shipped_parameters_file_is_the_embedded_profiles(profile) -> None:  # type: ignore[no-untyped-def]
    assert (ROOT / "config" / "edgepilot.params.yaml").read_text() == render_parameters_file(profile), \
        "regenerate it: edgepilot ros2-params --config daemon/profiles/diffbot.yaml -o config/edgepilot.params.yaml"


def test_rendered_file_flattens_to_the_tunable_parameters_with_their_types(profile) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(render_parameters_file(profile))
    assert list(data) == ["edgepilot"]
    flat = flatten(data["edgepilot"]["ros__parameters"])
    expected = tunable_parameters(profile)
    assert flat == expected
    assert {k: type(v) for k, v in flat.items()} == {k: type(v) for k, v in expected.items()}  # 50.0 stays a float


def test_rendered_file_is_accepted_as_it_is(profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "p.yaml", render_parameters_file(profile))
    values = check_parameters(profile, parse_ros_args(["--params-file", str(path)]), "/edgepilot")
    assert values == tunable_parameters(profile)


def test_later_files_and_p_win(profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, "a.yaml", {"edgepilot": {"ros__parameters": {"loop": {"rate_hz": 25.0}, "goal": {"x_m": 1.0}}}})
    b = write(tmp_path, "b.yaml", {"/**": {"ros__parameters": {"loop": {"rate_hz": 40.0}, "profile": "/x.yaml"}}})
    args = parse_ros_args(["--params-file", str(a), "--params-file", str(b), "-p", "goal.x_m:=3.5"])
    assert check_parameters(profile, args, "/edgepilot") == {"loop.rate_hz": 40.0, "goal.x_m": 3.5, "profile": "/x.yaml"}


def test_unknown_name_in_this_nodes_section_is_refused_with_the_file_and_name(profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "p.yaml", {"/robot1/edgepilot": {"ros__parameters": {"streams": {"lidar": {"max_age_s": 0.1}}}}})
    with pytest.raises(RosArgumentError, match=r"p.yaml \[/robot1/edgepilot\]: streams.lidar.max_age_s is not a "
                                               r"parameter of this profile's node; its parameters: profile, "):
        check_parameters(profile, parse_ros_args(["--params-file", str(path)]), "/robot1/edgepilot")


def test_other_nodes_and_wildcard_sections_may_hold_other_parameters(profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "shared.yaml", {
        "/**": {"ros__parameters": {"use_sim_time": True, "qos_overrides": {"depth": 5}}},
        "controller_server": {"ros__parameters": {"loop": {"rate_hz": 20}}},
        "/**/edgepilot": {"ros__parameters": {"watchdog": {"recovery_ticks": 5}}},
    })
    values = check_parameters(profile, parse_ros_args(["--params-file", str(path)]), "/robot1/edgepilot")
    assert values == {"use_sim_time": True, "watchdog.recovery_ticks": 5}


@pytest.mark.parametrize("params, message", [
    ({"loop": {"rate_hz": 50}}, "loop.rate_hz: 50 is of type int, the parameter of type float (ROS 2 parameters "
                                "keep their type): write 50.0"),
    ({"watchdog": {"recovery_ticks": True}}, "watchdog.recovery_ticks: True is of type bool, the parameter of type int"),
    ({"profile": 3}, "profile: 3 is of type int, the parameter of type str"),
])
def test_a_value_of_another_type_is_refused(profile, tmp_path: Path, params: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "p.yaml", {"edgepilot": {"ros__parameters": params}})
    with pytest.raises(RosArgumentError, match="^" + __import__("re").escape(f"{path} [edgepilot]: {message}")):
        check_parameters(profile, parse_ros_args(["--params-file", str(path)]), "/edgepilot")


def test_a_value_the_profile_rejects_is_refused_naming_the_field(profile) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RosArgumentError, match=r"(?s)ROS 2 parameters for /edgepilot: .*action\.channels\.0\.limit: "
                                               r"Input should be greater than 0"):
        check_parameters(profile, parse_ros_args(["-p", "action.linear_x.limit:=-0.5"]), "/edgepilot")


@pytest.mark.parametrize("content, message", [
    ("edgepilot: [1, 2]\n", "section 'edgepilot' has no 'ros__parameters' mapping"),
    ("- a\n", "a ROS 2 parameters file maps node names"),
    ("edgepilot: {ros__parameters: {a: [}\n", "not valid YAML"),
])
def test_malformed_parameters_files_are_refused(profile, tmp_path: Path, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "p.yaml", content)
    with pytest.raises(RosArgumentError, match=__import__("re").escape(message)):
        check_parameters(profile, parse_ros_args(["--params-file", str(path)]), "/edgepilot")


def test_section_names_match_as_rcl_matches_them() -> None:
    data = {k: {"ros__parameters": {}} for k in ("edgepilot", "/edgepilot", "/**", "/**/edgepilot", "/robot1/*",
                                                 "/robot2/edgepilot", "other")}
    assert [k for k, _, _ in node_sections(data, "/robot1/edgepilot", "f")] == ["/**", "/**/edgepilot", "/robot1/*"]
    assert [(k, exact) for k, _, exact in node_sections(data, "/edgepilot", "f")] == [
        ("edgepilot", True), ("/edgepilot", True), ("/**", False), ("/**/edgepilot", False)]
    assert node_fqn("edgepilot", "robot1") == node_fqn("edgepilot", "/robot1/") == "/robot1/edgepilot"
    assert node_fqn("edgepilot", "") == node_fqn("edgepilot", "/") == "/edgepilot"


def test_ros_args_are_split_from_the_programs_own() -> None:
    own, ros = split_ros_args(["node", "--config", "r.yaml", "--ros-args", "-r", "__node:=a", "--", "--autostart",
                               "--ros-args", "-p", "x:=1"])
    assert own == ["node", "--config", "r.yaml", "--autostart"]
    assert ros == ["-r", "__node:=a", "-p", "x:=1"]
    args = parse_ros_args(["-r", "__node:=pilot", "--remap", "edgepilot:/imu:=/imu2", "-p", "a.b:=[1, 2]",
                           "--log-level", "debug", "--params-file", "f.yaml", "-r", "other:__ns:=/x"])
    assert args.remaps == [("", "__node", "pilot"), ("edgepilot", "/imu", "/imu2"), ("other", "__ns", "/x")]
    assert args.params == {"a.b": [1, 2]} and args.params_files == [Path("f.yaml")]
    assert args.special("__node", "edgepilot") == "pilot" and args.special("__ns", "edgepilot") is None
    with pytest.raises(RosArgumentError, match="-p 'x=1': expected NAME:=VALUE"):
        parse_ros_args(["-p", "x=1"])
    with pytest.raises(RosArgumentError, match="--params-file needs a value"):
        parse_ros_args(["--params-file"])


def test_remapping_the_command_topic_is_refused_and_sensor_topics_are_not() -> None:
    ok = parse_ros_args(["-r", "/imu/data:=/imu/filtered", "-r", "other_node:/cmd_vel:=/x", "-r", "__ns:=/robot1"])
    check_command_topic("/cmd_vel", ok, "edgepilot", "/robot1")
    for remap in ("/cmd_vel:=/robot/cmd_vel", "edgepilot:/cmd_vel:=/x", "cmd_vel:=/x"):
        with pytest.raises(RosArgumentError, match="moves the command publisher but not the stall supervisor"):
            check_command_topic("/cmd_vel", parse_ros_args(["-r", remap]), "edgepilot", "/")
    assert resolve_topic("cmd_vel", "/robot1") == "/robot1/cmd_vel" and resolve_topic("/a", "/robot1") == "/a"
    with pytest.raises(RosArgumentError, match="action.topic 'cmd_vel' is relative: in namespace '/robot1' the node "
                                               "would publish on /robot1/cmd_vel but the stall supervisor's zero "
                                               "command goes to /cmd_vel"):
        check_command_topic("cmd_vel", parse_ros_args([]), "edgepilot", "/robot1")
    check_command_topic("cmd_vel", parse_ros_args([]), "edgepilot", "")  # root namespace: the same topic
