"""The ROS 2 parameters of a robot profile: the file (``edgepilot ros2-params``) and the check at start.

The lifecycle node declares one parameter per tunable profile value
(``loop.rate_hz``, ``action.linear_x.limit``, ...; the list is
``edgepilot.daemon.config.tunable_parameters``) plus ``profile`` (the YAML
path) and ROS 2's own ``use_sim_time``. Where a value comes from, lowest
first (each later one wins):

1. the robot profile (``profile:=`` / ``--config``): every setting;
2. ``--params-file`` files (the launch file's ``params_file:=``), in order;
3. the launch file's own values (``profile``, ``use_sim_time``) and ``-p NAME:=VALUE``;
4. ``ros2 param set`` while the node runs: taken at the next ``configure``.

A parameters file nests the dotted names (``loop: {rate_hz: 50.0}`` is
``loop.rate_hz``), under the node's name (``edgepilot``, ``/robot1/edgepilot``)
or a wildcard (``/**``). Before the node starts, :func:`check_parameters`
refuses, with the file, the name and the fix: a name this profile does not
have in a section that names this node (sections for ``/**`` or other nodes
may hold other nodes' parameters), a value of another type than the
declared one (ROS 2 parameters keep their type: ``50`` is not ``50.0``), and
a value the profile's own validation rejects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .ros2_arguments import RosArgumentError, RosArguments

# Parameters that are not tunable profile values, with their type.
FIXED_PARAMETERS: dict[str, type] = {"profile": str, "use_sim_time": bool}


def node_fqn(name: str, namespace: str) -> str:
    """``/robot1/edgepilot`` from name ``edgepilot`` and namespace ``robot1`` or ``/robot1``; ``/edgepilot`` without."""
    ns = namespace.strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"loop": {"rate_hz": 50.0}}`` -> ``{"loop.rate_hz": 50.0}``, as rcl reads a parameters file."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def render_parameters_file(profile: Any) -> str:
    """The parameters file holding ``profile``'s tunable values, for its node name and namespace."""
  
    from edgepilot.daemon.config.tunable_parameters import tunable_parameters

    t = profile.transport
    key = node_fqn(t.node_name, t.namespace) if t.namespace.strip("/") else t.node_name
    body = {key: {"ros__parameters": _nested(tunable_parameters(profile))}}
    header = (f"# ROS 2 parameters of the edgepilot node for robot profile {profile.name!r}\n"
              f"# (written by `edgepilot ros2-params`; the values are the profile's).\n"
              "# Pass it as `ros2 launch edgepilot edgepilot.launch.py profile:=PROFILE params_file:=THIS_FILE`; it\n"
              "# overrides the profile's values and is overridden by the launch arguments and `ros2 param set`.\n"
              "# Keep each value's type: 50.0, not 50, for a rate (ROS 2 parameters do not convert).\n")
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def _section_pattern(key: str) -> re.Pattern[str]:
    key = key if key.startswith("/") else "/" + key
    parts = []
    for token in key.split("/")[1:]:
        parts.append("(/[^/]+)*" if token == "**" else "/" + re.escape(token).replace(r"\*", "[^/]*"))
    return re.compile("".join(parts) + "$")


def node_sections(data: object, fqn: str, source: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(key, parameters, names this node exactly) for each section of a parameters file that applies to ``fqn``."""
    if not isinstance(data, dict):
        raise RosArgumentError(f"{source}: a ROS 2 parameters file maps node names to {{ros__parameters: ...}}")
    out = []
    for key, section in data.items():
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise RosArgumentError(f"{source}: section {key!r} has no 'ros__parameters' mapping; write "
                                   f"'{key}:\\n  ros__parameters:\\n    NAME: VALUE'")
        key = str(key)
        if _section_pattern(key).match(fqn):
            out.append((key, section["ros__parameters"], "*" not in key))
    return out


def _check_type(name: str, value: object, expected: type, where: str) -> None:
    if type(value) is not expected:  # exact: a bool is not an int to ROS 2, an int not a float
        hint = f"write {float(value)!r}" if expected is float and type(value) is int else f"give a {expected.__name__}"
        raise RosArgumentError(f"{where}: {name}: {value!r} is of type {type(value).__name__}, the parameter of type "
                               f"{expected.__name__} (ROS 2 parameters keep their type): {hint}")


def _collect(known: dict[str, Any], params: dict[str, Any], exact: bool, where: str, out: dict[str, Any]) -> None:
    for name, value in flatten(params).items():
        expected = FIXED_PARAMETERS.get(name) or (type(known[name]) if name in known else None)
        if expected is None:
            if exact:
                raise RosArgumentError(f"{where}: {name} is not a parameter of this profile's node; "
                                       f"its parameters: {', '.join([*FIXED_PARAMETERS, *known])}")
            continue
        _check_type(name, value, expected, where)
        out[name] = value


def check_parameters(profile: Any, args: RosArguments, fqn: str) -> dict[str, Any]:
    """The parameter values ``args`` start the node ``fqn`` with, checked against ``profile``; raises RosArgumentError."""
  
    from edgepilot.daemon.config import ProfileError
    from edgepilot.daemon.config.tunable_parameters import apply_parameters, tunable_parameters

    known = tunable_parameters(profile)
    values: dict[str, Any] = {}
    for path in args.params_files:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as err:
            raise RosArgumentError(f"--params-file {path}: cannot read it: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise RosArgumentError(f"--params-file {path}: not valid YAML: {err}") from None
        for key, params, exact in node_sections(data, fqn, str(path)):
            _collect(known, params, exact, f"{path} [{key}]", values)
    _collect(known, args.params, True, "-p", values)
    tuned = {k: v for k, v in values.items() if k in known}
    try:
        apply_parameters(profile, tuned)
    except ProfileError as err:
        raise RosArgumentError(f"ROS 2 parameters for {fqn}: {err}") from None
    return values
