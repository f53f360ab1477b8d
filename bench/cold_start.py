"""Cold start: from spawning ``python -m edgepilot run`` (the model present; ONNX Runtime needs no engine build,
so "cached engine" is the ONNX file itself) to the first command received over DDS, with the sensor load
already publishing. Two figures: the first command of any kind (the start-up hold publishes zeros) and the
first policy command (non-zero: this policy never commands exactly zero on these inputs)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from .command_probe import CommandProbe

REPO = Path(__file__).resolve().parents[1]


def run_once(profile: Path, timeout_s: float = 30.0) -> dict[str, float]:
    domain = random.SystemRandom().randint(100, 200)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    probe = CommandProbe(domain)
    load = subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(domain), "--duration", "60"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        time.sleep(1.0)
        t0 = time.time_ns()
        daemon = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id",
                                   str(domain), "--duration", str(timeout_s)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_any = first_policy = -1
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and first_policy < 0:
            time.sleep(0.005)
            if first_any < 0 and probe.n:
                first_any = int(probe.t_ns[0])
            first_policy = probe.first_nonzero_ns()
        return {"first_command_s": round((first_any - t0) / 1e9, 3) if first_any > 0 else float("nan"),
                "first_policy_command_s": round((first_policy - t0) / 1e9, 3) if first_policy > 0 else float("nan")}
    finally:
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        load.terminate()
        load.wait(timeout=15)
        probe.close()
