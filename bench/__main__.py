"""The control-loop performance suite (issue 8), one command, machine-readable output:

    .venv/bin/python -m bench --json OUT.json [--png OUT.png] [--quick] [--only ring,fusion,loop,cold_start]

Run from the repository root. Sections (each figure the median over repeated runs, with os.getloadavg()
recorded next to it: on a shared machine figures taken under load are pessimistic):

* ``ring``: RingBuffer writes / latest-reads per second, 64-float vector and 640x480x3 frame, in process and
  across processes in shared memory (bench/ring_rates.py);
* ``fusion``: us per tick and bytes allocated per tick of the example observation (bench/fusion_cost.py);
* ``loop``: 500 Hz under 1 kHz JointState + 1 kHz Imu + 30 Hz 640x480 rgb8 over Cyclone DDS from another
  process: jitter, overruns, end-to-end latency, overhead above inference, for the daemon as shipped, the
  daemon with its sensor callbacks in the loop's process, and the seed's AIDeploymentNode
  (bench/loop_under_load.py, bench/baseline/);
* ``cold_start``: process start to first command (bench/cold_start.py).

All DDS traffic uses the loopback-only Cyclone config and random domain ids in [100, 200].
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = REPO / "daemon" / "transport" / "cyclonedds_loopback.xml"
os.environ["CYCLONEDDS_URI"] = LOOPBACK.as_uri()  # before anything imports cyclonedds; children inherit it

SECTIONS = ("ring", "fusion", "loop", "cold_start")
SYSTEMS = ("ours", "ours_in_process", "baseline")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def median_merge(runs: list[Any]) -> Any:
    """Element-wise median of a list of equally shaped nested dicts of numbers (other leaves: the first run's)."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_merge([r[k] for r in runs if isinstance(r, dict) and k in r]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        vals = [float(r) for r in runs if isinstance(r, (int, float))]
        return round(float(np.median(vals)), 3) if vals else first
    return first


def ring_section(quick: bool, repeats: int) -> dict:
    from . import ring_rates

    runs = []
    for _ in range(repeats):
        load = _load()
        r = ring_rates.measure(quick)
        r["loadavg"] = load
        runs.append(r)
    return {**median_merge(runs), "repeats": repeats, "loadavg_each_run": [r["loadavg"] for r in runs]}


def fusion_section(quick: bool) -> dict:
    from . import fusion_cost

    load = _load()
    r = fusion_cost.measure(quick)
    r["loadavg"] = load
    return r


def loop_section(quick: bool, repeats: int, duration_s: float, raw_out: dict, systems: tuple[str, ...] = SYSTEMS) -> dict:
    from . import loop_under_load as L

    work = Path(tempfile.mkdtemp(prefix="edgepilot-bench-"))
    profile = L.bench_profile(work)
    per_system: dict[str, list[dict]] = {s: [] for s in systems}
    for _ in range(repeats):
        for s in systems:  # interleaved, so a change in machine load hits every system alike
            r = L.run_once(s, duration_s, work, profile)
            raw = r.pop("_raw")
            acc = raw_out.setdefault(s, {"jitter_ns": [], "latency_ns": []})
            acc["jitter_ns"].append(raw["jitter_ns"])
            acc["latency_ns"].append(raw["latency_ns"])
            per_system[s].append(r)
    out: dict[str, Any] = {"rate_hz": L.RATE_HZ, "duration_s": duration_s, "repeats": repeats,
                           "warmup_dropped_s": L.WARMUP_S, "method": (L.__doc__ or "").strip()}
    for s, runs in per_system.items():
        out[s] = {**median_merge(runs), "loadavg_each_run": [r["loadavg_1_5_15"] for r in runs]}
    for s in raw_out:
        raw_out[s] = {k: np.concatenate(v) if v else np.zeros(0) for k, v in raw_out[s].items()}
    out["ratios_baseline_over"] = {
        ours: {f: _ratio(out["baseline"], out[ours], f) for f in
               ("jitter_us.p50", "jitter_us.p99", "jitter_us.max", "e2e_latency_us.p50", "e2e_latency_us.p99",
                "overhead_us.p50", "overhead_us.p99", "overruns")}
        for ours in systems if ours != "baseline" and "baseline" in out}
    return out


def _get(d: dict, path: str) -> float:
    for k in path.split("."):
        d = d[k]
    return float(d)  # type: ignore[arg-type]


def _ratio(base: dict, ours: dict, path: str) -> float | None:
    """baseline / ours, to 2 decimals; None where ours is 0 (no overruns: the ratio has no bound)."""
    b, o = _get(base, path), _get(ours, path)
    return None if o == 0 else round(b / o, 2)


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float as None: the output is plain JSON (no NaN/Infinity) for any parser."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def cold_section(repeats: int) -> dict:
    from . import cold_start
    from .loop_under_load import bench_profile

    profile = bench_profile(Path(tempfile.mkdtemp(prefix="edgepilot-bench-")))
    runs = []
    for _ in range(repeats):
        load = _load()
        r = cold_start.run_once(profile)
        r["loadavg"] = load
        runs.append(r)
    return {**median_merge(runs), "repeats": repeats, "runs": runs}


def targets(res: dict) -> dict:
    t: dict[str, dict] = {}
    if "ring" in res:
        v = res["ring"]["vector64_f64"]["in_process"]["writes_per_s"]
        t["ring_vector_writes_per_s_ge_1e6"] = {"value": v, "met": v >= 1e6}
    if "fusion" in res:
        f = res["fusion"]
        t["fusion_zero_bytes_retained_per_tick"] = {"value": f["retained_bytes_per_tick"], "met": f["retained_bytes_per_tick"] == 0}
        # Averaged over thousands of ticks: below one byte per tick means most ticks allocate nothing at all (0.0064
        # is one 32-byte object in 5000 ticks), and any per-tick object would show as >= 16 bytes.
        t["fusion_zero_transient_bytes_per_tick"] = {
            "value": f["transient_bytes_per_tick"], "met": f["transient_bytes_per_tick"] < 1,
            "note": "mean over the traced ticks of (tracemalloc peak - traced size at the tick's start); per part in "
                    "fusion.transient_bytes_by_part"}
    if "loop" in res:
        lp = res["loop"]
        for s in (s for s in SYSTEMS if s != "baseline" and s in lp):
            o = lp[s]
            inf = o["inference_us"]["p99"]
            t[f"{s}: jitter_p99_le_200us"] = {"value": o["jitter_us"]["p99"], "met": o["jitter_us"]["p99"] <= 200}
            t[f"{s}: e2e_p99_le_2ms_plus_inference_p99"] = {
                "value": o["e2e_latency_us"]["p99"], "limit": round(2000 + inf, 1), "met": o["e2e_latency_us"]["p99"] <= 2000 + inf}
            t[f"{s}: overhead_p50_le_100us"] = {"value": o["overhead_us"]["p50"], "met": o["overhead_us"]["p50"] <= 100}
            r = lp["ratios_baseline_over"].get(s, {}).get("jitter_us.p99")
            t[f"{s}: baseline_jitter_p99_ge_5x"] = {"value": r, "met": r is not None and r >= 5}
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="control-loop performance suite (issue 8)")
    p.add_argument("--json", required=True, type=Path, help="write the figures here")
    p.add_argument("--png", type=Path, default=None, help="jitter histograms and latency CDFs (needs the loop section)")
    p.add_argument("--quick", action="store_true", help="short runs, one repeat: a smoke run, not figures to quote")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--loop-seconds", type=float, default=None, help="seconds per loop run (default 15; quick 4)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"loop section: comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3; quick 1)")
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown section(s) {bad}; choose from {list(SECTIONS)}")
    systems = tuple(s.strip() for s in a.systems.split(",") if s.strip())
    if not systems or any(s not in SYSTEMS for s in systems):
        p.error(f"--systems: choose from {list(SYSTEMS)}, got {a.systems!r}")
    repeats = a.repeats or (1 if a.quick else 3)
    loop_s = a.loop_seconds or (4.0 if a.quick else 15.0)
    res: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "started_unix": round(time.time(), 1),
        "loadavg_at_start": _load(),
        "note": "os.getloadavg() is recorded next to every figure: other jobs share this machine, so figures "
                "taken under load are pessimistic",
    }
    raw: dict = {}
    if "ring" in only:
        res["ring"] = ring_section(a.quick, repeats)
    if "fusion" in only:
        res["fusion"] = fusion_section(a.quick)
    if "loop" in only:
        res["loop"] = loop_section(a.quick, repeats, loop_s, raw, systems)
    if "cold_start" in only:
        res["cold_start"] = cold_section(repeats)
    res["targets"] = targets(res)
    res["loadavg_at_end"] = _load()
    a.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.json.with_suffix(a.json.suffix + ".tmp")
    tmp.write_text(json.dumps(strict_json(res), indent=2, allow_nan=False))
    os.replace(tmp, a.json)
    if a.png is not None and raw:
        from .plots import draw

        draw(raw, a.png, f"{res['command']}  ({os.cpu_count()} cpus, loadavg at start {res['loadavg_at_start']})")
    print(json.dumps(res["targets"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
