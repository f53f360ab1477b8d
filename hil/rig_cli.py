"""``edgepilot rig``: play the robot against a daemon, inject faults, report what the daemon commanded.

::

    edgepilot rig --robot diffbot [--scenario FILE] [--inject "@3 stop imu for 1"] [--interactive]
    edgepilot rig run-scenarios DIR [--json] [--out DIR] [--cap-duration S]

Exit status: 0 when every expectation held, 1 when one failed, 2 for bad
input (a scenario or profile that does not validate).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import Any


def _add_common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--domain-id", type=int, default=d,
                   help="DDS domain (ROS_DOMAIN_ID); default: a random one in 100-199 for a daemon the rig starts, "
                        "$ROS_DOMAIN_ID (else 0) with --external-daemon")
    p.add_argument("--config", type=Path, default=d, help="daemon profile to run (default: the scenario's, else the robot's)")
    p.add_argument("--out", type=Path, default=argparse.SUPPRESS if suppress else Path("rig-report"),
                   help="report folder (default: ./rig-report)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="print the report as one JSON object on the last stdout line")
    p.add_argument("--external-daemon", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="do not start a daemon: test the one already running on the domain (e.g. on a Jetson); "
                        "SIGSTOP/SIGKILL faults are then refused")
    p.add_argument("--loopback", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="use the shipped loopback-only Cyclone DDS config (the default when the rig starts the daemon "
                        "and CYCLONEDDS_URI is unset)")


def register(sub: Any) -> None:
    """Add ``rig`` (and ``rig run-scenarios``) to the ``edgepilot`` subcommands."""
    r = sub.add_parser("rig", help="hardware-in-the-loop rig: play the robot, inject faults, check the daemon",
                       description=__doc__.split("\n\n")[0])
    r.add_argument("--robot", default="diffbot", help="the simulated robot to play (default: diffbot)")
    r.add_argument("--scenario", type=Path, default=None, help="scenario YAML (default: a plain run of --duration)")
    r.add_argument("--duration", type=float, default=30.0, help="without --scenario: run length after t0, s")
    r.add_argument("--goal", type=float, nargs=2, default=None, metavar=("X", "Y"),
                   help="without --scenario: goal in the start frame, m (default: the profile's)")
    r.add_argument("--sensor-model", choices=["ideal", "realistic"], default="realistic",
                   help="without --scenario: sensor noise, latency, dropout (default: realistic)")
    r.add_argument("--inject", action="append", default=[], metavar="'@T KIND [STREAM] [k=v] [for S]'",
                   help="add a fault at T s after t0, e.g. '@3 stop imu for 1', '@5 sigstop for 0.3' (repeatable)")
    r.add_argument("--interactive", action="store_true",
                   help="read faults from stdin while running ('stop imu for 1', 'clear', 'quit')")
    _add_common(r, suppress=False)
    r.set_defaults(func=cmd_rig, rig_command=None)
    rs = r.add_subparsers(dest="rig_command")
    s = rs.add_parser("run-scenarios", help="run every scenario in DIR, each against a freshly started daemon")
    s.add_argument("dir", type=Path, help="folder of scenario YAML files (the shipped ones: "
                   "python -c 'import edgepilot.hil.scenario as s; print(s.shipped_scenarios_dir())')")
    s.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these scenarios")
    s.add_argument("--cap-duration", type=float, default=None, metavar="S",
                   help="shorten scenarios longer than S seconds (refused if a fault would be cut)")
    _add_common(s, suppress=True)
    s.set_defaults(func=cmd_run_scenarios)


def _setup_dds(args: argparse.Namespace) -> int:
    from edgepilot.daemon.transport.loopback import use_loopback_dds

    external = getattr(args, "external_daemon", False)
    if getattr(args, "loopback", False) or (not external and "CYCLONEDDS_URI" not in os.environ):
        use_loopback_dds()
    elif "CYCLONEDDS_URI" not in os.environ:
        print("rig: CYCLONEDDS_URI is not set: Cyclone DDS defaults apply (multicast on the first interface); "
              "see README 'Pointing the rig at a Jetson'", file=sys.stderr)
    domain = getattr(args, "domain_id", None)
    if domain is None:
        domain = int(os.environ.get("ROS_DOMAIN_ID", "0")) if external else random.randint(100, 199)
    return domain


def _options(args: argparse.Namespace, domain: int) -> Any:
    from edgepilot.hil.rig import RigOptions

    return RigOptions(domain_id=domain, out_dir=getattr(args, "out", Path("rig-report")),
                      profile=getattr(args, "config", None), external_daemon=getattr(args, "external_daemon", False),
                      cap_duration_s=getattr(args, "cap_duration", None),
                      interactive=getattr(args, "interactive", False))


def _finish(results: list[Any], args: argparse.Namespace, opts: Any) -> int:
    from edgepilot.hil.report import build_report, write_report

    report = build_report(results, {"domain_id": opts.domain_id, "cap_duration_s": opts.cap_duration_s,
                                    "external_daemon": opts.external_daemon})
    j, m = write_report(report, opts.out_dir)
    print(f"rig: {'PASS' if report['passed'] else 'FAIL'}: report {m} (and {j.name}, one PNG per scenario)",
          file=sys.stderr)
    for line in report["failures"]:
        print(f"rig: FAILED {line}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(report), flush=True)
    return 0 if report["passed"] else 1


def cmd_rig(args: argparse.Namespace) -> int:
    from edgepilot.hil.rig import run_scenario, with_injections
    from edgepilot.hil.robot_registry import robot
    from edgepilot.hil.scenario import ScenarioError, load_scenario, parse_scenario

    try:
        robot(args.robot)
        if args.scenario is not None:
            scenario = load_scenario(args.scenario)
            if scenario.robot != args.robot:
                raise ScenarioError(f"scenario {args.scenario} is for robot {scenario.robot!r}, not --robot {args.robot!r}")
        else:
            scenario = parse_scenario({"name": "live", "robot": args.robot, "duration_s": args.duration,
                                       "goal_xy": args.goal, "sensor_model": args.sensor_model,
                                       "description": "edgepilot rig run with live fault injection"}, source="command line")
        scenario = with_injections(scenario, args.inject)
    except (ScenarioError, KeyError) as err:
        print(f"rig: {err}", file=sys.stderr)
        return 2
    domain = _setup_dds(args)
    opts = _options(args, domain)
    try:
        result, _ = run_scenario(scenario, opts)
    except ScenarioError as err:
        print(f"rig: {err}", file=sys.stderr)
        return 2
    return _finish([result], args, opts)


def cmd_run_scenarios(args: argparse.Namespace) -> int:
    from edgepilot.hil.rig import run_scenario
    from edgepilot.hil.scenario import ScenarioError, load_scenarios

    try:
        scenarios = load_scenarios(args.dir)
        if args.only:
            missing = sorted(set(args.only) - {s.name for s in scenarios})
            if missing:
                raise ScenarioError(f"--only {missing}: no such scenario in {args.dir}; "
                                    f"there are {[s.name for s in scenarios]}")
            scenarios = [s for s in scenarios if s.name in args.only]
        if args.cap_duration is not None:
            scenarios = [s.shortened(args.cap_duration) for s in scenarios]
    except ScenarioError as err:
        print(f"rig: {err}", file=sys.stderr)
        return 2
    domain = _setup_dds(args)
    opts = _options(args, domain)
    results = []
    for sc in scenarios:
        try:
            result, _ = run_scenario(sc, opts)
        except ScenarioError as err:
            print(f"rig: {err}", file=sys.stderr)
            return 2
        results.append(result)
    return _finish(results, args, opts)
