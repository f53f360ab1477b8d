"""The control-loop performance suite (issues 8 and 19), one command, machine-readable output:

    .venv/bin/python -m bench [--out DIR | --json OUT.json] [--png OUT.png] [--quick]
                              [--only ring,fusion,loop,cold_start,growth] [--realtime on,off]

Run from the repository root. Results go to ``--json`` or, by default, to
``$XDG_CACHE_HOME/edgepilot/bench/<UTC time>/bench.json`` (``~/.cache`` without XDG_CACHE_HOME), never into the
source tree; bench/reference/ holds one committed run per machine kind for comparison. The loop section runs
once per ``--realtime`` mode, each with the machine's floor measured in the same run (bench/floor.py) and the
targets checked against it (bench/targets.py; printed as a table and written under ``targets``). Sections (each figure the median over repeated runs, with os.getloadavg()
recorded next to it: on a shared machine figures taken under load are pessimistic):

* ``ring``: RingBuffer writes / latest-reads per second, 64-float vector and 640x480x3 frame, in process and
  across processes in shared memory (bench/ring_rates.py);
* ``fusion``: us per tick and bytes allocated per tick of the example observation (bench/fusion_cost.py);
* ``loop``: 500 Hz under 1 kHz JointState + 1 kHz Imu + 30 Hz 640x480 rgb8 over Cyclone DDS from another
  process: jitter, overruns, end-to-end latency, overhead above inference, for the daemon as shipped, the
  daemon with its sensor callbacks in the loop's process, and the seed's AIDeploymentNode
  (bench/loop_under_load.py, bench/baseline/);
* ``cold_start``: process start to first command (bench/cold_start.py);
* ``growth``: tick time and jitter against observation size, model size, streams, camera resolution and loop
  rate (bench/cost_growth.py: PNG and markdown table beside the JSON).

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

SECTIONS = ("ring", "fusion", "loop", "cold_start", "growth")
DEFAULT_SECTIONS = ("ring", "fusion", "loop", "cold_start")
SYSTEMS = ("ours", "ours_in_process", "baseline")


def default_out_dir() -> Path:
    """Where a run writes by default: the user's cache, outside the source tree."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgepilot" / "bench" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


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


def loop_section(quick: bool, repeats: int, duration_s: float, raw_out: dict, systems: tuple[str, ...] = SYSTEMS,
                 realtime: str = "on") -> dict:
    from . import loop_under_load as L

    work = Path(tempfile.mkdtemp(prefix="edgepilot-bench-"))
    profile = L.bench_profile(work, realtime=realtime)
    per_system: dict[str, list[dict]] = {s: [] for s in systems}
    for _ in range(repeats):
        for s in systems:  # interleaved, so a change in machine load hits every system alike
            r = L.run_once(s, duration_s, work, profile, realtime)
            raw = r.pop("_raw")
            acc = raw_out.setdefault(f"{s} (rt {realtime})", {"jitter_ns": [], "latency_ns": []})
            acc["jitter_ns"].append(raw["jitter_ns"])
            acc["latency_ns"].append(raw["latency_ns"])
            per_system[s].append(r)
    out: dict[str, Any] = {"rate_hz": L.RATE_HZ, "sensor_rate_hz": L.SENSOR_RATE_HZ, "realtime": realtime,
                           "duration_s": duration_s, "repeats": repeats, "warmup_dropped_s": L.WARMUP_S,
                           "method": (L.__doc__ or "").strip()}
    for s, runs in per_system.items():
        out[s] = {**median_merge(runs), "loadavg_each_run": [r["loadavg_1_5_15"] for r in runs]}
    for k in raw_out:
        raw_out[k] = {f: np.concatenate(v) if isinstance(v, list) and v else v for f, v in raw_out[k].items()}
    out["ratios_baseline_over"] = {
        ours: {f: _ratio(out["baseline"], out[ours], f) for f in
               ("jitter_us.p50", "jitter_us.p99", "jitter_us.max", "e2e_latency_us.p50", "e2e_latency_us.p99",
                "overhead_us.p50", "overhead_us.p99", "overruns")}
        for ours in systems if ours != "baseline" and "baseline" in out}
    return out


def floor_section(realtime: str, seconds: float) -> dict:
    from . import floor
    from . import loop_under_load as L

    profile = L.bench_profile(Path(tempfile.mkdtemp(prefix="edgepilot-bench-")), realtime=realtime)
    return floor.measure(profile, realtime, seconds, L.RATE_HZ)


def inference_floor(n: int) -> dict:
    from . import floor
    from . import loop_under_load as L

    return floor.inference(L.bench_profile(Path(tempfile.mkdtemp(prefix="edgepilot-bench-"))), n)


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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="control-loop performance suite (issues 8, 19)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for bench.json (and the PNGs); default $XDG_CACHE_HOME/edgepilot/bench/<UTC time>")
    p.add_argument("--json", type=Path, default=None, help="write the figures here (overrides --out's bench.json)")
    p.add_argument("--png", type=Path, default=None, help="jitter histograms and latency CDFs (default: beside the JSON)")
    p.add_argument("--quick", action="store_true", help="short runs, one repeat: a smoke run, not figures to quote")
    p.add_argument("--only", default=",".join(DEFAULT_SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--loop-seconds", type=float, default=None, help="seconds per loop run (default 15; quick 4)")
    p.add_argument("--floor-seconds", type=float, default=None, help="seconds per floor figure (default 5; quick 2)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"loop section: comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--realtime", default="on,off", help="loop section: 'on', 'off' or both (real-time priorities)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3; quick 1)")
    p.add_argument("--growth-seconds", type=float, default=None, help="seconds per growth point (default 2; quick 0.5)")
    a = p.parse_args(argv)
    a.only_list = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in a.only_list if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown section(s) {bad}; choose from {list(SECTIONS)}")
    a.systems_t = tuple(s.strip() for s in a.systems.split(",") if s.strip())
    if not a.systems_t or any(s not in SYSTEMS for s in a.systems_t):
        p.error(f"--systems: choose from {list(SYSTEMS)}, got {a.systems!r}")
    a.modes = tuple(m.strip() for m in a.realtime.split(",") if m.strip())
    if not a.modes or any(m not in ("on", "off") for m in a.modes):
        p.error(f"--realtime: 'on', 'off' or 'on,off', got {a.realtime!r}")
    return a


def machine_description() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "hostname_kind": os.environ.get("EDGEPILOT_BENCH_MACHINE", "")}


def main(argv: list[str] | None = None) -> int:
    a = _parse(argv)
    only = a.only_list
    repeats = a.repeats or (1 if a.quick else 3)
    loop_s = a.loop_seconds or (4.0 if a.quick else 15.0)
    floor_s = a.floor_seconds or (2.0 if a.quick else 5.0)
    json_path = a.json or (a.out or default_out_dir()) / "bench.json"
    res: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_description(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
        res["floor"] = {"inference_us": inference_floor(500 if a.quick else 3000)}
        res["loop"] = {}
        for mode in a.modes:
            res["floor"][mode] = floor_section(mode, floor_s)
            res["loop"][mode] = loop_section(a.quick, repeats, loop_s, raw, a.systems_t, mode)
    if "cold_start" in only:
        res["cold_start"] = cold_section(repeats)
    if "growth" in only:
        from . import cost_growth

        res["growth"] = cost_growth.measure(a.growth_seconds or (0.5 if a.quick else 2.0), json_path.parent)
    from .targets import all_targets, table

    res["targets"] = all_targets(res)
    res["loadavg_at_end"] = _load()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_suffix(json_path.suffix + ".tmp")
    tmp.write_text(json.dumps(strict_json(res), indent=2, allow_nan=False))
    os.replace(tmp, json_path)
    if raw:
        from .plots import draw

        draw(raw, a.png or json_path.with_name("loop_perf.png"),
             f"{res['command']}  ({os.cpu_count()} cpus, loadavg at start {res['loadavg_at_start']})")
    print(table(res["targets"]))
    print(f"results: {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
