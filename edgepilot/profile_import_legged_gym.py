"""Read a legged_gym ``LeggedRobotCfg`` dumped to YAML/JSON (examples/import/dump_legged_gym_config.py) into an
:class:`~edgepilot.profile_import_terms.ImportedPolicy`.

legged_gym's observation is fixed by ``LeggedRobot.compute_observations``: base_lin_vel * lin_vel,
base_ang_vel * ang_vel, projected_gravity, commands[:3] * [lin_vel, lin_vel, ang_vel], (dof_pos - default) *
dof_pos, dof_vel * dof_vel, actions; then ``clip(obs, -clip_observations, clip_observations)``. A robot's own
``compute_observations`` may differ: the dump's ``observation_terms`` (a list of those names) then says the order.
Actions: ``clip(actions, -clip_actions, clip_actions)``, target = default + action_scale * action (control_type P).
"""

from __future__ import annotations

from typing import Any

from edgepilot.profile_import_terms import (LEGGED_GYM_TERMS, ImportedPolicy, ImportFailed, Summary, finite, pair,
                                            period, refusal, require, term_dict)

STANDARD_ORDER = ["base_lin_vel", "base_ang_vel", "projected_gravity", "commands", "dof_pos", "dof_vel", "actions"]
_SCALE_KEY = {"base_ang_vel": "ang_vel", "dof_pos": "dof_pos", "dof_vel": "dof_vel"}


def import_legged_gym(data: Any, joint_names: list[str] | None) -> ImportedPolicy:
    """The policy of a dumped legged_gym config; raises ImportFailed listing every problem found."""
    if not isinstance(data, dict):
        raise ImportFailed([f"the top level must be a mapping (a dumped LeggedRobotCfg), got {type(data).__name__}"])
    problems: list[str] = []
    summary = Summary()
    dofs = require(data, "dof_names", "", problems)
    if dofs is not None and (not isinstance(dofs, list) or not dofs or not all(isinstance(x, str) and x for x in dofs)
                             or len(set(dofs)) != len(dofs)):
        problems.append(f"dof_names: expected the policy's distinct joint names, got {dofs!r}")
    if problems:
        raise ImportFailed(problems)
    robot = list(joint_names) if joint_names else list(dofs)
    missing = [d for d in dofs if d not in robot]
    if missing:
        problems.append(f"--joint-names lacks the policy joints {missing}")
    sections = {k: data.get(k) if isinstance(data.get(k), dict) else {} for k in
                ("env", "init_state", "control", "sim", "normalization", "commands")}
    for k, v in sections.items():
        if k not in data:
            problems.append(f"{k}: missing (required)")
    default = _per_dof(sections["init_state"].get("default_joint_angles"), "init_state.default_joint_angles", dofs,
                       problems, exact=True)
    control = sections["control"]
    kp = _per_dof(control.get("stiffness"), "control.stiffness", dofs, problems, exact=False)
    kd = _per_dof(control.get("damping"), "control.damping", dofs, problems, exact=False)
    if control.get("control_type", "P") != "P":
        problems.append(f"control.control_type: {control.get('control_type')!r}; only P (position targets) maps")
    scale = finite(require(control, "action_scale", "control.", problems), "control.action_scale", problems) \
        if control.get("action_scale") is not None else None
    dt = _policy_dt(control, sections["sim"], problems)
    norm = sections["normalization"]
    clip_obs = finite(norm.get("clip_observations", 100.0), "normalization.clip_observations", problems)
    clip_act = finite(norm.get("clip_actions", 100.0), "normalization.clip_actions", problems)
    terms = _terms(data, norm, sections["commands"], clip_obs, len(dofs), sections["env"], problems, summary)
    if problems:
        raise ImportFailed(problems)
    _summarise(data, summary)
    return ImportedPolicy(robot_joints=robot, policy_joints=list(dofs), default_positions=default, stiffness=kp,
                          damping=kd, action_scale=[scale] * len(dofs), policy_dt=dt, terms=terms,  # type: ignore[list-item,arg-type]
                          action_clip=[-clip_act, clip_act] if clip_act else None, summary=summary)


def _per_dof(table: Any, where: str, dofs: list[str], problems: list[str], exact: bool) -> dict[str, float]:
    """legged_gym's lookups: default angles by exact name; gains by the first key contained in the name."""
    if not isinstance(table, dict) or not table:
        problems.append(f"{where}: missing (required): a mapping of joint (or joint-name part) to value")
        return {}
    out: dict[str, float] = {}
    for d in dofs:
        keys = [d] if exact else [k for k in table if k in d]
        if not keys or keys[0] not in table:
            problems.append(f"{where}: no entry for joint {d!r}")
            continue
        v = finite(table[keys[0]], f"{where}.{keys[0]}", problems)
        if v is not None:
            out[d] = v
    return out


def _policy_dt(control: dict, sim: dict, problems: list[str]) -> float | None:
    dec, dt = control.get("decimation"), sim.get("dt")
    if not isinstance(dec, int) or isinstance(dec, bool) or dec < 1:
        problems.append(f"control.decimation: {dec!r} must be a whole number >= 1")
        return None
    if dt is None:
        problems.append("sim.dt: missing (required)")
        return None
    step = finite(dt, "sim.dt", problems)
    return None if step is None else period(step * dec, "sim.dt * control.decimation", problems)


def _terms(data: dict, norm: dict, commands: dict, clip_obs: float | None, n: int, env: dict,
           problems: list[str], summary: Summary) -> list[dict[str, Any]]:
    order = data.get("observation_terms", STANDARD_ORDER)
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        problems.append(f"observation_terms: expected a list of term names, got {order!r}")
        return []
    scales = norm.get("obs_scales") if isinstance(norm.get("obs_scales"), dict) else {}
    limits = _command_limits(commands, problems)
    clip = None if not clip_obs else [-clip_obs, clip_obs]
    terms, size = [], 0
    for name in order:
        mapping = LEGGED_GYM_TERMS.get(name)
        if mapping is None:
            problems.append(refusal(name, f"observation term {name}"))
            continue
        if name == "commands":
            lv, av = scales.get("lin_vel"), scales.get("ang_vel")
            s = [finite(lv, "normalization.obs_scales.lin_vel", problems)] * 2 + \
                [finite(av, "normalization.obs_scales.ang_vel", problems)]
            scale: Any = None if None in s else (s[0] if s[0] == s[2] else s)
            extra: dict[str, Any] = {"limits": limits}
        else:
            key = _SCALE_KEY.get(name)
            scale = 1.0 if key is None else finite(scales.get(key), f"normalization.obs_scales.{key}", problems)
            extra = {}
        size += 3 if name in ("base_ang_vel", "projected_gravity", "commands") else n
        terms.append(term_dict(mapping, **extra, scale=scale, clip=clip))
        summary.map(f"observation {name}", f"observation term {mapping.kind} ({mapping.meaning})")
    want = env.get("num_observations")
    if not problems and want is not None and want != size:
        problems.append(f"env.num_observations: {want}, but the terms {order} give {size} values; list the robot's "
                        "own compute_observations order in the dump's observation_terms")
    return terms


def _command_limits(commands: dict, problems: list[str]) -> list[list[float]] | None:
    ranges = commands.get("ranges")
    if not isinstance(ranges, dict):
        return None
    out = []
    for key in ("lin_vel_x", "lin_vel_y", "ang_vel_yaw"):
        p = pair(ranges.get(key), f"commands.ranges.{key}", problems) if key in ranges else None
        out.append(p or [-1.0, 1.0])
    return out


def _summarise(data: dict, summary: Summary) -> None:
    summary.map("dof_names", "action.joints (policy order)")
    summary.map("init_state.default_joint_angles", "action.default_positions")
    summary.map("control.stiffness, control.damping (by name part)", "action.stiffness, action.damping")
    summary.map("control.action_scale", "action.scale")
    summary.map("sim.dt * control.decimation", "loop.rate_hz (the policy rate)")
    summary.map("normalization.clip_observations", "every term's clip (legged_gym clips after scaling)")
    summary.map("normalization.clip_actions", "action.clip")
    summary.map("commands.ranges", "velocity_command.limits")
    for key in data:
        if key not in ("dof_names", "observation_terms", "env", "init_state", "control", "sim", "normalization",
                       "commands"):
            summary.ignore(key, "training-only (rewards, terrain, domain randomisation, asset loading)")
    summary.ignore("commands.heading_command", "the Twist's angular.z is the yaw-rate command the policy sees")
