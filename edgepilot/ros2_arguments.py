"""The ROS 2 arguments on a command line (``--ros-args -r ... -p ... --params-file ...``), read without rclpy.

``ros2 launch`` and ``ros2 run`` append them after the program's own
arguments. rclpy reads them itself (from ``sys.argv``) when the node starts;
edgepilot reads them first for two reasons: its own argument parser must not
see them, and a value it would refuse (an unknown parameter, a remapped
command topic) must stop the start with one clear line instead of a node that
later fails to configure or publishes where the stall supervisor does not.

Syntax as rcl parses it: a ``--ros-args`` block runs to a lone ``--`` or the
end; inside, ``-r``/``--remap FROM:=TO`` (``NODE:FROM:=TO`` for one node),
``-p``/``--param NAME:=VALUE`` (VALUE is YAML), ``--params-file FILE``; other
flags (``--log-level``, ``-e``/``--enclave``, ...) are left to rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Flags of a --ros-args block that take a value edgepilot does not read.
_OTHER_FLAGS_WITH_VALUE = frozenset({"--log-level", "-e", "--enclave", "--log-config-file"})


class RosArgumentError(ValueError):
    """A ROS argument that cannot be used; the message names it and the fix."""


@dataclass
class RosArguments:
    """What the ``--ros-args`` blocks ask for, in command-line order (later wins, as in rcl)."""

    params_files: list[Path] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)
    remaps: list[tuple[str, str, str]] = field(default_factory=list)  # (node or "", from, to)

    def special(self, name: str, node: str) -> str | None:
        """The last ``__node``/``__ns`` remap that applies to ``node``; None when there is none."""
        value = None
        for target, src, dst in self.remaps:
            if src == name and target in ("", node):
                value = dst
        return value


def split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the program's own arguments, the contents of every ``--ros-args`` block)."""
    own: list[str] = []
    ros: list[str] = []
    inside = False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif inside and arg == "--":
            inside = False
        elif inside:
            ros.append(arg)
        else:
            own.append(arg)
    return own, ros


def _pair(flag: str, text: str) -> tuple[str, str]:
    left, sep, right = text.partition(":=")
    if not sep or not left or not right:
        raise RosArgumentError(f"{flag} {text!r}: expected NAME:=VALUE")
    return left, right


def parse_ros_args(ros: list[str]) -> RosArguments:
    """Read the remaps, parameters and parameter files of :func:`split_ros_args`'s second list."""
    out = RosArguments()
    it = iter(ros)
    for arg in it:
        if arg in ("-r", "--remap", "-p", "--param", "--params-file") or arg in _OTHER_FLAGS_WITH_VALUE:
            value = next(it, None)
            if value is None:
                raise RosArgumentError(f"--ros-args {arg} needs a value")
            if arg in ("-r", "--remap"):
                left, right = _pair(arg, value)
                node, _, src = left.rpartition(":")
                out.remaps.append((node, src, right))
            elif arg in ("-p", "--param"):
                name, text = _pair(arg, value)
                try:
                    out.params[name] = yaml.safe_load(text)
                except yaml.YAMLError as err:
                    raise RosArgumentError(f"{arg} {value!r}: the value is not YAML: {err}") from None
            elif arg == "--params-file":
                out.params_files.append(Path(value))
    return out


def resolve_topic(name: str, namespace: str) -> str:
    """A topic name as ROS resolves it for a node in ``namespace`` (``~`` names are not used by edgepilot)."""
    if name.startswith("/"):
        return name
    return namespace.rstrip("/") + "/" + name


def check_command_topic(topic: str, args: RosArguments, node: str, namespace: str) -> None:
    """Refuse what would move the node's command publisher away from the stall supervisor's.

    The supervisor is a separate process that writes zero on the profile's
    command topic through Cyclone DDS; ROS remapping and namespaces do not
    reach it. A remapped or namespaced command topic would leave the robot's
    base listening to one topic and the supervisor's zero going to another.
    """
    fixed = topic if topic.startswith("/") else "/" + topic  # where the supervisor writes (root namespace)
    resolved = resolve_topic(topic, namespace)
    if resolved != fixed:
        raise RosArgumentError(
            f"action.topic {topic!r} is relative: in namespace {namespace!r} the node would publish on {resolved} but "
            f"the stall supervisor's zero command goes to {fixed}; write the absolute name in the profile")
    for target, src, dst in args.remaps:
        if target not in ("", node) or src.startswith("__"):
            continue
        if resolve_topic(src, namespace) == resolved:
            raise RosArgumentError(
                f"remapping {src}:={dst} moves the command publisher but not the stall supervisor, which writes "
                f"zero on {fixed}; set action.topic: {dst} in the profile instead")
