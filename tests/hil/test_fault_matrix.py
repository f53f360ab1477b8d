"""The fault matrix: every fault class injected into a real daemon process over Cyclone DDS (loopback).

``edgepilot rig run-scenarios`` runs the shipped scenarios (hil/scenarios),
each against a freshly started ``edgepilot run``; the robot is the MuJoCo
simulator with realistic sensor noise, latency and dropout. Asserted here,
independently of the rig's own verdicts:

* every fault class was injected;
* every fault that must stop the robot did, within the stream's limit
  (``max_age_s``, or ``max_identical_s`` for a frozen stream) plus two loop
  periods, or within two loop periods for faults that are immediate (plus one
  sensor period and the sensor's latency where the fault has to arrive in a
  message first);
* no non-zero command reached the robot after detection while the fault
  lasted, and commands resumed after every fault but SIGKILL;
* duplicates, reordering, sporadic malformed messages and a short delay
  caused no stop.

The shipped ``nominal_goal`` scenario is a 60 s run; CI runs it for 15 s
(``--cap-duration 15``), long enough to reach and hold the goal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgepilot.hil.rig import RigOptions, prepare_profile
from edgepilot.hil.scenario import FAULT_CLASSES, load_scenario, shipped_scenarios_dir

pytestmark = pytest.mark.integration

NOMINAL_CAP_S = 15.0
P = 1 / 50  # the diffbot profile's loop period
LATENCY = {"joint_states": 0.0, "imu": 0.005, "camera": 0.035}  # SensorModel.realistic()
COUNT_AND_DROP = {"duplicate", "reorder"}


def allowed_s(fault: dict, profile) -> float:  # type: ignore[no-untyped-def]
    kind, stream = fault["kind"], fault["stream"]
    if kind in ("sigstop", "sigkill", "inference_error", "nan_action", "loop_stall"):
        return 2 * P
    if kind == "clock_jump":
        return 2 * P + 1 / profile.streams["imu"].rate_hz + LATENCY["imu"]
    cfg, lat = profile.streams[stream], LATENCY[stream]
    if kind == "freeze":
        return cfg.max_identical_s + 2 * P + lat
    if kind in ("nan", "inf", "out_of_range", "stale_stamps"):
        return 2 * P + 1 / cfg.rate_hz + lat
    return cfg.max_age_s + 2 * P + lat  # stop, malformed throughout, delay spike, rate burst


def run_rig(args: list[str], timeout: float, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepilot", "rig", *args], capture_output=True, text=True,
                          timeout=timeout, input=stdin, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_fault_matrix(tmp_path: Path, dds_domain: int) -> None:
    out = tmp_path / "report"
    proc = run_rig(["run-scenarios", str(shipped_scenarios_dir()), "--json", "--out", str(out), "--domain-id",
                    str(dds_domain), "--cap-duration", str(NOMINAL_CAP_S)], timeout=400)
    print(proc.stderr[-6000:])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print((out / "report.md").read_text())
    assert proc.returncode == 0 and report["passed"], report["failures"]

    matrix = report["fault_matrix"]
    assert [c for c in FAULT_CLASSES if not matrix[c]["covered"]] == []
    for s in report["scenarios"]:
        sc = load_scenario(shipped_scenarios_dir() / f"{s['name']}.yaml")
        _, profile = prepare_profile(sc, RigOptions(domain_id=0, out_dir=tmp_path), tmp_path / f"{sc.name}.p.yaml")
        assert (out / f"{s['name']}.png").stat().st_size > 20_000
        for f in s["faults"]:
            where = f"{s['name']} #{f['index']} {f['title']}"
            if not f["expect_stop"]:
                assert f["zeros_in_window"] == 0, where
                continue
            assert f["kind"] not in COUNT_AND_DROP, where
            assert f["detect_ms"] is not None, f"{where}: never stopped"
            assert f["detect_ms"] / 1e3 <= allowed_s(f, profile), f"{where}: {f['detect_ms']} ms"
            assert f["nonzero_after_detection"] == 0, where
            if f["kind"] != "sigkill":
                assert f["recovery_ms"] is not None, f"{where}: commands never resumed"
    for cls in COUNT_AND_DROP:
        assert matrix[cls]["stops_robot"] is False and matrix[cls]["zeros_while_counted"] == 0
    nominal = next(s for s in report["scenarios"] if s["name"] == "nominal_goal")
    assert nominal["duration_s"] == pytest.approx(NOMINAL_CAP_S, abs=0.5)
    # host_pauses and rig_gaps appear (passed, with the pauses) only when the machine or the rig paused in the run.
    assert {c["name"]: c["passed"] for c in nominal["checks"] if c["name"] not in ("host_pauses", "rig_gaps")} == {
        "no_false_stop": True, "no_unexpected_faults": True, "goal_reached": True, "daemon_exit_ok": True}


def test_rig_cli_exits_nonzero_when_an_expectation_fails(tmp_path: Path, dds_domain: int) -> None:
    """One short run through ``edgepilot rig``: a scenario file, an --inject fault and a fault typed on stdin.

    The scenario claims an IMU outage needs no stop, which is false: the rig must say so and exit 1.
    """
    sc = tmp_path / "wrong.yaml"
    sc.write_text("name: wrong_claim\nduration_s: 3.2\ngoal_xy: [50.0, 0.0]\n"
                  "faults:\n  - {at_s: 1.0, duration_s: 0.4, kind: stop, stream: imu, expect: {stop: false}}\n")
    out = tmp_path / "out"
    proc = run_rig(["--robot", "diffbot", "--scenario", str(sc), "--inject", "@2.2 duplicate imu for 0.4",
                    "--interactive", "--json", "--out", str(out), "--domain-id", str(dds_domain)],
                   timeout=120, stdin="stop joint_states for 0.3\n")
    print(proc.stderr[-4000:])
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["passed"]
    faults = {f["title"]: f for f in report["scenarios"][0]["faults"]}
    assert set(faults) == {"stop imu", "duplicate imu", "stop joint_states"}
    assert not faults["stop imu"]["passed"] and faults["stop imu"]["zeros_in_window"] > 0
    assert any("no_stop" in line for line in report["failures"])
    assert faults["duplicate imu"]["passed"]
    typed = faults["stop joint_states"]  # from stdin, right after t0
    assert typed["passed"] and typed["detect_ms"] <= (0.05 + 2 * P) * 1e3
    assert (out / "wrong_claim.png").is_file() and (out / "report.md").is_file()
    assert "daemon started" in proc.stderr


def test_rig_cli_rejects_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration_s: 2\nfaults:\n  - {at_s: 1, duration_s: 0.5, kind: stop, stream: lidar}\n")
    proc = run_rig(["--scenario", str(bad)], timeout=60)
    assert proc.returncode == 2 and "faults.0.stop.stream" in proc.stderr and "'lidar'" in proc.stderr
    proc = run_rig(["--robot", "tricycle"], timeout=60)
    assert proc.returncode == 2 and "unknown robot 'tricycle'" in proc.stderr and "diffbot" in proc.stderr
    proc = run_rig(["--external-daemon", "--inject", "@1 sigkill for 0.5", "--domain-id", "150", "--out",
                    str(tmp_path / "o")], timeout=60)
    assert proc.returncode == 2 and "only works for a daemon the rig started" in proc.stderr
