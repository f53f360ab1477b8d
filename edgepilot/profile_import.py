"""`edgepilot profile import`: a training-side deployment config -> a complete, validated edgepilot profile.

Reads the source (``isaaclab``: an Isaac Lab / unitree_rl_lab ``deploy.yaml``; ``legged_gym``: a dumped
``LeggedRobotCfg``), turns it into an :class:`~edgepilot.profile_import_terms.ImportedPolicy`, lays the profile
out around it (streams with standard topics, watchdog, ``legged`` modes and limits), validates it with
``parse_profile`` and only then writes it atomically (temp file, fsync, rename). Every problem is an
:class:`ImportFailed` naming the field or term; nothing is ever written half-checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from edgepilot.profile_import_terms import COMMAND_STREAM, IMU_STREAM, JOINT_STREAM, ImportedPolicy, ImportFailed, compact

FORMATS = ("isaaclab", "legged_gym")


def read_source(path: Path) -> Any:
    """The parsed YAML or JSON file; ImportFailed if it cannot be read or parsed."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ImportFailed([f"{path}: cannot read: {err.strerror}"]) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        raise ImportFailed([f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}"]) from None


def detect_format(data: Any) -> str:
    if isinstance(data, dict) and "joint_ids_map" in data:
        return "isaaclab"
    if isinstance(data, dict) and ("control" in data or "dof_names" in data):
        return "legged_gym"
    raise ImportFailed(["cannot tell the format: no joint_ids_map (isaaclab deploy.yaml) and no control/dof_names "
                        "(legged_gym dump); pass --format isaaclab|legged_gym"])


def import_policy(data: Any, fmt: str, joint_names: list[str] | None) -> ImportedPolicy:
    if fmt == "isaaclab":
        from edgepilot.profile_import_isaaclab import import_isaaclab

        return import_isaaclab(data, joint_names)
    if fmt == "legged_gym":
        from edgepilot.profile_import_legged_gym import import_legged_gym

        return import_legged_gym(data, joint_names)
    raise ImportFailed([f"--format {fmt!r}: expected one of {list(FORMATS)}"])


def _streams(p: ImportedPolicy, rate: float) -> dict[str, Any]:
    sensor_hz = max(200.0, 2 * rate)
    streams: dict[str, Any] = {
        JOINT_STREAM: {"topic": "/joint_states", "type": "sensor_msgs/msg/JointState", "rate_hz": sensor_hz,
                       "max_age_s": 0.1, "joints": list(p.robot_joints)},
        IMU_STREAM: {"topic": "/imu/data", "type": "sensor_msgs/msg/Imu", "rate_hz": sensor_hz, "max_age_s": 0.1},
    }
    if any(t.get("stream") == COMMAND_STREAM for t in p.terms):
        streams[COMMAND_STREAM] = {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10,
                                   "max_age_s": 0.5, "required": False}
    return streams


def _action(p: ImportedPolicy) -> dict[str, Any]:
    action: dict[str, Any] = {
        "output": "joint_positions", "topic": "/joint_commands", "message": "joint_state", "stream": JOINT_STREAM,
        "joints": list(p.policy_joints), "scale": compact(p.action_scale),
        "default_positions": dict(p.default_positions),
        "stiffness": compact([p.stiffness[j] for j in p.policy_joints]) if len(set(p.stiffness.values())) <= 1
        else dict(p.stiffness),
        "damping": compact([p.damping[j] for j in p.policy_joints]) if len(set(p.damping.values())) <= 1
        else dict(p.damping),
        "safe_action": "damping",
    }
    if p.action_clip is not None:
        action["clip"] = list(p.action_clip)
    if p.position_limits:
        action["position_limits"] = dict(p.position_limits)
    return action


def build_profile_data(p: ImportedPolicy, name: str, model: str, input_name: str = "obs",
                       output_name: str = "actions") -> dict[str, Any]:
    """The whole profile as plain data (what the YAML file holds)."""
    rate = 1.0 / p.policy_dt
    return {
        "name": name,
        "transport": {"kind": "dds", "domain_id": 0},
        "loop": {"rate_hz": round(rate, 6)},
        "streams": _streams(p, rate),
        "observation": {"input_name": input_name, "terms": p.terms},
        "engine": {"model": model, "output_name": output_name},
        "action": _action(p),
        "watchdog": {"stall_timeout_s": round(1.75 / rate, 6), "recovery_ticks": 5, "startup_grace_s": 2.0},
        "legged": {
            "modes": {"start": "passive", "passive": "damping", "stand_up_s": 2.0, "soft_start_s": 1.0,
                      "topic": "/edgepilot/mode"},
            "limits": {"max_tilt_rad": 0.8, "imu_stream": IMU_STREAM, "imu_mounting_rpy": [0.0, 0.0, 0.0]},
        },
    }


HEADER = ("# Imported by `edgepilot profile import` from {source} ({fmt}).\n"
          "# Check before running: the topics of streams.*, imu_mounting_rpy of the IMU terms and legged.limits\n"
          "# (the IMU's mounting in the base frame), and that the robot's joint controller uses action.stiffness/damping.\n")


def import_profile(source: Path, output: Path, model: str | None = None, fmt: str | None = None,
                   joint_names: list[str] | None = None) -> tuple[Any, str]:
    """Import ``source``, validate, write ``output`` atomically; returns (the Profile, the summary text)."""
    from edgepilot.common.atomic_file import write_text_atomic
    from edgepilot.daemon.config.profile import ProfileError, parse_profile

    data = read_source(source)
    fmt = fmt or detect_format(data)
    policy = import_policy(data, fmt, joint_names)
    profile_data = build_profile_data(policy, output.stem, model or "policy.onnx")
    try:
        profile = parse_profile(profile_data, base_dir=output.resolve().parent, source=str(output))
    except ProfileError as err:
        raise ImportFailed([f"the imported profile does not validate: {err}"]) from None
    text = HEADER.format(source=source.name, fmt=fmt) + yaml.safe_dump(profile_data, sort_keys=False,
                                                                      default_flow_style=None, width=110)
    if not output.resolve().parent.is_dir():
        raise ImportFailed([f"--output {output}: the folder {output.resolve().parent} does not exist"])
    try:
        write_text_atomic(output, text)
    except OSError as err:
        raise ImportFailed([f"--output {output}: cannot write: {err.strerror}"]) from None
    summary = policy.summary.text()
    if not profile.model_path.is_file():
        summary += f"\nnote: engine.model {profile.model_path} does not exist yet; put the exported ONNX policy there"
    return profile, summary
