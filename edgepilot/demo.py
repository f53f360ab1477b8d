"""``edgepilot demo``: the simulated robot and the daemon, two processes talking ROS 2 over Cyclone DDS.

The robot (``edgepilot.hil.robot_node``: MuJoCo physics, sensors published at
their real rates) and the daemon (``edgepilot run`` with the embedded default
profile) are started exactly as a user would start them on two machines; the
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


def run_demo(duration_s: float = 30.0, as_json: bool = False, domain_id: int | None = None,
             sink: IO[str] | None = None) -> int:
    """Run the demo; return the exit status (0 only if the goal was reached with no fault)."""
    sink = sys.stderr if sink is None else sink
    use_loopback_dds()  # the demo never leaves loopback, whatever the caller's environment says
    domain = domain_id if domain_id is not None else random.randint(100, 199)
    profile_path = default_profile_path()
    profile = load_profile(profile_path)
    goal = next(t.goal_xy for t in profile.observation.terms if isinstance(t, GoalTerm))
    work = Path(tempfile.mkdtemp(prefix="edgepilot-demo-"))
    rig_json, daemon_json = work / "robot.json", work / "daemon.json"

    print(f"edgepilot demo: simulated diff-drive robot -> goal ({goal[0]:.2f}, {goal[1]:.2f}) m, "
          f"DDS domain {domain} on loopback, cap {duration_s:.0f} s", file=sink, flush=True)
    t0 = time.monotonic()
    rig, rig_lines, rig_t = _start(
        [sys.executable, "-m", "edgepilot.hil.robot_node", "--domain-id", str(domain), "--goal", str(goal[0]), str(goal[1]),
         "--duration", str(duration_s), "--result-json", str(rig_json)], "[robot ]", sink)
    daemon, daemon_lines, daemon_t = _start(
        [sys.executable, "-m", "edgepilot", "run", "--config", str(profile_path), "--domain-id", str(domain),
         "--summary-json", str(daemon_json)], "[daemon]", sink)
    rig_rc: int | None = None
    daemon_rc: int | None = None
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

    robot = _read_json(rig_json) or {}
    summary = _read_json(daemon_json) or {}
    faults = list(summary.get("faults", ["daemon_failed"] if not summary else []))
    if daemon_rc != 0 and "daemon_failed" not in faults:
        faults.append("daemon_failed")
    result = {
        "goal_reached": bool(robot.get("goal_reached", False)),
        "goal_xy": list(goal),
        "final_distance_m": robot.get("final_distance_m"),
        "time_to_goal_s": robot.get("time_to_goal_s"),
        "ticks": summary.get("ticks", 0),
        "loop_rate_hz": summary.get("loop_rate_hz", 0.0),
        "loop_rate_target_hz": profile.loop.rate_hz,
        "deadline_misses": summary.get("deadline_misses"),
        "latency_ms": summary.get("latency_ms"),
        "inference_ms": summary.get("inference_ms"),
        "faults": faults,
        "zero_commands": summary.get("zero_commands"),
        "policy_commands": summary.get("policy_commands"),
        "commands_received_by_robot": robot.get("commands_received"),
        "wall_s": round(time.monotonic() - t0, 2),
        "exit_codes": {"robot": rig_rc, "daemon": daemon_rc},
        "daemon": summary,
        "robot": robot,
    }
    ok = result["goal_reached"] and not faults and daemon_rc == 0
    lat = result["latency_ms"] or {}
    print("", file=sink)
    print("edgepilot demo summary", file=sink)
    print(f"  goal reached      : {result['goal_reached']} (final distance {result['final_distance_m']} m, "
          f"time to goal {result['time_to_goal_s']} s)", file=sink)
    print(f"  control loop      : {result['ticks']} ticks at {result['loop_rate_hz']} Hz "
          f"(target {profile.loop.rate_hz:g}), {result['deadline_misses']} deadline misses", file=sink)
    print(f"  latency           : p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms (sensor receipt -> command publish)", file=sink)
    print(f"  faults            : {', '.join(faults) if faults else 'none'}", file=sink)
    print(f"  zero commands     : {result['zero_commands']} (startup hold and shutdown included)", file=sink)
    print(f"  result            : {'PASS' if ok else 'FAIL'}", file=sink, flush=True)
    if not ok and (rig_lines or daemon_lines):
        print(f"  logs kept in      : {work}", file=sink)
        (work / "robot.log").write_text("\n".join(rig_lines))
        (work / "daemon.log").write_text("\n".join(daemon_lines))
    if as_json:
        print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
