"""Read an Isaac Lab ``deploy.yaml`` (unitree_rl_lab's exporter, ``utils/export_deploy_cfg.py``) into an
:class:`~edgepilot.profile_import_terms.ImportedPolicy`.

The format (docs/importing.md has the table with sources): ``joint_ids_map[i]`` is the robot (SDK) index of
the policy's joint ``i``; ``stiffness``/``damping`` are in SDK order; ``default_joint_pos``, the action's
``scale``/``offset``/``clip`` and every observation are in the policy's order. ``actions.JointPositionAction``:
``target = clip(raw * scale + offset)`` (the clip bounds the target, per joint). Observation terms in file
order, each ``clip(raw, clip) * scale`` then ``history_length`` values stacked oldest first. The file carries no
joint names: they come from ``joint_sdk_names`` (or ``joint_names``) in the file or from ``--joint-names``.
"""

from __future__ import annotations

from typing import Any

from edgepilot.profile_import_terms import (ISAACLAB_TERMS, ImportedPolicy, ImportFailed, Summary, compact, finite,
                                            isaac_clip, numbers, pair, period, refusal, require, term_dict)

_KNOWN_TOP = ("joint_ids_map", "step_dt", "stiffness", "damping", "default_joint_pos", "commands", "actions",
              "observations", "joint_sdk_names", "joint_names")


def import_isaaclab(data: Any, joint_names: list[str] | None) -> ImportedPolicy:
    """The policy of a parsed deploy.yaml; raises ImportFailed listing every problem found."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ImportFailed([f"the top level must be a mapping (deploy.yaml), got {type(data).__name__}"])
    summary = Summary()
    robot, policy = _joints(data, joint_names, summary, problems)
    if problems:
        raise ImportFailed(problems)
    n = len(policy)
    dt = period(require(data, "step_dt", "", problems), "step_dt", problems)
    raw_default = require(data, "default_joint_pos", "", problems)
    default = None if raw_default is None else numbers(raw_default, "default_joint_pos", n, problems)
    gains = {k: _sdk_gains(data, k, data["joint_ids_map"], robot, policy, problems) for k in ("stiffness", "damping")}
    action = _action(data, default, n, policy, summary, problems)
    limits = _command_limits(data, summary, problems)
    terms = _observations(data, policy, limits, summary, problems)
    for key in data:
        if key not in _KNOWN_TOP:
            summary.ignore(key, "not a field of unitree_rl_lab's deploy.yaml")
    if problems:
        raise ImportFailed(problems)
    summary.map("joint_ids_map + joint names", "action.joints (policy order), streams.joint_states.joints (robot order)")
    summary.map(f"step_dt={dt}", f"loop.rate_hz={1.0 / dt:g}")  # type: ignore[operator]
    summary.map("default_joint_pos", "action.default_positions")
    summary.map("stiffness, damping (SDK order)", "action.stiffness, action.damping (by joint name)")
    return ImportedPolicy(robot_joints=robot, policy_joints=policy, default_positions=dict(zip(policy, default)),  # type: ignore[arg-type]
                          stiffness=gains["stiffness"] or {}, damping=gains["damping"] or {}, action_scale=action[0],
                          position_limits=action[1], policy_dt=dt, terms=terms, summary=summary)  # type: ignore[arg-type]


def _joints(data: dict, names: list[str] | None, summary: Summary, problems: list[str]) -> tuple[list[str], list[str]]:
    """(robot order, policy order): the SDK names, and ``names[joint_ids_map[i]]``."""
    ids = require(data, "joint_ids_map", "", problems)
    file_names = data.get("joint_sdk_names", data.get("joint_names"))
    if names is None and file_names is not None:
        names = file_names
        summary.map("joint_sdk_names", "the robot's joint names (SDK order)")
    if names is None:
        problems.append("joint names: deploy.yaml carries only joint_ids_map (indices); pass --joint-names with the "
                        "robot's joint names in SDK order (the robot config's joint_sdk_names)")
    if ids is None or names is None:
        return [], []
    if not isinstance(names, list) or not all(isinstance(x, str) and x for x in names) or len(set(names)) != len(names):
        problems.append(f"joint names: expected distinct non-empty names, got {names!r}")
        return [], []
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        problems.append(f"joint_ids_map: expected a list of joint indices, got {ids!r}")
        return [], []
    bad = [i for i in ids if not 0 <= i < len(names)]
    if bad:
        problems.append(f"joint_ids_map: indices {bad} are outside the {len(names)} joint names given")
    elif len(set(ids)) != len(ids):
        problems.append(f"joint_ids_map: {ids} names a robot joint twice; it must map each policy joint to its own "
                        "robot joint")
    if problems:
        return [], []
    return list(names), [names[i] for i in ids]


def _sdk_gains(data: dict, key: str, ids: list[int], robot: list[str], policy: list[str],
               problems: list[str]) -> dict[str, float] | None:
    """``stiffness``/``damping``: SDK order (the exporter writes ``gain[joint_ids_map] = policy-order gains``)."""
    raw = require(data, key, "", problems)
    if raw is None:
        return None
    values = numbers(raw, key, len(robot), problems)
    if values is None:
        return None
    return {policy[i]: values[ids[i]] for i in range(len(policy))}


def _action(data: dict, default: list[float] | None, n: int, policy: list[str], summary: Summary,
            problems: list[str]) -> tuple[list[float], dict[str, list[float]]]:
    """(action.scale, action.position_limits) from ``actions.JointPositionAction``."""
    actions = require(data, "actions", "", problems)
    if not isinstance(actions, dict):
        return [], {}
    for name in actions:
        if name != "JointPositionAction":
            problems.append(f"actions.{name}: only JointPositionAction maps (edgepilot publishes joint position "
                            "targets); export a policy with a JointPositionAction")
    term = require(actions, "JointPositionAction", "actions.", problems)
    if not isinstance(term, dict):
        return [], {}
    w = "actions.JointPositionAction."
    scale = numbers(require(term, "scale", w, problems), w + "scale", n, problems, broadcast=True) \
        if term.get("scale") is not None else None
    offset = numbers(term.get("offset", default), w + "offset", n, problems, broadcast=True)
    if offset is not None and default is not None and any(abs(a - b) > 1e-9 for a, b in zip(offset, default)):
        problems.append(f"{w}offset: {offset} differs from default_joint_pos {default}; edgepilot's target is "
                        "default_positions + scale * action with one default pose for the action and joint_pos_rel: "
                        "export with use_default_offset=True")
    if term.get("joint_ids") not in (None, list(range(n))):
        problems.append(f"{w}joint_ids: {term['joint_ids']} acts on a subset of the joints; edgepilot's action covers "
                        "every policy joint: export an action over all joints")
    limits = _position_clip(term.get("clip"), w + "clip", n, policy, summary, problems)
    for key in term:
        if key not in ("scale", "offset", "clip", "joint_ids"):
            summary.ignore(w + key, "the exporter's record of the action config; scale/offset/clip define it")
    summary.map(w + "scale", "action.scale")
    summary.map(w + "offset", "action.default_positions (checked equal to default_joint_pos)")
    return scale or [], limits


def _position_clip(clip: Any, where: str, n: int, policy: list[str], summary: Summary,
                   problems: list[str]) -> dict[str, list[float]]:
    """Isaac Lab's action clip bounds the processed action, the joint target: ``action.position_limits``."""
    if clip is None:
        return {}
    if not isinstance(clip, list) or len(clip) != n:
        problems.append(f"{where}: expected {n} [low, high] pairs (one per joint), got {clip!r}")
        return {}
    pairs = [pair(c, f"{where}[{i}]", problems) for i, c in enumerate(clip)]
    if any(p is None for p in pairs):
        return {}
    summary.map(where, "action.position_limits (the clip bounds the joint target)")
    return {policy[i]: p for i, p in enumerate(pairs)}  # type: ignore[misc]


def _command_limits(data: dict, summary: Summary, problems: list[str]) -> list[list[float]] | None:
    ranges = ((data.get("commands") or {}).get("base_velocity") or {}).get("ranges") if isinstance(
        data.get("commands"), dict) else None
    if not isinstance(ranges, dict):
        return None
    out = []
    for key in ("lin_vel_x", "lin_vel_y", "ang_vel_z"):
        lim = require(ranges, key, "commands.base_velocity.ranges.", problems)
        p = pair(lim, f"commands.base_velocity.ranges.{key}", problems) if lim is not None else None
        out.append(p or [0.0, 1.0])
    for key in ranges:
        if key not in ("lin_vel_x", "lin_vel_y", "ang_vel_z"):
            summary.ignore(f"commands.base_velocity.ranges.{key}", "not an observation input (heading: the command "
                           "is the yaw rate, which the Twist gives)")
    summary.map("commands.base_velocity.ranges", "velocity_command.limits")
    return out


def _observations(data: dict, policy: list[str], limits: list[list[float]] | None, summary: Summary,
                  problems: list[str]) -> list[dict[str, Any]]:
    obs = require(data, "observations", "", problems)
    if not isinstance(obs, dict) or not obs:
        if obs is not None:
            problems.append(f"observations: expected a mapping of terms in policy order, got {obs!r}")
        return []
    return [t for t in (_term(name, cfg, policy, limits, summary, problems) for name, cfg in obs.items()) if t]


def _term(name: str, cfg: Any, policy: list[str], limits: list[list[float]] | None, summary: Summary,
          problems: list[str]) -> dict[str, Any] | None:
    where = f"observations.{name}"
    mapping = ISAACLAB_TERMS.get(name)
    if mapping is None:
        problems.append(refusal(name, where))
        return None
    cfg = cfg if isinstance(cfg, dict) else {}
    params = cfg.get("params") or {}
    joints = _term_joints(name, params, policy, where, problems)
    n = {"base_angular_velocity": 3, "projected_gravity": 3, "velocity_command": 3, "gait_phase": 2}.get(
        mapping.kind, len(joints or policy))
    scale = numbers(cfg.get("scale", 1.0) if cfg.get("scale") is not None else 1.0, where + ".scale", n, problems,
                    broadcast=True)
    clip = pair(cfg["clip"], where + ".clip", problems) if cfg.get("clip") is not None else None
    history = cfg.get("history_length", 1) or 1
    if not isinstance(history, int) or isinstance(history, bool) or not 1 <= history <= 64:
        problems.append(f"{where}.history_length: {history!r} must be a whole number 1 .. 64")
        return None
    if scale is None:
        return None
    extra = _term_extra(mapping.kind, params, limits, where, problems)
    if extra is None:
        return None
    summary.map(where, f"observation term {mapping.kind} (scale, clip x scale, history {history} oldest first)")
    return term_dict(mapping, **extra, joints=joints, scale=compact(scale), history=history,
                     clip=None if clip is None else _compact_pairs(isaac_clip(clip, scale)))


def _term_joints(name: str, params: dict, policy: list[str], where: str, problems: list[str]) -> list[str] | None:
    ids = (params.get("asset_cfg") or {}).get("joint_ids") if isinstance(params.get("asset_cfg"), dict) else None
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) and 0 <= i < len(policy) for i in ids):
        problems.append(f"{where}.params.asset_cfg.joint_ids: {ids!r} must be policy joint indices 0 .. {len(policy) - 1}")
        return None
    return [policy[i] for i in ids]


def _term_extra(kind: str, params: dict, limits: list[list[float]] | None, where: str,
                problems: list[str]) -> dict[str, Any] | None:
    if kind == "velocity_command":
        name = params.get("command_name", "base_velocity")
        if name != "base_velocity":
            problems.append(f"{where}.params.command_name: {name!r}; only the base_velocity command maps (a Twist)")
            return None
        return {"limits": limits}
    if kind == "gait_phase":
        period = finite(params.get("period"), f"{where}.params.period", problems)
        if period is not None and not 0 < period <= 1000:
            problems.append(f"{where}.params.period: {period} s must be in (0, 1000]")
            return None
        return None if period is None else {"period_s": period, "first_step": "one_step"}
    return {}


def _compact_pairs(pairs: list[list[float]]) -> list[float] | list[list[float]]:
    return pairs[0] if all(p == pairs[0] for p in pairs) else pairs
