"""Start edgepilot as a ROS 2 lifecycle node, configure it, then activate it.

    ros2 launch edgepilot edgepilot.launch.py profile:=/etc/edgepilot/robot.yaml
    ros2 launch edgepilot edgepilot.launch.py profile:=robot.yaml params_file:=robot.params.yaml \\
        namespace:=robot1 remappings:="/imu/data:=/imu/filtered /joint_states:=/base/joint_states"

Arguments (``ros2 launch edgepilot edgepilot.launch.py --show-args``):

* ``profile`` (required): the robot profile (YAML); everything is set there.
* ``params_file``: a ROS 2 parameters file (``edgepilot ros2-params`` writes one); overrides the
  profile's tunable values. Default: none.
* ``node_name``, ``namespace``: default the profile's ``transport.node_name`` / ``transport.namespace``.
* ``autostart``: ``true`` (default) sends ``configure`` and, once it succeeded, ``activate`` (once: a
  later ``deactivate`` by an operator stays deactivated); ``false`` leaves the node unconfigured for
  ``ros2 lifecycle set`` or a lifecycle manager.
* ``use_sim_time``: ``true``/``false``; empty (default) leaves it to the params file (else false).
* ``remappings``: ``FROM:=TO`` pairs separated by spaces, for the sensor topics. The command topic is
  not remapped here: the node refuses it, because the stall supervisor writes zero on the profile's
  ``action.topic``; set that in the profile.
* ``log_level``: ``debug``, ``info`` (default), ``warn``, ``error``.

Precedence, lowest first: the profile, the params file, this file's ``profile`` and ``use_sim_time``,
``ros2 param set`` (taken at the next configure). A value the node refuses (an unknown parameter, one of
the wrong type, one the profile's validation rejects) stops it before it publishes anything, with one line
naming the value; a failed ``configure`` leaves it unconfigured, publishing nothing.

This file runs in the ROS 2 Python (``ros2 launch``), which need not see edgepilot's own environment
(in the container edgepilot lives in a virtual environment): it imports only launch, launch_ros,
lifecycle_msgs and PyYAML, and reads the profile as plain YAML for the node's name.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

PACKAGE = "edgepilot"
EXECUTABLE = "edgepilot"  # installed into lib/edgepilot/ (setup.cfg), where launch_ros looks
# Seconds between launch's SIGINT and its SIGTERM: the node deactivates (publishes zero) and exits well within.
SIGTERM_TIMEOUT_S = "10"

ARGUMENTS = {
    "profile": (None, "robot profile (YAML), e.g. /etc/edgepilot/robot.yaml"),
    "params_file": ("", "ROS 2 parameters file overriding the profile's tunable values (edgepilot ros2-params)"),
    "node_name": ("", "node name (default: the profile's transport.node_name)"),
    "namespace": ("", "node namespace (default: the profile's transport.namespace)"),
    "autostart": ("true", "true: configure, then activate once; false: stay unconfigured"),
    "use_sim_time": ("", "true or false; empty: as the params file says (else false)"),
    "remappings": ("", "FROM:=TO pairs for sensor topics, separated by spaces (not the command topic)"),
    "log_level": ("info", "debug, info, warn, error or fatal"),
}


class LaunchArgumentError(ValueError):
    """A launch argument that cannot be used; launch prints the message as the reason it stopped."""


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise LaunchArgumentError(f"edgepilot.launch.py: {name}:={text!r} is not true or false")


def parse_remappings(text: str) -> list[tuple[str, str]]:
    """``"/a:=/b /c:=/d"`` -> ``[("/a", "/b"), ("/c", "/d")]``; commas work as separators too."""
    pairs = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise LaunchArgumentError(f"edgepilot.launch.py: remappings: {item!r} is not FROM:=TO")
        pairs.append((src, dst))
    return pairs


def profile_node_identity(profile: str) -> tuple[str, str]:
    """(node name, namespace) as the profile's ``transport`` section gives them."""
    try:
        data = yaml.safe_load(Path(profile).read_text())
    except OSError as err:
        raise LaunchArgumentError(f"edgepilot.launch.py: profile:={profile}: cannot read it: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise LaunchArgumentError(f"edgepilot.launch.py: profile:={profile}: not valid YAML: {err}") from None
    transport = data.get("transport") if isinstance(data, dict) else None
    transport = transport if isinstance(transport, dict) else {}
    return str(transport.get("node_name") or "edgepilot"), str(transport.get("namespace") or "")


def lifecycle_actions(node: LifecycleNode) -> list:
    """configure now; activate when that configure has succeeded (once)."""
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive", handle_once=True,
        entities=[LogInfo(msg="edgepilot configured: activating"),
                  EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    return [activate, configure]


def launch_setup(context, *args, **kwargs) -> list:
    """The node and its transitions, from the launch arguments' values."""
    cfg = {name: context.launch_configurations.get(name, default or "") for name, (default, _) in ARGUMENTS.items()}
    profile = cfg["profile"].strip()
    if not profile:
        raise LaunchArgumentError("edgepilot.launch.py: profile:= is required (the robot profile YAML)")
    name, namespace = profile_node_identity(profile)
    parameters: list = []
    if cfg["params_file"].strip():
        parameters.append(cfg["params_file"].strip())
    launch_values: dict = {"profile": ParameterValue(str(Path(profile).resolve()), value_type=str)}
    if cfg["use_sim_time"].strip():
        launch_values["use_sim_time"] = parse_bool("use_sim_time", cfg["use_sim_time"])
    parameters.append(launch_values)
    node = LifecycleNode(
        package=PACKAGE, executable=EXECUTABLE, name=cfg["node_name"].strip() or name,
        namespace=cfg["namespace"].strip() or namespace, arguments=["node", "--config", str(Path(profile).resolve())],
        parameters=parameters, remappings=parse_remappings(cfg["remappings"]),
        ros_arguments=["--log-level", cfg["log_level"].strip() or "info"], output="screen", emulate_tty=True,
        sigterm_timeout=SIGTERM_TIMEOUT_S)
    actions = [node]
    if parse_bool("autostart", cfg["autostart"]):
        actions += lifecycle_actions(node)
    return actions


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, description=text) if default is None else
                DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=launch_setup)])
