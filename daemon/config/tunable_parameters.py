"""The profile values users tune on the robot, as flat ROS 2 parameter names.

The ros2 transport's lifecycle node declares these as node parameters
(``ros2 param set /edgepilot action.linear_x.limit 0.2``); they take effect
at the next ``configure``, where the profile is rebuilt with them and
validated again by the same pydantic rules as the YAML (a bad value fails
the transition with the field, the value and the fix, and the node stays
unconfigured). Names:

* ``loop.rate_hz``
* ``watchdog.stall_timeout_s``, ``watchdog.recovery_ticks``, ``watchdog.startup_grace_s``
* ``streams.<name>.max_age_s``, ``streams.<name>.rate_hz``
* ``action.<twist field with _>.scale`` / ``.limit`` (e.g. ``action.angular_z.limit``)
* ``goal.x_m``, ``goal.y_m`` for a ``goal_relative`` observation term

This module is plain Python (no rclpy), so it is tested everywhere.
"""

from __future__ import annotations

from typing import Any

from edgepilot.daemon.config.profile import Profile, parse_profile
from edgepilot.daemon.observation.terms import GoalTerm

ParameterValue = float | int | bool | str


def tunable_parameters(profile: Profile) -> dict[str, ParameterValue]:
    """Every tunable parameter with its current value, in a stable order."""
    p: dict[str, ParameterValue] = {"loop.rate_hz": float(profile.loop.rate_hz)}
    w = profile.watchdog
    p["watchdog.stall_timeout_s"] = float(w.stall_timeout_s)
    p["watchdog.recovery_ticks"] = int(w.recovery_ticks)
    p["watchdog.startup_grace_s"] = float(w.startup_grace_s)
    for name, s in profile.streams.items():
        p[f"streams.{name}.max_age_s"] = float(s.max_age_s)
        p[f"streams.{name}.rate_hz"] = float(s.rate_hz)
    for c in profile.action.channels:
        key = c.field.replace(".", "_")
        p[f"action.{key}.scale"] = float(c.scale)
        p[f"action.{key}.limit"] = float(c.limit)
    for t in profile.observation.terms:
        if isinstance(t, GoalTerm):
            p["goal.x_m"], p["goal.y_m"] = float(t.goal_xy[0]), float(t.goal_xy[1])
            break
    return p


def apply_parameters(profile: Profile, values: dict[str, Any]) -> Profile:
    """A new, validated profile with ``values`` (a subset of :func:`tunable_parameters`) applied.

    Raises KeyError for an unknown name and :class:`~.config.ProfileError`
    for a value the profile rejects.
    """
    known = tunable_parameters(profile)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise KeyError(f"not tunable parameters: {unknown}; tunable: {sorted(known)}")
    data = profile.model_dump(mode="json", exclude={"base_dir"})
    for name, value in values.items():
        parts = name.split(".")
        if parts[0] == "loop":
            data["loop"][parts[1]] = value
        elif parts[0] == "watchdog":
            data["watchdog"][parts[1]] = value
        elif parts[0] == "streams":
            data["streams"][parts[1]][parts[2]] = value
        elif parts[0] == "action":
            field = parts[1].replace("_", ".", 1)
            for ch in data["action"]["channels"]:
                if ch["field"] == field:
                    ch[parts[2]] = value
        elif parts[0] == "goal":
            for term in data["observation"]["terms"]:
                if term["kind"] == "goal_relative":
                    xy = list(term["goal_xy"])
                    xy[0 if parts[1] == "x_m" else 1] = value
                    term["goal_xy"] = xy
                    break
    return parse_profile(data, base_dir=profile.base_dir, source="parameters")
