"""The daemon's systemd-facing figures, measured on real processes: start to READY, watchdog ping period, SIGTERM to exit.

For each run: the simulated robot (hil/robot_node.py, in this process) and
``edgepilot run`` as a child with ``NOTIFY_SOCKET`` pointing at a datagram
socket this process binds and ``WATCHDOG_USEC`` set, both on Cyclone DDS on
loopback. Measured:

* ``ready_s``:     process start to ``READY=1`` (interpreter, ONNX Runtime,
                   DDS discovery, the stall supervisor, first tick with every
                   required stream fresh);
* ``ping_period``: intervals between ``WATCHDOG=1`` over ``--steady`` seconds
                   of healthy running (expected: half of WATCHDOG_USEC);
* ``stop_s``:      SIGTERM to process exit (zero velocity, STOPPING=1,
                   supervisor stopped, DDS closed, logs flushed), against the
                   unit's TimeoutStopSec=15s;
* ``stopping_s``:  SIGTERM to the ``STOPPING=1`` datagram.

Run: ``python bench/systemd_lifecycle.py [--runs N] [--watchdog-usec US] [--steady S]``.
Prints one JSON object (seconds; p50 and max over runs, ping intervals pooled).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ["CYCLONEDDS_URI"] = (ROOT / "daemon" / "transport" / "cyclonedds_loopback.xml").as_uri()


def one_run(domain: int, watchdog_usec: int, steady_s: float, work: Path) -> dict[str, object]:
    import yaml

    from edgepilot.daemon.config.profile import default_profile_path
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.hil.robot_node import RobotNode
    from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

    d = yaml.safe_load(default_profile_path().read_text())
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    for term in d["observation"]["terms"]:
        if term["kind"] == "goal_relative":
            term["goal_xy"] = [50.0, 0.0]  # keeps the policy driving for the whole run
    profile = work / "profile.yaml"
    profile.write_text(yaml.safe_dump(d))

    sock_path = work / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.1)
    got: list[tuple[float, str]] = []
    done = threading.Event()

    def recv() -> None:
        while not done.is_set():
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            got.append((time.monotonic(), data.decode()))  # stamped on receipt, not before the wait

    rx = threading.Thread(target=recv, daemon=True)
    rx.start()
    transport = DdsTransport(domain)
    node = RobotNode(transport, DiffDriveSim(SimParams(), np.random.default_rng(1)), (50.0, 0.0), verbose=False)
    robot = threading.Thread(target=node.run, kwargs={"duration_s": 600}, daemon=True)
    robot.start()

    def first(field: str, since: float = 0.0) -> float | None:
        for t, m in list(got):
            if t >= since and field in m.split("\n"):
                return t
        return None

    t_start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(domain)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": str(watchdog_usec)})
    try:
        deadline = time.monotonic() + 60
        while first("READY=1") is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        t_ready = first("READY=1")
        if t_ready is None:
            raise RuntimeError("no READY=1 within 60 s")
        time.sleep(steady_s)
        t_end = time.monotonic()
        pings = [t for t, m in list(got) if t_ready <= t <= t_end and "WATCHDOG=1" in m.split("\n")]
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        t_exit = time.monotonic()
        time.sleep(0.05)
        t_stopping = first("STOPPING=1", since=t_term)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        node.stop_event.set()
        robot.join(timeout=5)
        transport.close()
        done.set()
        rx.join(timeout=1)
        sock.close()
    return {"rc": rc, "ready_s": t_ready - t_start, "stop_s": t_exit - t_term,
            "stopping_s": (t_stopping - t_term) if t_stopping is not None else None,
            "ping_intervals": np.diff(pings).tolist()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--watchdog-usec", type=int, default=2_000_000, help="as WatchdogSec=2s in systemd/edgepilot.service")
    p.add_argument("--steady", type=float, default=5.0, help="healthy seconds per run over which pings are timed")
    a = p.parse_args()
    runs = []
    for i in range(a.runs):
        with tempfile.TemporaryDirectory(prefix="edgepilot-bench-") as work:
            runs.append(one_run(150 + i, a.watchdog_usec, a.steady, Path(work)))

    def stats(values: list[float]) -> dict[str, float]:
        v = np.asarray(values, dtype=float)
        return {"p50": round(float(np.median(v)), 4), "max": round(float(v.max()), 4), "min": round(float(v.min()), 4)}

    intervals = [x for r in runs for x in r["ping_intervals"]]  # type: ignore[union-attr]
    print(json.dumps({
        "runs": a.runs, "watchdog_usec": a.watchdog_usec, "expected_ping_period_s": a.watchdog_usec / 2e6,
        "exit_codes": [r["rc"] for r in runs],
        "ready_s": stats([r["ready_s"] for r in runs]),  # type: ignore[misc]
        "ping_period_s": stats(intervals), "pings": len(intervals) + len(runs),
        "stop_s": stats([r["stop_s"] for r in runs]),  # type: ignore[misc]
        "stopping_s": stats([r["stopping_s"] for r in runs if r["stopping_s"] is not None]),  # type: ignore[misc]
        "timeout_stop_s": 15.0,
    }))
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
