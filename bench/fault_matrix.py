"""The fault matrix, repeated: per fault class, the worst time from fault to first zero command over runs.

Runs the shipped rig scenarios (hil/scenarios; ``nominal_goal`` capped at
``--nominal-s``) ``--repeat`` times, each against a freshly started daemon over
Cyclone DDS on loopback, and pools the faults by class:

* ``detect_ms_max``: worst time from the fault to the robot's first zero
  command, and ``tightest``: the run closest to its own bound (streams differ:
  an IMU 50 ms, a camera 300 ms);
* ``nonzero_after_detection``: non-zero commands received after the first zero
  while the fault lasted, summed (must be 0);
* ``recovery_ms_max``: worst time from the fault's end to the first non-zero command;
* ``failed``: faults whose expectations did not hold (any check).

    .venv/bin/python bench/fault_matrix.py [--repeat 3] [--nominal-s 15] [--out DIR]

Prints a Markdown table and, last, one JSON object. The figures depend on the
machine's load: the daemon's stall timeout is 30 ms, so a machine too busy to
tick the loop on time shows loop stalls (real ones) in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgepilot.cli import use_loopback_dds  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--nominal-s", type=float, default=15.0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    if "CYCLONEDDS_URI" not in os.environ:
        use_loopback_dds()

    from edgepilot.hil.report import fault_matrix
    from edgepilot.hil.rig import RigOptions, run_scenario
    from edgepilot.hil.scenario import load_scenarios, shipped_scenarios_dir

    out = a.out or Path(tempfile.mkdtemp(prefix="edgepilot-fault-matrix-"))
    scenarios = [s.shortened(a.nominal_s) for s in load_scenarios(shipped_scenarios_dir())]
    results = []
    for r in range(a.repeat):
        opts = RigOptions(domain_id=random.randint(100, 199), out_dir=out / f"run{r}", log=sys.stderr)
        for sc in scenarios:
            results.append(run_scenario(sc, opts)[0])
    matrix = fault_matrix(results)
    failed: dict[str, list[str]] = {}
    for res in results:
        for f in res.faults:
            if not f.passed:
                failed.setdefault(f.kind, []).append(f"{res.name}#{f.index}: " + ", ".join(c.name for c in f.checks if not c.passed))
    print("| fault class | runs | must | fault→zero max (ms) | closest to its bound (ms) | non-zero after detection | "
          "recovery max (ms) | failed |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | ---: |")
    for cls, row in matrix.items():
        if not row["covered"]:
            continue
        t = row["tightest"]
        tight = "-" if t is None else f"{t['detect_ms']:.1f} of {t['bound_ms']:.1f} ({t['fault']})"
        mx = "-" if row["detect_ms_max"] is None else f"{row['detect_ms_max']:.1f}"
        rec = "-" if row["recovery_ms_max"] is None else f"{row['recovery_ms_max']:.0f}"
        must = "stop" if row["stops_robot"] else "count and drop"
        print(f"| {cls} | {row['runs']} | {must} | {mx} | {tight} | {row['nonzero_after_detection']} | {rec} | "
              f"{len(failed.get(cls, []))} |")
    summary = {
        "repeat": a.repeat, "nominal_s": a.nominal_s, "machine": platform.node(), "cpus": os.cpu_count(),
        "scenarios_passed": sum(r.passed for r in results), "scenarios_run": len(results),
        "fault_matrix": matrix, "failed_faults": failed,
        "run_checks_failed": [line for r in results for line in r.failures() if ": fault " not in line],
        "report_dir": str(out),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
