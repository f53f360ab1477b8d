"""``edgepilot node`` (the daemon as a ROS 2 lifecycle node, as ``ros2 launch`` starts it) and ``edgepilot ros2-params``.

``edgepilot node --config robot.yaml [--autostart] --ros-args ...`` is what
``launch/edgepilot.launch.py`` runs (``ros2 run edgepilot edgepilot node
--config ...`` by hand). It is ``edgepilot run`` with the transport forced to
``ros2`` whatever the profile's ``transport.kind``, so that the lifecycle
transitions the launch file sends always reach a lifecycle node. Before rclpy
starts, it checks what the ROS arguments ask for (:mod:`.ros2_arguments`,
:mod:`.ros2_params`) and refuses, in one line and exit status 2, a parameter
the profile does not have or of the wrong type, a value the profile rejects,
and a remapping or namespace that would take the command topic away from the
stall supervisor. Nothing has been published then: the robot's base holds its
last command from another source, or none (its own timeout applies).

``edgepilot ros2-params --config robot.yaml [-o robot.params.yaml]`` writes the
parameters file holding the profile's tunable values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def cmd_node(args: argparse.Namespace) -> int:
    from edgepilot.cli import cmd_run
    from edgepilot.daemon.config import ProfileError, load_profile

    from .ros2_arguments import RosArgumentError, check_command_topic, parse_ros_args
    from .ros2_params import check_parameters, node_fqn

    try:
        profile = load_profile(args.config)
        ros = parse_ros_args(args.ros_args)
        t = profile.transport
        name = ros.special("__node", t.node_name) or ros.special("__name", t.node_name) or t.node_name
        namespace = ros.special("__ns", t.node_name) or t.namespace
        check_command_topic(profile.action.topic, ros, t.node_name, namespace)
        check_parameters(profile, ros, node_fqn(name, namespace))
    except (ProfileError, RosArgumentError) as err:
        print(f"edgepilot node: {err}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    args.transport_kind = "ros2"
    return cmd_run(args)


def cmd_ros2_params(args: argparse.Namespace) -> int:
    from edgepilot.daemon.config import ProfileError, load_profile

    from edgepilot.common.atomic_file import write_text_atomic
    from .ros2_params import render_parameters_file

    try:
        profile = load_profile(args.config)
    except ProfileError as err:
        print(f"edgepilot ros2-params: {err}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    text = render_parameters_file(profile)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``node`` and ``ros2-params`` to the ``edgepilot`` subcommands."""
    n = sub.add_parser("node", help="run the daemon as a ROS 2 lifecycle node (what `ros2 launch edgepilot` starts)",
                       description="The daemon as a ROS 2 lifecycle node; ROS arguments follow --ros-args.")
    n.add_argument("--config", required=True, type=Path, help="robot profile (YAML)")
    n.add_argument("--autostart", action="store_true", help="configure and activate at once (the launch file "
                   "sends the transitions itself)")
    # What cmd_run reads that a lifecycle node does not take from the command line (its ROS 2 path uses none
    # of them today: the lifecycle node writes no status file and no summary).
    n.set_defaults(func=cmd_node, loopback=False, domain_id=None, record=None, duration=None, summary_json=None,
                   enable_fault_injection=False, force_rebuild=False, status_file=None)

    p = sub.add_parser("ros2-params", help="write the ROS 2 parameters file of a robot profile (its tunable values)")
    p.add_argument("--config", required=True, type=Path, help="robot profile (YAML)")
    p.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    p.set_defaults(func=cmd_ros2_params)
