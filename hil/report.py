"""The rig's report: one JSON object and a Markdown table, plus the fault matrix across scenarios.

The fault matrix has one row per fault class (:data:`~edgepilot.hil.scenario.FAULT_CLASSES`):
how many times it was injected, whether it must stop the robot, the worst
time from fault to first zero command (with the bound of that run), the
number of non-zero commands published after detection while faulted (must
be 0), and the worst recovery time. Classes no scenario exercised are listed
as not covered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepilot.common.atomic_file import write_json_atomic, write_text_atomic

from .measure import ScenarioResult
from .scenario import FAULT_CLASSES


def fault_matrix(results: list[ScenarioResult]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for cls in FAULT_CLASSES:
        runs = [(r.name, f) for r in results for f in r.faults if f.kind == cls]
        if not runs:
            rows[cls] = {"runs": 0, "covered": False}
            continue
        stops = [f for _, f in runs if f.expect_stop]
        detected = [f for f in stops if f.detect_ms is not None]
        # Streams have different limits (an IMU 50 ms, a camera 300 ms): the run that matters is the one
        # closest to its own bound, reported next to the plain maximum.
        tightest = max(detected, key=lambda f: (f.detect_ms or 0.0) / f.bound_ms if f.bound_ms else 0.0) if detected else None
        recov = [f.recovery_ms for _, f in runs if f.recovery_ms is not None]
        rows[cls] = {
            "runs": len(runs),
            "covered": True,
            "stops_robot": bool(stops),
            "counted_and_dropped": len(runs) - len(stops),
            "detect_ms_max": max(f.detect_ms for f in detected) if detected else None,  # type: ignore[type-var]
            "tightest": None if tightest is None else {"fault": tightest.title, "detect_ms": tightest.detect_ms,
                                                        "bound_ms": tightest.bound_ms},
            "all_within_bound": all(any(c.name == "stop_within" and c.passed for c in f.checks) for f in stops),
            "undetected": len(stops) - len(detected),
            "nonzero_after_detection": sum(f.nonzero_after_detection or 0 for f in stops),
            "recovery_ms_max": max(recov) if recov else None,
            "zeros_while_counted": sum(f.zeros_in_window or 0 for _, f in runs if not f.expect_stop),
            "passed": all(f.passed for _, f in runs),
            "scenarios": sorted({name for name, _ in runs}),
        }
    return rows


def build_report(results: list[ScenarioResult], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "passed": bool(results) and all(r.passed for r in results),
        "scenarios": [r.as_dict() for r in results],
        "fault_matrix": fault_matrix(results),
        "failures": [line for r in results for line in r.failures()],
        **(meta or {}),
    }


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def markdown(report: dict[str, Any]) -> str:
    lines = ["# edgepilot rig report", ""]
    n_faults = sum(len(s["faults"]) for s in report["scenarios"])
    lines.append(f"**{'PASS' if report['passed'] else 'FAIL'}**: {len(report['scenarios'])} scenarios, "
                 f"{n_faults} faults injected.")
    for key in ("domain_id", "cap_duration_s", "external_daemon"):
        if report.get(key) is not None:
            lines.append(f"{key}: {report[key]}  ")
    lines += ["", "## Fault matrix", "",
              "Time from the fault to the robot's first zero command (worst over runs) against its bound; non-zero "
              "commands the robot received after that while the fault lasted (must be 0); time from the fault's end "
              "to the first non-zero command.", "",
              "| fault class | runs | daemon must | fault→zero, max (ms) | closest to its bound (ms) | "
              "non-zero after detection | recovery, max (ms) | result |",
              "| --- | ---: | --- | ---: | --- | ---: | ---: | --- |"]
    for cls, row in report["fault_matrix"].items():
        if not row["covered"]:
            lines.append(f"| {cls} | 0 | - | - | - | - | - | not covered |")
            continue
        must = "stop" if row["stops_robot"] else "count and drop"
        if row["stops_robot"] and row["counted_and_dropped"]:
            must = f"stop ({row['counted_and_dropped']} runs: count and drop)"
        nz = row["nonzero_after_detection"] if row["stops_robot"] else f"{row['zeros_while_counted']} zeros"
        t = row["tightest"]
        tight = "-" if t is None else f"{_ms(t['detect_ms'])} of {_ms(t['bound_ms'])} ({t['fault']})"
        lines.append(f"| {cls} | {row['runs']} | {must} | {_ms(row['detect_ms_max'])} | {tight} | {nz} | "
                     f"{_ms(row['recovery_ms_max'])} | {'pass' if row['passed'] else '**FAIL**'} |")
    lines += ["", "## Scenarios", "", "| scenario | duration (s) | faults | result |", "| --- | ---: | ---: | --- |"]
    for s in report["scenarios"]:
        lines.append(f"| {s['name']} | {s['duration_s']:.1f} | {len(s['faults'])} | "
                     f"{'pass' if s['passed'] else '**FAIL**'} |")
    for s in report["scenarios"]:
        lines += ["", f"### {s['name']}", ""]
        if s["description"]:
            lines += [s["description"].strip(), ""]
        lines.append(f"![timeline]({s['name']}.png)")
        lines.append("")
        if s["error"]:
            lines += [f"Error: {s['error']}", ""]
        if s["faults"]:
            lines += ["| # | fault | start (s) | end (s) | daemon must | fault→zero (ms) | bound (ms) | non-zero after | "
                      "recovery (ms) | daemon faults | result |",
                      "| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"]
            for f in s["faults"]:
                must = "stop" if f["expect_stop"] else "count and drop"
                nz = f["nonzero_after_detection"] if f["expect_stop"] else f"{f['zeros_in_window']} zeros"
                lines.append(f"| {f['index']} | {f['title']} | {f['start_s']:.2f} | {f['end_s']:.2f} | {must} | "
                             f"{_ms(f['detect_ms'])} | {_ms(f['bound_ms'])} | {'-' if nz is None else nz} | "
                             f"{_ms(f['recovery_ms'])} | {', '.join(f['daemon_faults']) or '-'} | "
                             f"{'pass' if f['passed'] else '**FAIL**'} |")
        checks = [c for c in s["checks"]]
        if checks:
            lines += ["", "Run checks: " + "; ".join(
                f"{c['name']} " + ("FAILED (" + c["detail"] + ")" if not c["passed"]
                                   else "ok (" + c["detail"] + ")" if c["name"] in ("host_pauses", "rig_gaps") else "ok")
                for c in checks)]
    if report["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in report["failures"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    j, m = out_dir / "report.json", out_dir / "report.md"
    write_json_atomic(j, report)
    write_text_atomic(m, markdown(report))
    return j, m
