"""``edgepilot demo``: the simulated robot and the daemon, two processes talking ROS 2 over Cyclone DDS.

The robot (a node of ``edgepilot.hil``: MuJoCo physics, sensors and the rendered camera published at
their real rates) and the daemon (``edgepilot run`` with an embedded profile) are started exactly as a
user would start them on two machines. The default demo is the visuomotor one: the target is visible
only to the camera, and the policy reaches it from pixels plus proprioception (``--robot diffbot``: the
first example, its goal in the observation). The demo
demo only forwards their progress lines, waits for the robot to report the
goal reached (or the time cap), stops the daemon with SIGTERM and merges both
reports.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edgepilot.cli import use_loopback_dds
from edgepilot.daemon.config.profile import default_profile_path, load_profile
from edgepilot.daemon.observation.terms import GoalTerm


def _forward(stream: IO[str], prefix: str, sink: IO[str], keep: list[str]) -> None:
    for line in stream:
        line = line.rstrip("\n")
        keep.append(line)
        if line.startswith("{"):
            continue  # the child's JSON summary; the demo prints its own
        print(f"{prefix} {line}", file=sink, flush=True)


def _start(cmd: list[str], prefix: str, sink: IO[str]) -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    keep: list[str] = []
    t = threading.Thread(target=_forward, args=(proc.stdout, prefix, sink, keep), daemon=True)
    t.start()
    return proc, keep, t


def _terminate(proc: subprocess.Popen[str], timeout_s: float) -> int:
    """SIGTERM (the daemon publishes zero and exits 0 on it), SIGKILL only if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class DemoRobot:
    """One demo: the daemon's embedded profile, the robot node that plays the robot, what it is asked to reach."""

    name: str
    profile: Path
    node: list[str]  # the node's module and its own arguments (domain, duration and result file are added)
    what: str
    tolerance_m: float


def demo_robot(name: str) -> DemoRobot:
    """``visuomotor`` (the default): the target is visible only to the camera; the policy reaches it from pixels
    and proprioception (examples/visuomotor/). ``diffbot``: the goal is in the profile's observation."""
    profiles = default_profile_path().parent
    if name == "visuomotor":
        from edgepilot.hil.visuomotor_sim import SUCCESS_DISTANCE_M

        seed = random.randint(0, 10**6)
        return DemoRobot("visuomotor", profiles / "visuomotor.yaml",
                         ["edgepilot.hil.visuomotor_node", "--seed", str(seed)],
                         f"a red target placed from seed {seed}, seen only through the camera", SUCCESS_DISTANCE_M)
    profile = load_profile(default_profile_path())
    goal = next(t.goal_xy for t in profile.observation.terms if isinstance(t, GoalTerm))
    return DemoRobot("diffbot", default_profile_path(),
                     ["edgepilot.hil.robot_node", "--goal", str(goal[0]), str(goal[1])],
                     f"goal ({goal[0]:.2f}, {goal[1]:.2f}) m from the profile", 0.15)


def _drive(robot: DemoRobot, domain: int, duration_s: float, work: Path, sink: IO[str]) -> tuple[int, int, list[str], list[str]]:
    """Start the robot node and the daemon, wait for GOAL HELD (or the cap), stop the daemon, then the robot."""
    rig, rig_lines, rig_t = _start(
        [sys.executable, "-m", *robot.node, "--domain-id", str(domain), "--duration", str(duration_s),
         "--result-json", str(work / "robot.json")], "[robot ]", sink)
    daemon, daemon_lines, daemon_t = _start(
        [sys.executable, "-m", "edgepilot", "run", "--config", str(robot.profile), "--domain-id", str(domain),
         "--summary-json", str(work / "daemon.json")], "[daemon]", sink)
    try:
        # The robot keeps publishing after it reports the goal held, so the daemon is stopped first, on
        # healthy streams, exactly as an operator would stop it; then the robot.
        deadline = time.monotonic() + duration_s + 30  # + start-up of both processes
        while time.monotonic() < deadline and rig.poll() is None and daemon.poll() is None:
            if any(line.startswith("GOAL HELD") for line in rig_lines[-5:]):
                break
            time.sleep(0.05)
    finally:
        daemon_rc = _terminate(daemon, timeout_s=15)
        rig_rc = _terminate(rig, timeout_s=10)
        rig_t.join(timeout=2)
        daemon_t.join(timeout=2)
    return rig_rc, daemon_rc, rig_lines, daemon_lines


def _result(robot: DemoRobot, work: Path, rig_rc: int, daemon_rc: int, wall_s: float, rate_hz: float) -> dict[str, Any]:
    rob = _read_json(work / "robot.json") or {}
    summary = _read_json(work / "daemon.json") or {}
    faults = list(summary.get("faults", ["daemon_failed"] if not summary else []))
    if daemon_rc != 0 and "daemon_failed" not in faults:
        faults.append("daemon_failed")
    return {
        "demo": robot.name, "goal_reached": bool(rob.get("goal_reached", False)), "goal_xy": rob.get("goal_xy"),
        "goal_tolerance_m": robot.tolerance_m, "final_distance_m": rob.get("final_distance_m"),
        "time_to_goal_s": rob.get("time_to_goal_s"), "ticks": summary.get("ticks", 0),
        "loop_rate_hz": summary.get("loop_rate_hz", 0.0), "loop_rate_target_hz": rate_hz,
        "deadline_misses": summary.get("deadline_misses"), "latency_ms": summary.get("latency_ms"),
        "inference_ms": summary.get("inference_ms"), "faults": faults, "zero_commands": summary.get("zero_commands"),
        "policy_commands": summary.get("policy_commands"), "commands_received_by_robot": rob.get("commands_received"),
        "wall_s": round(wall_s, 2), "exit_codes": {"robot": rig_rc, "daemon": daemon_rc}, "daemon": summary,
        "robot": rob,
    }


def _print_summary(result: dict[str, Any], ok: bool, sink: IO[str]) -> None:
    lat = result["latency_ms"] or {}
    faults = result["faults"]
    print("", file=sink)
    print(f"edgepilot demo summary ({result['demo']})", file=sink)
    print(f"  goal reached      : {result['goal_reached']} (final distance {result['final_distance_m']} m, "
          f"time to goal {result['time_to_goal_s']} s)", file=sink)
    print(f"  control loop      : {result['ticks']} ticks at {result['loop_rate_hz']} Hz "
          f"(target {result['loop_rate_target_hz']:g}), {result['deadline_misses']} deadline misses", file=sink)
    print(f"  latency           : p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms (sensor receipt -> command publish)", file=sink)
    print(f"  faults            : {', '.join(faults) if faults else 'none'}", file=sink)
    print(f"  zero commands     : {result['zero_commands']} (startup hold and shutdown included)", file=sink)
    print(f"  wall time         : {result['wall_s']} s", file=sink)
    print(f"  result            : {'PASS' if ok else 'FAIL'}", file=sink, flush=True)


def run_demo(duration_s: float = 30.0, as_json: bool = False, domain_id: int | None = None,
             sink: IO[str] | None = None, robot_name: str = "visuomotor") -> int:
    """Run the demo; return the exit status (0 only if the goal was reached with no fault)."""
    sink = sys.stderr if sink is None else sink
    use_loopback_dds()  # the demo never leaves loopback, whatever the caller's environment says
    domain = domain_id if domain_id is not None else random.randint(100, 199)
    robot = demo_robot(robot_name)
    profile = load_profile(robot.profile)
    work = Path(tempfile.mkdtemp(prefix="edgepilot-demo-"))
    print(f"edgepilot demo ({robot.name}): simulated diff-drive robot -> {robot.what}; DDS domain {domain} on "
          f"loopback, cap {duration_s:.0f} s", file=sink, flush=True)
    t0 = time.monotonic()
    rig_rc, daemon_rc, rig_lines, daemon_lines = _drive(robot, domain, duration_s, work, sink)
    result = _result(robot, work, rig_rc, daemon_rc, time.monotonic() - t0, profile.loop.rate_hz)
    ok = result["goal_reached"] and not result["faults"] and daemon_rc == 0
    _print_summary(result, ok, sink)
    if not ok and (rig_lines or daemon_lines):
        print(f"  logs kept in      : {work}", file=sink)
        (work / "robot.log").write_text("\n".join(rig_lines))
        (work / "daemon.log").write_text("\n".join(daemon_lines))
    if as_json:
        print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
