"""The machine's floor, measured in the same run as the loop: what no daemon on this machine can beat.

* ``wakeup_us``: a bare timer thread paced exactly as the daemon's loop is (:class:`FixedRateLoop`, sleep then
  spin, at the loop's rate), with the loop thread's SCHED_FIFO priority and CPU affinity where asked for, doing
  nothing per tick. Its jitter, |interval - period| as bench/loop_under_load.py computes the loop's, is the floor
  the loop's jitter is compared with. ``sleep_overshoot_us`` beside it is cyclictest's measure from Python: a
  plain sleep to an absolute deadline, wake-up time minus deadline (no spin). Measured twice: ``quiet`` (nothing
  of the bench running) and ``under_sensor_load`` (the bench's sensor publishers running, as during a loop run;
  the figure the ratios use).
* ``cyclictest``: rt-tests' ``cyclictest`` at the same interval, priority and CPU, where it is installed.
* ``dds_hop_us``: one-way latency over loopback Cyclone DDS between two processes, half the round trip of a
  ping-pong on the end-to-end path's own message types: a JointState out (best effort, as the sensors publish),
  a Twist back (reliable, as the daemon publishes its commands), each sent the moment the other arrives.
* ``inference_us``: the ONNX Runtime backend's ``run()`` alone, on the bench profile's model and thread count.

    python -m bench.floor --rate-hz 500 --seconds 3 [--priority 20 --cpus 1]    (prints the JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def pct_us(ns: np.ndarray) -> dict[str, float]:
    """p50 / p99 / max in microseconds (2 decimals) and the sample count."""
    if ns.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    p50, p99 = np.percentile(ns, [50, 99])
    return {"p50": round(float(p50) / 1e3, 2), "p99": round(float(p99) / 1e3, 2),
            "max": round(float(ns.max()) / 1e3, 2), "n": int(ns.size)}


def _in_tuned_thread(fn, priority: int | None, cpus: tuple[int, ...] | None) -> tuple[Any, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Runs ``fn()`` on a new thread with the loop thread's priority and affinity; (result, what was applied)."""
    from edgepilot.daemon.timing.realtime import set_affinity, set_fifo

    box: dict[str, Any] = {}

    def body() -> None:
        box["applied"] = {"priority": set_fifo(priority), "cpus": set_affinity(cpus)}
        box["result"] = fn()

    t = threading.Thread(target=body, name="floor-timer")
    t.start()
    t.join()
    return box["result"], box["applied"]


def _paced_jitter_ns(rate_hz: float, seconds: float) -> np.ndarray:
    from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop

    n = int(seconds * rate_hz)
    loop = FixedRateLoop(rate_hz, history=n + 1)
    for _ in range(n):
        loop.wait_next()
        loop.end_tick()
    start = loop.start_ns[:n]
    drop = int(0.1 * rate_hz)  # the first 100 ms: page faults of the arrays, the thread's first slices
    return np.abs(np.diff(start[drop:]) - loop.period_ns)


def _sleep_overshoot_ns(rate_hz: float, seconds: float) -> np.ndarray:
    clock, sleep = time.monotonic_ns, time.sleep
    period = int(round(1e9 / rate_hz))
    n = int(seconds * rate_hz)
    out = np.zeros(n, np.int64)
    deadline = clock() + period
    for k in range(n):
        rem = deadline - clock()
        if rem > 0:
            sleep(rem * 1e-9)
        out[k] = clock() - deadline
        deadline += period
    return out[int(0.1 * rate_hz):]


def wakeup(rate_hz: float, seconds: float, priority: int | None, cpus: tuple[int, ...] | None) -> dict[str, Any]:
    """The bare timer thread's jitter (the loop's pacing, nothing to do) and plain-sleep overshoot."""
    jit, applied = _in_tuned_thread(lambda: _paced_jitter_ns(rate_hz, seconds), priority, cpus)
    over, _ = _in_tuned_thread(lambda: _sleep_overshoot_ns(rate_hz, seconds / 2), priority, cpus)
    return {**pct_us(jit), "sleep_overshoot_us": pct_us(over), "applied": applied, "loadavg": _load()}


def cyclictest(rate_hz: float, seconds: float, priority: int | None, cpus: tuple[int, ...] | None) -> dict[str, Any]:
    """rt-tests' cyclictest at the loop's interval, priority and CPU; p50/p99 from its 1 us histogram."""
    exe = os.environ.get("EDGEPILOT_CYCLICTEST") or shutil.which("cyclictest")
    if not exe:
        return {"skipped": "cyclictest not installed (Debian/Ubuntu package rt-tests)"}
    cmd = [exe, "-q", "-m", "-t", "1", "-i", str(int(round(1e6 / rate_hz))), "-D", f"{max(1, int(seconds))}",
           "-h", "5000"]
    if priority is not None:
        cmd += ["-p", str(priority)]
    if cpus:
        cmd += ["-a", ",".join(map(str, cpus))]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"skipped": f"{type(err).__name__}: {err}", "command": " ".join(cmd)}
    if p.returncode != 0:
        return {"skipped": f"exit {p.returncode}: {p.stderr.strip()[-300:]}", "command": " ".join(cmd)}
    return {**parse_cyclictest_histogram(p.stdout), "command": " ".join(cmd)}


def parse_cyclictest_histogram(text: str) -> dict[str, Any]:
    """p50/p99/max (us) of cyclictest ``-h`` output (one ``latency_us count`` line per bucket, ``# Max`` summary)."""
    counts: list[tuple[int, int]] = []
    for line in text.splitlines():
        m = re.match(r"^(\d+)\s+(\d+)\s*$", line)
        if m:
            counts.append((int(m.group(1)), int(m.group(2))))
    mx = re.search(r"# Max Latencies:\s*(\d+)", text)
    over = re.search(r"# Histogram Overflows:\s*(\d+)", text)
    total = sum(c for _, c in counts) + (int(over.group(1)) if over else 0)
    if total == 0:
        return {"skipped": "no histogram in cyclictest's output"}

    def q(f: float) -> float:
        acc, want = 0, f * total
        for us, c in counts:
            acc += c
            if acc >= want:
                return float(us)
        return float("nan")  # in the overflow bucket (above the histogram's range)

    return {"p50": q(0.5), "p99": q(0.99), "max": float(mx.group(1)) if mx else float("nan"), "n": total,
            "overflows": int(over.group(1)) if over else 0}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def inference(profile_path: Path, n: int) -> dict[str, Any]:
    """The backend's run() alone, on the profile's model, inputs zeroed, after a warm-up."""
    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    profile = load_profile(profile_path)
    backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    try:
        for _ in range(200):
            backend.run()
        out = np.zeros(n, np.int64)
        clock = time.perf_counter_ns
        for k in range(n):
            t0 = clock()
            backend.run()
            out[k] = clock() - t0
    finally:
        backend.close()
    return {**pct_us(out), "model": profile.model_path.name}


def dds_hop(domain_id: int, n: int, priority: int | None = None, rate_hz: float = 500.0) -> dict[str, Any]:
    """Half the JointState -> Twist round trip between two child processes, over loopback. ``priority``: both
    run at SCHED_FIFO (where permitted, set before their DDS threads exist so those inherit it), as the sensor
    driver and the daemon's ingest do in a real-time run."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    prio = [] if priority is None else ["--priority", str(priority)]
    base = [sys.executable, "-m", "bench.floor", "--domain-id", str(domain_id), *prio]
    echo = subprocess.Popen([*base, "--role", "echo"], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        (echo.stdout.readline() if echo.stdout else "")
        ping = subprocess.run([*base, "--role", "ping", "--pings", str(n)], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        if ping.returncode != 0:
            return {"skipped": f"ping failed ({ping.returncode}): {ping.stderr[-500:]}"}
        res = json.loads(ping.stdout.strip().splitlines()[-1])
    finally:
        echo.terminate()
        echo.communicate(timeout=30)
    rtt = np.asarray(res.pop("rtt_ns"), np.int64)
    return {**pct_us(rtt // 2), "round_trip_us": pct_us(rtt), "pings": int(rtt.size), **res,
            "path": "JointState (best effort) out, Twist (reliable) back; one process each"}


def _set_priority(priority: int | None) -> str:
    from edgepilot.daemon.timing.realtime import set_fifo

    return set_fifo(priority)


def _ping(domain_id: int, n: int, rate_hz: float) -> np.ndarray:
    from edgepilot.daemon.transport import ros_msgs as m
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    got = threading.Event()
    t = DdsTransport(domain_id)  # the caller set the priority first: Cyclone's threads inherit it
    t.subscribe("/floor/pong", m.Twist, lambda _msg: got.set())
    pub = t.publisher("/floor/ping", m.JointState, reliable=False)
    msg = m.JointState(name=["left_wheel_joint", "right_wheel_joint"], position=[0.0, 0.0], velocity=[1.0, 1.0],
                       effort=[])
    out = np.zeros(n, np.int64)
    k = 0
    deadline = time.monotonic() + 15.0
    try:
        pub.wait_for_subscribers(1, timeout=10.0)
        while k < n and time.monotonic() < deadline + n / rate_hz:
            got.clear()
            t0 = time.perf_counter_ns()
            pub.publish(msg)
            if got.wait(0.05):  # a lost best-effort ping is retried, not counted
                out[k] = time.perf_counter_ns() - t0
                k += 1
            time.sleep(1.0 / rate_hz)
    finally:
        t.close()
    drop = min(k // 10, 50)  # the first pings: discovery settling, first allocations
    return out[drop:k]


def _echo(domain_id: int, priority: int | None) -> int:
    from edgepilot.daemon.transport import ros_msgs as m
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _set_priority(priority)
    t = DdsTransport(domain_id)
    pong = t.publisher("/floor/pong", m.Twist, reliable=True)
    reply = m.Twist()
    t.subscribe("/floor/ping", m.JointState, lambda _msg: pong.publish(reply))
    print("ready", flush=True)
    stop.wait()
    t.close()
    return 0


def measure(profile: Path, realtime: str, seconds: float, rate_hz: float) -> dict[str, Any]:
    """The floor for one ``--realtime`` mode: wake-up quiet and under the bench's sensor load, cyclictest,
    the DDS hop (priorities as the mode gives the drivers and the ingest)."""
    import random

    from .loop_under_load import DRIVER_PRIORITY, loop_settings, sensor_load

    priority, cpus = loop_settings(profile)
    out: dict[str, Any] = {"loop_priority": priority, "loop_cpus": list(cpus) if cpus else None}
    quiet = wakeup(rate_hz, seconds, priority, cpus)
    domain = random.SystemRandom().randint(100, 200)
    with sensor_load(domain, seconds * 3 + 30, None, realtime):
        time.sleep(1.0)  # the publishers' start-up (imports, discovery) is not the load
        loaded = wakeup(rate_hz, seconds, priority, cpus)
        cyc = cyclictest(rate_hz, seconds, priority, cpus)
    out["wakeup_us"] = {**{k: loaded[k] for k in ("p50", "p99", "max", "n")}, "under_sensor_load": loaded,
                        "quiet": quiet,
                        "method": "bare FixedRateLoop thread, loop's rate/priority/CPUs, |interval - period|; "
                                  "p50/p99/max: under the sensor load (as the loop runs)"}
    out["cyclictest_us"] = cyc
    hop_prio = DRIVER_PRIORITY if realtime == "on" else None
    out["dds_hop_us"] = dds_hop(random.SystemRandom().randint(100, 200), max(200, int(seconds * 200)), hop_prio)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="the machine's floor (bench/floor.py)")
    p.add_argument("--role", choices=("echo", "ping"), default=None, help="a side of the DDS ping-pong (internal)")
    p.add_argument("--pings", type=int, default=600)
    p.add_argument("--domain-id", type=int, default=None)
    p.add_argument("--rate-hz", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--priority", type=int, default=None)
    p.add_argument("--cpus", default=None, help="comma-separated CPU numbers")
    a = p.parse_args(argv)
    if a.role == "echo":
        return _echo(int(a.domain_id), a.priority)
    if a.role == "ping":
        applied = _set_priority(a.priority)
        rtt = _ping(int(a.domain_id), a.pings, a.rate_hz)
        print(json.dumps({"rtt_ns": rtt.tolist(), "priority": applied}), flush=True)
        return 0
    cpus = tuple(int(c) for c in a.cpus.split(",")) if a.cpus else None
    import random

    domain = a.domain_id if a.domain_id is not None else random.SystemRandom().randint(100, 200)
    out = {"wakeup_us": wakeup(a.rate_hz, a.seconds, a.priority, cpus),
           "cyclictest_us": cyclictest(a.rate_hz, a.seconds, a.priority, cpus),
           "dds_hop_us": dds_hop(domain, int(a.seconds * 200), a.priority)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CYCLONEDDS_URI", (REPO / "daemon" / "transport" / "cyclonedds_loopback.xml").as_uri())
    sys.exit(main())
