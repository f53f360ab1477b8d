"""What `edgepilot profile import` shares between its source formats: the imported policy, the summary, the
errors, the checked readers of source fields, and the table of observation terms (source name -> edgepilot term).

The table is the one place that says which training-side observation term becomes which edgepilot term, and
which ones are refused (a policy fed a wrong or partly missing observation is a wrong policy, so nothing is
ever dropped). docs/importing.md prints it with the source of each term's meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: The profile's stream names the importer writes (the user edits the topics, not the names).
JOINT_STREAM, IMU_STREAM, COMMAND_STREAM = "joint_states", "imu", "cmd_vel_in"
COMMAND_FIELDS = ["linear.x", "linear.y", "angular.z"]


class ImportFailed(ValueError):
    """The source cannot become a correct profile; the message names each field or term and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"  - {p}" for p in self.problems))


@dataclass
class Summary:
    """Every source field mapped (to which profile field) and every one ignored (and why)."""

    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def map(self, source: str, target: str) -> None:
        self.mapped.append(f"{source} -> {target}")

    def ignore(self, source: str, why: str) -> None:
        self.ignored.append(f"{source}: {why}")

    def text(self) -> str:
        lines = ["mapped:"] + [f"  {m}" for m in self.mapped] + ["ignored:"] + [f"  {i}" for i in self.ignored or ["(none)"]]
        return "\n".join(lines)


@dataclass
class ImportedPolicy:
    """A policy's deployment facts in edgepilot's terms, whatever the source format (all angles rad)."""

    robot_joints: list[str]            # the order the robot publishes (JointState stream joints)
    policy_joints: list[str]           # action i -> policy_joints[i]
    default_positions: dict[str, float]
    stiffness: dict[str, float]
    damping: dict[str, float]
    action_scale: list[float]
    policy_dt: float                   # s per policy step
    terms: list[dict[str, Any]]        # edgepilot observation terms, in the policy's order
    action_clip: list[float] | None = None          # [low, high] on the raw action
    position_limits: dict[str, list[float]] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)


# --------------------------------------------------------------------------- checked readers of source fields

def require(data: Any, key: str, where: str, problems: list[str]) -> Any:
    """``data[key]``, or None after recording that ``where.key`` is missing."""
    if not isinstance(data, dict) or key not in data or data[key] is None:
        problems.append(f"{where}{key}: missing (required)")
        return None
    return data[key]


def finite(value: Any, name: str, problems: list[str]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{name}: expected a number, got {value!r}")
        return None
    if not math.isfinite(value):
        problems.append(f"{name}: {value!r} is not a finite number")
        return None
    return float(value)


def numbers(value: Any, name: str, n: int | None, problems: list[str], broadcast: bool = False) -> list[float] | None:
    """A list of ``n`` finite numbers (a single number too, repeated, where ``broadcast``)."""
    if broadcast and isinstance(value, (int, float)) and not isinstance(value, bool):
        x = finite(value, name, problems)
        return None if x is None or n is None else [x] * n
    if not isinstance(value, list):
        problems.append(f"{name}: expected a list of numbers, got {value!r}")
        return None
    if n is not None and len(value) != n:
        problems.append(f"{name}: has {len(value)} values, expected {n}")
        return None
    out = [finite(v, f"{name}[{i}]", problems) for i, v in enumerate(value)]
    return None if any(v is None for v in out) else [float(v) for v in out]  # type: ignore[arg-type]


def pair(value: Any, name: str, problems: list[str]) -> list[float] | None:
    v = numbers(value, name, 2, problems)
    if v is not None and not v[0] < v[1]:
        problems.append(f"{name}: {v} must be [low, high] with low < high")
        return None
    return v


def period(value: Any, name: str, problems: list[str]) -> float | None:
    """A policy period, s (None after recording the problem)."""
    dt = None if value is None else finite(value, name, problems)
    if dt is not None and not 0.0005 <= dt <= 10:
        problems.append(f"{name}: {dt} s is not a policy period (0.0005 .. 10 s)")
        return None
    return dt


def compact(values: list[float]) -> float | list[float]:
    """One number where every element is the same (what a person would write), else the list."""
    return values[0] if all(v == values[0] for v in values) else list(values)


# --------------------------------------------------------------------------- the term table

@dataclass(frozen=True)
class TermMapping:
    """A source term that maps: the edgepilot ``kind``, the base of its term dict, and what it means."""

    kind: str
    base: tuple[tuple[str, Any], ...]
    meaning: str


#: Isaac Lab (isaaclab.envs.mdp.observations, as exported by unitree_rl_lab) term name -> edgepilot term.
ISAACLAB_TERMS: dict[str, TermMapping] = {
    "base_ang_vel": TermMapping("base_angular_velocity", (("stream", IMU_STREAM),), "root angular velocity, base frame"),
    "projected_gravity": TermMapping("projected_gravity", (("stream", IMU_STREAM),), "gravity unit vector, base frame"),
    "velocity_commands": TermMapping("velocity_command", (("stream", COMMAND_STREAM), ("fields", COMMAND_FIELDS)),
                                     "the base_velocity command: lin_vel_x, lin_vel_y, ang_vel_z"),
    "generated_commands": TermMapping("velocity_command", (("stream", COMMAND_STREAM), ("fields", COMMAND_FIELDS)),
                                      "generated_commands(command_name=base_velocity): the same three values"),
    "joint_pos_rel": TermMapping("joint_position_relative", (("stream", JOINT_STREAM),), "q - default_joint_pos"),
    "joint_vel_rel": TermMapping("joint_velocity_policy", (("stream", JOINT_STREAM),), "qdot - default_joint_vel (0)"),
    "joint_vel": TermMapping("joint_velocity_policy", (("stream", JOINT_STREAM),), "qdot"),
    "last_action": TermMapping("last_action", (), "the previous raw action"),
    "gait_phase": TermMapping("gait_phase", (), "sin, cos of 2 pi t / period"),
}

#: legged_gym (LeggedRobot.compute_observations) part name -> edgepilot term.
LEGGED_GYM_TERMS: dict[str, TermMapping] = {
    "base_ang_vel": TermMapping("base_angular_velocity", (("stream", IMU_STREAM),), "base_ang_vel * obs_scales.ang_vel"),
    "projected_gravity": TermMapping("projected_gravity", (("stream", IMU_STREAM),), "projected_gravity"),
    "commands": TermMapping("velocity_command", (("stream", COMMAND_STREAM), ("fields", COMMAND_FIELDS)),
                            "commands[:, :3] * commands_scale"),
    "dof_pos": TermMapping("joint_position_relative", (("stream", JOINT_STREAM),),
                           "(dof_pos - default_dof_pos) * obs_scales.dof_pos"),
    "dof_vel": TermMapping("joint_velocity_policy", (("stream", JOINT_STREAM),), "dof_vel * obs_scales.dof_vel"),
    "actions": TermMapping("last_action", (), "the previous actions, after clip_actions"),
}

_ESTIMATOR = ("retrain the policy without it, or add a term that computes it (an estimator, "
              "daemon/observation/terms/: one file and one test) and map it here")

#: Terms refused, in either format: why, and what to do.
UNMAPPABLE: dict[str, str] = {
    "base_lin_vel": "the base's linear velocity in the base frame needs a state estimator, which the daemon does "
                    f"not have (an IMU cannot measure it); {_ESTIMATOR}",
    "root_lin_vel_b": "the base's linear velocity needs a state estimator the daemon does not have; " + _ESTIMATOR,
    "height_scan": "a height map needs a height scanner (ray caster / elevation mapping) the daemon does not read; "
                   f"{_ESTIMATOR}",
    "height_measurements": "a height map needs a height scanner the daemon does not read; retrain with "
                           "terrain.measure_heights = False, or add a term that computes it",
    "base_pos_z": "the base height needs a state estimator the daemon does not have; " + _ESTIMATOR,
    "joint_effort": "measured joint torques are not an observation term yet; " + _ESTIMATOR,
    "joint_pos": "absolute joint positions are not a term of their own: retrain with joint_pos_rel, or add a term",
}


def refusal(name: str, where: str) -> str:
    """The message for an observation term that cannot be mapped."""
    why = UNMAPPABLE.get(name)
    if why is None:
        return (f"{where}: unknown observation term {name!r}: edgepilot has no term computing it, so the policy would "
                "get a wrong observation; retrain without it, or add a term (daemon/observation/terms/) and map it in "
                "edgepilot/profile_import_terms.py")
    return f"{where}: cannot be mapped: {why}"


def term_dict(mapping: TermMapping, **fields: Any) -> dict[str, Any]:
    """The edgepilot term: ``kind``, the mapping's base fields, then ``fields`` without the defaults."""
    out: dict[str, Any] = {"kind": mapping.kind, **dict(mapping.base)}
    for key, value in fields.items():
        if key == "scale" and value == 1.0 or key == "history" and value == 1 or value is None:
            continue
        out[key] = value
    return out


def isaac_clip(clip: list[float], scale: list[float]) -> list[list[float]]:
    """Isaac Lab's ``clip(raw, lo, hi) * scale`` as edgepilot's ``clip(raw * scale, low, high)``, per element:
    ``[lo * s, hi * s]``, swapped for ``s < 0``; for ``s == 0`` the value is always 0 (any bounds around it)."""
    lo, hi = clip
    out = []
    for s in scale:
        if s == 0:
            out.append([-1.0, 1.0])
        else:
            a, b = lo * s, hi * s
            out.append([min(a, b), max(a, b)])
    return out
