"""Time what a visuomotor `make demo` would do: the robot node and the daemon as two processes over DDS (loopback).

Starts ``python -m edgepilot.hil.visuomotor_node`` (target placed from ``--seed``) and ``python -m edgepilot run
--config daemon/profiles/visuomotor.yaml``, waits for the node's GOAL HELD (or the cap), stops the daemon
with SIGTERM, then the node, and prints one JSON line: the wall time from launch to the target held (and the
robot's own time from its first motion), to both processes gone, and the daemon's faults. ``edgepilot demo``
does not use this script.

Usage: python examples/visuomotor/time_demo_run.py [--seed N] [--cap S]
"""

from __future__ import annotations

import argparse
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

PROFILE = Path(__file__).resolve().parents[2] / "daemon" / "profiles" / "visuomotor.yaml"


def _start(cmd: list[str], lines: list[tuple[float, str]]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    threading.Thread(target=lambda: lines.extend((time.monotonic(), ln) for ln in proc.stdout),  # type: ignore[union-attr]
                     daemon=True).start()
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cap", type=float, default=60.0, help="give up after this many seconds of driving")
    a = ap.parse_args(argv)
    from edgepilot.cli import use_loopback_dds

    use_loopback_dds()
    domain = random.randint(100, 199)
    work = Path(tempfile.mkdtemp(prefix="edgepilot-visuomotor-"))
    robot_lines: list[tuple[float, str]] = []
    daemon_lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    robot = _start([sys.executable, "-m", "edgepilot.hil.visuomotor_node", "--domain-id", str(domain), "--seed",
                    str(a.seed), "--duration", str(a.cap + 30), "--result-json", str(work / "robot.json")], robot_lines)
    daemon = _start([sys.executable, "-m", "edgepilot", "run", "--config", str(PROFILE), "--domain-id", str(domain),
                     "--summary-json", str(work / "daemon.json")], daemon_lines)
    held_at = None
    deadline = t0 + a.cap + 30
    while time.monotonic() < deadline and robot.poll() is None and daemon.poll() is None:
        held = [t for t, ln in robot_lines if ln.startswith("GOAL HELD")]
        if held:
            held_at = held[0]
            break
        time.sleep(0.05)
    for proc in (daemon, robot):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    t_end = time.monotonic()
    summary = json.loads((work / "daemon.json").read_text()) if (work / "daemon.json").exists() else {}
    result = json.loads((work / "robot.json").read_text()) if (work / "robot.json").exists() else {}
    print(json.dumps({
        "seed": a.seed, "target_held": held_at is not None,
        "launch_to_target_held_s": None if held_at is None else round(held_at - t0, 2),
        "robot_time_to_goal_s": result.get("time_to_goal_s"),
        "whole_run_s": round(t_end - t0, 2),
        "daemon_faults": summary.get("faults"), "exit_codes": [daemon.returncode, robot.returncode],
    }))
    return 0 if held_at is not None and daemon.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
