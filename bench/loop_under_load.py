"""Loop timing, end-to-end latency and overhead at 500 Hz under full sensor load, ours vs the baseline.

For each system (the daemon as ``edgepilot run`` runs the example profile, the same daemon with its sensor
callbacks moved back into the loop's process, and the seed's ``AIDeploymentNode``) one run is:

1. a probe process subscribes to /cmd_vel (:mod:`bench.command_probe`, SCHED_FIFO where permitted, as a motor
   driver would run; the same for every system);
2. :mod:`bench.sensor_load` starts as two processes, as a robot's drivers: JointState 1 kHz + Imu 1 kHz
   (SCHED_FIFO where permitted) and Image 640x480 rgb8 30 Hz (normal policy);
3. the system starts in its own process and runs for ``duration`` seconds at 500 Hz;
4. the first ``WARMUP_S`` seconds of ticks are dropped (start-up hold, JIT-less warm caches, DDS discovery).

Jitter: the deviation of each tick-start interval from the period, |start[k] - start[k-1] - period|, the same
for every system (the baseline's timer drifts, so lateness against an absolute schedule would grow without
bound for it; that drift shows in ``rate_hz`` instead). For the daemon, lateness against its own absolute
deadlines is reported too. Overruns: intervals longer than 1.5 periods. Overhead: tick duration minus the
backend's inference time, per tick. Latency: see :mod:`bench.command_probe`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml

from .command_probe import latencies_ns
from .sensor_load import JOINT_HZ

RATE_HZ = 500.0
#: The joint states' rate (bench/sensor_load.py), the stream the loop is phase-locked to: one of its periods is
#: the most a change waits for a tick (the end-to-end bound in bench/targets.py).
SENSOR_RATE_HZ = JOINT_HZ
#: The command probe (bench/command_probe.py) stands where a motor driver would: above the daemon's own
#: priorities (profile realtime: loop 20), so its own scheduling is not charged to any system.
PROBE_PRIORITY = 19
#: The joint-state/IMU publisher stands for those drivers (bench/sensor_load.py): real time, below the daemon's
#: loop; the camera publisher runs at the normal policy.
DRIVER_PRIORITY = 15
WARMUP_S = 1.5
REPO = Path(__file__).resolve().parents[1]


#: ``--realtime`` modes: ``on`` runs everything with the shipped profile's SCHED_FIFO priorities (refused where not
#: permitted: the summary's ``tuning`` says so); ``off`` runs the daemon with ``realtime.loop_priority`` and
#: ``ingest_priority`` null and the probe and drivers at the normal policy, as in a container without
#: CAP_SYS_NICE. CPU affinity (no privilege needed) stays in both.
REALTIME_MODES = ("on", "off")


def bench_profile(directory: Path, ingest_mode: str | None = None, realtime: str = "on") -> Path:
    """The example profile at 500 Hz with the benchmark's streams (640x480 camera, 1 kHz joints and IMU)."""
    from edgepilot.daemon.config.profile import default_profile_path

    d = yaml.safe_load(default_profile_path().read_text())
    d["name"] = "diffbot-bench-500hz"
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["loop"]["rate_hz"] = RATE_HZ
    d["streams"]["joint_states"]["rate_hz"] = 1000
    d["streams"]["imu"]["rate_hz"] = 1000
    d["streams"]["camera"].update(rate_hz=30, width=640, height=480, max_age_s=0.3)
    for cfg in d["streams"].values():
        if cfg.get("max_rate_hz"):
            cfg["max_rate_hz"] = 2 * cfg["rate_hz"]  # the shipped limit's margin (2x nominal) at the bench's rates
    d["watchdog"]["startup_grace_s"] = 5.0
    if ingest_mode is not None:
        d["ingest"] = {**d.get("ingest", {}), "mode": ingest_mode}
    if realtime == "off":
        d["realtime"] = {**d.get("realtime", {}), "loop_priority": None, "ingest_priority": None}
    p = directory / f"bench_profile_{ingest_mode or 'shipped'}_rt{realtime}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def _pct_us(ns: np.ndarray) -> dict[str, float]:
    if ns.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    p50, p99 = np.percentile(ns, [50, 99])
    return {"p50": round(float(p50) / 1e3, 2), "p99": round(float(p99) / 1e3, 2), "max": round(float(ns.max()) / 1e3, 2),
            "n": int(ns.size)}



def loop_settings(profile: Path) -> tuple[int | None, tuple[int, ...] | None]:
    """The loop thread's SCHED_FIFO priority and CPUs in ``profile`` (what the floor's timer thread copies)."""
    d = yaml.safe_load(profile.read_text()).get("realtime", {})
    cpus = d.get("loop_cpus")
    return d.get("loop_priority"), tuple(cpus) if cpus else None


@contextlib.contextmanager
def sensor_load(domain: int, duration_s: float, toggles_path: Path | None, realtime: str = "on",
                ) -> Iterator[tuple[subprocess.Popen, subprocess.Popen]]:
    """The two sensor driver processes (joint states + IMU, camera) publishing on ``domain`` while inside."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "bench.sensor_load", "--domain-id", str(domain), "--duration", str(duration_s)]
    prio = ["--rt-priority", str(DRIVER_PRIORITY)] if realtime == "on" else []
    out = ["--out", str(toggles_path)] if toggles_path is not None else []
    load = subprocess.Popen([*base, *out, "--no-image", *prio], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    camera = subprocess.Popen([*base, "--image-only"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        yield load, camera
    finally:
        load.terminate()
        camera.terminate()
        for p in (load, camera):
            if p.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=30)


def run_once(system: str, duration_s: float, workdir: Path, profile: Path, realtime: str = "on") -> dict:
    """One run of ``system`` under the full sensor load; figures + raw arrays.

    ``ours``: the daemon with the example profile as shipped (ingest in child processes writing shared-memory
    rings, real-time priorities where permitted, ticks phase-locked to the joint states); ``ours_in_process``:
    the same with ``ingest: {mode: in_process}`` (sensor callbacks on DDS threads in the loop's process: what
    the separate ingest process buys); ``baseline``: bench/baseline.
    """
    if system == "ours_in_process":
        profile = bench_profile(workdir, "in_process", realtime)
    domain = random.SystemRandom().randint(100, 200)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    probe_path = workdir / f"probe-{system}.npz"
    probe_prio = ["--rt-priority", str(PROBE_PRIORITY)] if realtime == "on" else []
    probe = subprocess.Popen([sys.executable, "-m", "bench.command_probe", "--domain-id", str(domain), "--out",
                              str(probe_path), *probe_prio], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    probe_sched = (probe.stdout.readline() if probe.stdout else "").strip()
    toggles_path = workdir / f"toggles-{system}.npy"
    run_path = workdir / f"run-{system}.npz"
    load_avg_before = os.getloadavg()
    try:
        with sensor_load(domain, duration_s + 30, toggles_path, realtime) as (load, camera):
            time.sleep(0.5)
            if system == "baseline":
                cmd = [sys.executable, "-m", "bench.baseline", "--domain-id", str(domain), "--duration",
                       str(duration_s), "--rate-hz", str(RATE_HZ), "--out", str(run_path)]
            else:
                cmd = [sys.executable, "-m", "bench.daemon_runner", "--config", str(profile), "--domain-id",
                       str(domain), "--duration", str(duration_s), "--out", str(run_path)]
            sysp = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=duration_s + 60)
            if sysp.returncode != 0:
                raise RuntimeError(f"{system} failed ({sysp.returncode}): {sysp.stderr[-2000:]}")
            sys_summary = json.loads(sysp.stdout.strip().splitlines()[-1])
            load.terminate()
            camera.terminate()
            out, err = load.communicate(timeout=30)
            cam_out, _ = camera.communicate(timeout=30)
    finally:
        probe.terminate()
        probe.communicate(timeout=30)
    load_avg_after = os.getloadavg()
    load_rates = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err[-500:]}
    if cam_out.strip():
        load_rates.update(json.loads(cam_out.strip().splitlines()[-1]))
    toggles = np.load(toggles_path)[0]
    with np.load(probe_path) as pr:
        cmd_t, cmds = pr["t_ns"], pr["cmds"]
    r = np.load(run_path)
    start = r["start_ns"]
    period = int(r["period_ns"])
    keep = start >= start[0] + int(WARMUP_S * 1e9) if start.size else np.zeros(0, bool)
    s = start[keep]
    intervals = np.diff(s)
    jitter = np.abs(intervals - period)
    dur = r["duration_ns"][keep]
    inf = r["inference_ns"][keep]
    ran = inf > 0
    overhead = dur[ran] - inf[ran]
    skip_ns = int(cmd_t[0] + WARMUP_S * 1e9) if cmd_t.size else 0
    lat = latencies_ns(toggles, cmd_t, cmds, skip_ns)
    res = {
        "system": system,
        "realtime": realtime,
        "duration_s": duration_s,
        "rate_hz": round((s.size - 1) * 1e9 / (s[-1] - s[0]), 2) if s.size > 1 else 0.0,
        "jitter_us": _pct_us(jitter),
        "overruns": int((intervals > 1.5 * period).sum()),
        "ticks": int(s.size),
        "overhead_us": _pct_us(overhead),
        "inference_us": _pct_us(inf[ran]),
        "tick_duration_us": _pct_us(dur),
        "e2e_latency_us": _pct_us(lat),
        "sensor_load_hz": load_rates,
        "probe": probe_sched,
        "loadavg_1_5_15": {"before": [round(x, 2) for x in load_avg_before], "after": [round(x, 2) for x in load_avg_after]},
    }
    if "lateness_ns" in r:
        res["lateness_us"] = _pct_us(r["lateness_ns"][keep])
        res["deadline_misses"] = int(sys_summary.get("deadline_misses", -1))
        res["streams"] = {k: {"received": v["received"], "dropped": v["dropped"]} for k, v in sys_summary["streams"].items()}
        res["tuning"] = sys_summary.get("tuning", {})
    else:
        res["baseline"] = sys_summary
    res["_raw"] = {"jitter_ns": jitter, "latency_ns": lat}
    return res
