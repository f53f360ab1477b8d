"""Control-loop jitter with and without a 30 Hz 640x480 camera and a detector running (issue 17, item 6).

    .venv/bin/python -m bench.detector_load [--duration S] [--repeats N] [--network-size PX] [--json OUT.json]

Conditions, each run as ``edgepilot run`` runs a profile (:mod:`bench.daemon_runner`, its own process) at the
loop bench's 500 Hz (:func:`bench.loop_under_load.bench_profile`: the example profile, its real-time priorities
and CPU placement where permitted), fed 1 kHz JointState + Imu by :mod:`bench.sensor_load` (SCHED_FIFO where
permitted, as a driver):

* ``without``: no camera stream in the profile, no camera publisher, no detector;
* ``camera``: the camera stream and its driver, no detector (where the camera's own cost shows);
* ``with``: the camera stream (640x480 rgb8 at 30 Hz from a camera driver process of its own) and the example's
  squares detector on it (examples/detector/make_detector.py built for a ``network-size`` square input,
  letterboxed), publishing Detection2DArray beside the loop.

The conditions alternate (without, camera, with, without ...) so that a change in the shared machine's load hits
both alike; ``os.getloadavg()`` is recorded around each run. Jitter is as in :mod:`bench.loop_under_load`: the
deviation of each tick-start interval from the period, the first ``WARMUP_S`` seconds dropped. The verdict
compares the median over runs of each condition's p99 (and p50) jitter: ``with`` must be at most 10% above
``without``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
os.environ["CYCLONEDDS_URI"] = (REPO / "daemon" / "transport" / "cyclonedds_loopback.xml").as_uri()

WARMUP_S = 1.5
DRIVER_PRIORITY = 15  # bench/loop_under_load.py: the joint-state/IMU driver, below the daemon's loop
ALLOWED_RATIO = 1.10
CONDITIONS = ("without", "camera", "with")


def _profile(workdir: Path, condition: str, network_size: int, poll_period_s: float = 0.002) -> Path:
    from bench.loop_under_load import bench_profile

    d = yaml.safe_load(bench_profile(workdir).read_text())
    d["name"] = f"diffbot-bench-detector-{condition}"
    if condition == "without":
        del d["streams"]["camera"]
    elif condition == "with":
        sys.path.insert(0, str(REPO / "examples" / "detector"))
        import make_detector

        model = make_detector.build(workdir / f"squares_{network_size}.onnx", network_size)
        labels = make_detector.write_labels(workdir / "squares_labels.txt")
        d["detectors"] = {"squares": {
            "model": str(model), "stream": "camera", "labels_file": str(labels), "topic": "/detections",
            "frame_id": "camera_optical_frame", "poll_period_s": poll_period_s,
            "encoder": {"network_image_width": network_size, "network_image_height": network_size,
                        "image_mean": [0.0, 0.0, 0.0], "image_stddev": [1.0, 1.0, 1.0]},
            "decoding": {"score_threshold": 0.5, "iou_threshold": 0.5}}}
    p = workdir / f"profile_{condition}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def _pct_us(ns: np.ndarray) -> dict[str, float]:
    if ns.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "mean": float("nan"), "n": 0}
    p50, p99 = np.percentile(ns, [50, 99])
    return {"p50": round(float(p50) / 1e3, 2), "p99": round(float(p99) / 1e3, 2), "max": round(float(ns.max()) / 1e3, 2),
            "mean": round(float(ns.mean()) / 1e3, 2), "n": int(ns.size)}


def run_once(condition: str, profile: Path, duration_s: float, workdir: Path) -> dict[str, Any]:
    domain = random.SystemRandom().randint(100, 200)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    drivers = [subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(domain), "--duration",
                                 str(duration_s + 30), "--no-image", "--rt-priority", str(DRIVER_PRIORITY)],
                                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    if condition != "without":
        drivers.append(subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(domain),
                                         "--duration", str(duration_s + 30), "--image-only"], env=env, cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    run_path = workdir / f"run-{condition}-{time.monotonic_ns()}.npz"
    load_before = os.getloadavg()
    try:
        time.sleep(0.5)
        cmd = [sys.executable, "-m", "bench.daemon_runner", "--config", str(profile), "--domain-id", str(domain),
               "--duration", str(duration_s), "--out", str(run_path)]
        sysp = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=duration_s + 60)
        if sysp.returncode != 0:
            raise RuntimeError(f"{condition} failed ({sysp.returncode}): {sysp.stderr[-2000:]}")
        summary = json.loads(sysp.stdout.strip().splitlines()[-1])
    finally:
        for p in drivers:
            p.terminate()
        for p in drivers:
            p.communicate(timeout=30)
    r = np.load(run_path)
    start, period = r["start_ns"], int(r["period_ns"])
    s = start[start >= start[0] + int(WARMUP_S * 1e9)] if start.size else start
    intervals = np.diff(s)
    return {"condition": condition, "jitter_us": _pct_us(np.abs(intervals - period)),
            "lateness_us": _pct_us(r["lateness_ns"][start >= start[0] + int(WARMUP_S * 1e9)]),
            "overruns": int((intervals > 1.5 * period).sum()), "ticks": int(s.size),
            "rate_hz": round((s.size - 1) * 1e9 / (s[-1] - s[0]), 2) if s.size > 1 else 0.0,
            "policy_commands": summary["policy_commands"], "faults": summary["faults"],
            "detectors": summary.get("detectors", {}),
            "camera": summary["streams"].get("camera"),
            "loadavg_1_5_15": {"before": [round(x, 2) for x in load_before],
                               "after": [round(x, 2) for x in os.getloadavg()]},
            "tuning": summary.get("tuning", {})}


def verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stat in ("p50", "p99", "mean"):
        med = {c: float(np.median([r["jitter_us"][stat] for r in runs if r["condition"] == c])) for c in CONDITIONS}
        out[f"jitter_{stat}_us"] = {**med, "ratio": round(med["with"] / med["without"], 3) if med["without"] else None}
    ratio = out["jitter_p99_us"]["ratio"]
    out["within_10_percent"] = bool(ratio is not None and ratio <= ALLOWED_RATIO)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per run (first 1.5 s dropped)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per condition, alternating")
    ap.add_argument("--network-size", type=int, default=320, help="detector input side, pixels")
    ap.add_argument("--poll-period", type=float, default=0.002, help="the detector's poll_period_s")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    a = ap.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgepilot-detector-bench-") as tmp:
        work = Path(tmp)
        profiles = {c: _profile(work, c, a.network_size, a.poll_period) for c in CONDITIONS}
        for _ in range(a.repeats):
            for c in CONDITIONS:
                res = run_once(c, profiles[c], a.duration, work)
                print(json.dumps({k: res[k] for k in ("condition", "jitter_us", "overruns", "rate_hz", "detectors")}),
                      file=sys.stderr, flush=True)
                runs.append(res)
    result = {"duration_s": a.duration, "repeats": a.repeats, "network_size": a.network_size,
              "poll_period_s": a.poll_period,
              "cpus": os.cpu_count(), "verdict": verdict(runs), "runs": runs}
    text = json.dumps(result, indent=1)
    if a.json is not None:
        a.json.write_text(text)
    print(json.dumps(result["verdict"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
