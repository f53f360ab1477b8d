"""The rig: plays the robot, starts (or finds) the daemon, runs a scenario's fault timeline, records everything.

One scenario run:

1. The daemon's profile is prepared: the scenario's (or the robot's) profile,
   the scenario's ``profile_overrides`` merged in, its goal set, written next
   to the report as ``<name>.profile.yaml`` (what the daemon really ran).
2. The robot starts: MuJoCo physics in a thread of this process publishing its
   sensors through the scenario's sensor model (:class:`~edgepilot.hil.robot_node.RobotNode`).
3. The daemon starts as its own process (:class:`~edgepilot.hil.daemon_process.DaemonProcess`),
   unless ``external_daemon``: then it already runs elsewhere on the DDS
   domain (a Jetson), and only the faults that need no signal can be injected.
4. t0 is the first non-zero command; the faults are switched on and off at
   their times after it; live injections (``--inject``, stdin) join them.
5. At the end the daemon gets SIGTERM, the robot stops, and
   :func:`edgepilot.hil.measure.evaluate` turns the record into verdicts.
"""

from __future__ import annotations

import copy
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import TypeAdapter, ValidationError

from edgepilot.daemon.config.profile import Profile, parse_profile
from edgepilot.daemon.observation.terms import GoalTerm

from .measure import RunRecord, ScenarioResult, evaluate
from .robot_registry import robot
from .scenario import PROCESS_FAULTS, Fault, Scenario, ScenarioError, format_errors

_FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Fault)


@dataclass
class RigOptions:
    """How to run scenarios. ``domain_id``: DDS domain (ROS_DOMAIN_ID) shared with the daemon."""

    domain_id: int
    out_dir: Path
    profile: Path | None = None          # the daemon's profile, instead of the scenario's or the robot's
    external_daemon: bool = False
    cap_duration_s: float | None = None  # shorten longer scenarios (CI runs the 60 s nominal one shorter)
    joint_command_topic: str | None = "/wheel_velocity_controller/commands"
    interactive: bool = False
    log: TextIO = field(default_factory=lambda: sys.stderr)


# ---------------------------------------------------------------------------- fault commands

def parse_fault_command(text: str, at_s: float | None = None) -> Fault:
    """One fault from a command line: ``[@AT] KIND [STREAM] [key=value ...] [for SECONDS]``.

    Examples: ``@3 stop imu for 1``, ``freeze imu for 0.5``, ``@5 rate_burst imu factor=10 for 0.4``,
    ``sigstop for 0.3``, ``malformed camera mode=bad_image_size``. Validated like a scenario's fault
    (default duration 1 s).
    """
    words = shlex.split(text)
    data: dict[str, Any] = {"duration_s": 1.0}
    if words and words[0].startswith("@"):
        data["at_s"] = words.pop(0)[1:]
    if at_s is not None:
        data["at_s"] = at_s
    data.setdefault("at_s", 0.0)
    if not words:
        raise ScenarioError(f"fault command {text!r}: no fault kind; e.g. '@3 stop imu for 1'")
    data["kind"] = words.pop(0)
    if "for" in words:
        i = words.index("for")
        if i + 1 >= len(words):
            raise ScenarioError(f"fault command {text!r}: 'for' needs a duration in seconds")
        data["duration_s"] = words[i + 1]
        del words[i : i + 2]
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            data[k] = v
        elif "stream" not in data:
            data["stream"] = w
        else:
            raise ScenarioError(f"fault command {text!r}: unexpected {w!r}; parameters are key=value")
    try:
        return _FAULT_ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, f"fault command {text!r}")) from None


def with_injections(scenario: Scenario, commands: list[str]) -> Scenario:
    """The scenario with ``--inject`` faults added to its timeline (validated as a whole again)."""
    if not commands:
        return scenario
    extra = [parse_fault_command(c) for c in commands]
    faults = sorted([*scenario.faults, *extra], key=lambda f: f.at_s)
    data = scenario.model_dump(exclude={"source"})
    data["faults"] = [f.model_dump() for f in faults]
    from .scenario import parse_scenario

    return parse_scenario(data, source=f"{scenario.name} with --inject", path=scenario.source)


# ---------------------------------------------------------------------------- profile

def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def prepare_profile(scenario: Scenario, options: RigOptions, dest: Path) -> tuple[Path, Profile]:
    """Write the daemon's effective profile to ``dest`` and return it validated (raises ScenarioError)."""
    if options.profile is not None:
        src = options.profile
    elif scenario.profile is not None:
        base = scenario.source.parent if scenario.source else Path(".")
        src = (base / scenario.profile).resolve()
    else:
        src = robot(scenario.robot).default_profile()
    try:
        data = yaml.safe_load(src.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioError(f"scenario {scenario.name}: cannot read profile {src}: {err}") from None
    data = _merge(data, scenario.profile_overrides)
    model = Path(data.get("engine", {}).get("model", ""))
    if not model.is_absolute():
        data["engine"]["model"] = str((src.parent / model).resolve())
    if scenario.goal_xy is not None:
        for term in data.get("observation", {}).get("terms", []):
            if term.get("kind") == "goal_relative":
                term["goal_xy"] = list(scenario.goal_xy)
    try:
        profile = parse_profile(data, base_dir=src.parent, source=f"{src} (with scenario {scenario.name}'s overrides)")
    except ValueError as err:
        raise ScenarioError(str(err)) from None
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(dest)
    return dest, profile


def profile_goal(profile: Profile) -> tuple[float, float] | None:
    return next((t.goal_xy for t in profile.observation.terms if isinstance(t, GoalTerm)), None)


# ---------------------------------------------------------------------------- one run

def run_scenario(scenario: Scenario, options: RigOptions) -> tuple[ScenarioResult, RunRecord]:
    """Run one scenario against a freshly started daemon (or the external one); see the module docstring."""
    from .scenario_run import ScenarioRun

    if options.cap_duration_s is not None:
        scenario = scenario.shortened(options.cap_duration_s)
    if options.external_daemon:
        bad = [f.title() for f in scenario.faults if f.kind in PROCESS_FAULTS]
        if bad:
            raise ScenarioError(f"scenario {scenario.name}: {bad} signal the daemon's process, which only works for "
                                "a daemon the rig started; drop --external-daemon or these faults")
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    profile_path, profile = prepare_profile(scenario, options, out / f"{scenario.name}.profile.yaml")
    goal = scenario.goal_xy or profile_goal(profile) or (50.0, 0.0)
    run = ScenarioRun(scenario, options, profile_path, profile, goal)
    record = run.run()
    result = evaluate(record)
    _write_outputs(record, result, run.trace(), out)
    run.say(("PASS" if result.passed else "FAIL") + "".join(f"\n  {line}" for line in result.failures()))
    return result, record


def _write_outputs(record: RunRecord, result: ScenarioResult, trace: dict[str, list[float]], out: Path) -> None:
    from edgepilot.common.atomic_file import write_json_atomic
    from .timeline_plot import plot_timeline

    name = record.scenario.name
    data = {
        "result": result.as_dict(),
        "scenario": record.scenario.model_dump(mode="json"),
        "commands": {"t": [round(c[0], 5) for c in record.commands], "vx": [c[1] for c in record.commands],
                     "wz": [c[2] for c in record.commands]},
        "fault_windows": [{"index": w.index, "title": w.spec.title(), "kind": w.spec.kind, "start_s": round(w.start, 4),
                           "end_s": round(w.end, 4)} for w in record.windows],
        "daemon_events": [{"t": round(t, 4), "what": what, "fault": f} for t, what, f in record.daemon_events],
        "daemon_summary": record.summary,
        "daemon_exit_status": record.daemon_rc,
        "robot": record.robot,
        "injected": record.injected,
        "host_pauses": {"watch": record.host_watch, "pauses_s": [[round(a, 4), round(b, 4)] for a, b in record.host_pauses],
                        "late_without_steal_s": [[round(a, 4), round(b, 4)] for a, b in record.host_unexplained]},
        "rig_gaps_s": [[round(a, 4), round(b, 4)] for a, b in record.rig_gaps],
        "pose_trace": {k: [round(x, 4) for x in v] for k, v in trace.items()},
    }
    write_json_atomic(out / f"{name}.json", data)
    plot_timeline(record, result, trace, out / f"{name}.png")
