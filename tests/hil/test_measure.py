"""Verdicts from recorded runs: detection, commands while faulted, recovery, the report and its timeline.

Synthetic command logs (what the robot would have received at 50 Hz), so
each rule can be shown to fail when it should; the real daemon is measured
in test_fault_matrix.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.hil.measure import FaultWindow, RunRecord, evaluate, expects_stop, stop_bound_s
from edgepilot.hil.report import build_report, fault_matrix, markdown, write_report
from edgepilot.hil.rig import RigOptions, prepare_profile
from edgepilot.hil.scenario import parse_scenario
from edgepilot.hil.timeline_plot import plot_timeline

P = 0.02
OVERRIDES = {"streams": {"imu": {"max_identical_s": 0.05, "max_stamp_skew_s": 0.1, "reject_out_of_order": True}}}


def scenario(faults: list[dict], **expect: object) -> object:
    return parse_scenario({"name": "synthetic", "duration_s": 4.0, "faults": faults, "sensor_model": "ideal",
                           "profile_overrides": OVERRIDES, "expect": expect})


def commands(zero_spans: list[tuple[float, float]], until: float = 4.0) -> list[tuple[float, float, float]]:
    out = []
    for t in np.arange(-0.3, until, P):
        zero = t < 0 or any(a <= t < b for a, b in zero_spans)
        out.append((float(t), 0.0 if zero else 0.4, 0.0 if zero else 0.3))
    return out


def record(sc, cmds, windows, events=(), tmp: Path = Path("/tmp"), **kw) -> RunRecord:  # type: ignore[no-untyped-def]
    _, profile = prepare_profile(sc, RigOptions(domain_id=0, out_dir=tmp), tmp / "profile.yaml")
    args = dict(summary={"streams": {"imu": {"duplicates": 30}}}, daemon_rc=0, killed=False,
                robot={"goal_reached": False}, injected={"imu.duplicates": 40})
    args.update(kw)
    return RunRecord(sc, profile, 4.0, cmds, [FaultWindow(i, sc.faults[i], a, b) for i, a, b in windows],
                     list(events), **args)


def test_bounds_follow_the_profile(tmp_path: Path) -> None:
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "stop", "stream": "imu"},
                   {"at_s": 2, "duration_s": 0.4, "kind": "freeze", "stream": "imu"},
                   {"at_s": 3, "duration_s": 0.4, "kind": "nan", "stream": "imu"}])
    _, profile = prepare_profile(sc, RigOptions(domain_id=0, out_dir=tmp_path), tmp_path / "p.yaml")
    model = sc.resolved_sensor_model()
    assert stop_bound_s(sc.faults[0], profile, model) == pytest.approx(0.05 + 2 * P)       # max_age + 2P
    assert stop_bound_s(sc.faults[1], profile, model) == pytest.approx(0.05 + 2 * P)       # max_identical + 2P
    assert stop_bound_s(sc.faults[2], profile, model) == pytest.approx(2 * P + 0.005)      # 2P + one IMU period
    dup = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "duplicate", "stream": "imu"},
                    {"at_s": 2, "duration_s": 0.4, "kind": "delay_spike", "stream": "imu", "delay_s": 0.02},
                    {"at_s": 3, "duration_s": 0.4, "kind": "delay_spike", "stream": "imu", "delay_s": 0.2}])
    assert [expects_stop(f, profile) for f in dup.faults] == [False, False, True]


def test_a_stop_caught_in_time_passes(tmp_path: Path) -> None:
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "stop", "stream": "imu"}], counters={
        "imu.duplicates": {"min_fraction_of_injected": 0.5}})
    rec = record(sc, commands([(1.06, 1.62)]), [(0, 1.0, 1.4)], [(1.05, "raised", "stale:imu")], tmp_path)
    res = evaluate(rec)
    assert res.passed, res.failures()
    f = res.faults[0]
    assert f.detect_ms == pytest.approx(60, abs=P * 1e3) and f.nonzero_after_detection == 0
    assert f.recovery_ms == pytest.approx(220, abs=P * 1e3)


@pytest.mark.parametrize("zero_spans, events, failed", [
    ([(1.12, 1.62)], [(1.1, "raised", "stale:imu")], "stop_within"),          # too late
    ([(1.06, 1.2), (1.3, 1.62)], [(1.05, "raised", "stale:imu")], "no_nonzero_after_detection"),
    ([(1.06, 1.62)], [], "daemon_fault stale:imu"),                           # stopped, for no reported reason
    ([(1.06, 1.45)], [(1.05, "raised", "stale:imu")], "recovery_hold"),       # resumed without the watchdog's hold
    ([(1.06, 3.9)], [(1.05, "raised", "stale:imu")], "resume_within"),        # never came back in time
    ([], [], "stopped"),
    ([(0.6, 0.64), (1.06, 1.62)], [(1.05, "raised", "stale:imu")], "no_false_stop"),
    ([(1.06, 1.62)], [(1.05, "raised", "stale:imu"), (3.0, "raised", "loop_stall")], "no_unexpected_faults"),
])
def test_each_rule_fails_when_it_should(tmp_path: Path, zero_spans, events, failed: str) -> None:  # type: ignore[no-untyped-def]
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "stop", "stream": "imu"}])
    res = evaluate(record(sc, commands(zero_spans), [(0, 1.0, 1.4)], events, tmp_path))
    assert not res.passed
    assert any(failed in line for line in res.failures()), res.failures()


def test_count_and_drop_faults_must_not_stop(tmp_path: Path) -> None:
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "duplicate", "stream": "imu"}],
                  counters={"imu.duplicates": {"min_fraction_of_injected": 0.9}})
    res = evaluate(record(sc, commands([]), [(0, 1.0, 1.4)], tmp=tmp_path))
    assert res.faults[0].passed and not res.faults[0].expect_stop
    assert [c.name for c in res.checks if not c.passed] == ["counter imu.duplicates"]  # 30 of 40 injected < 0.9
    res = evaluate(record(sc, commands([(1.2, 1.5)]), [(0, 1.0, 1.4)], [(1.19, "raised", "rate:imu")], tmp_path))
    names = {c.name for c in res.faults[0].checks if not c.passed}
    assert names == {"no_stop", "no_daemon_fault"}


def test_not_driving_at_the_start_is_reported_alone(tmp_path: Path) -> None:
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "stop", "stream": "imu"}], no_false_stop=False,
                  no_unexpected_faults=False)
    res = evaluate(record(sc, commands([(0.8, 1.7)]), [(0, 1.0, 1.4)], tmp=tmp_path))
    assert [c.name for c in res.faults[0].checks] == ["driving_at_start"] and not res.passed


def test_report_matrix_markdown_and_timeline(tmp_path: Path) -> None:
    sc = scenario([{"at_s": 1, "duration_s": 0.4, "kind": "stop", "stream": "imu"},
                   {"at_s": 2.5, "duration_s": 0.4, "kind": "duplicate", "stream": "imu"}], goal_reached=False)
    rec = record(sc, commands([(1.06, 1.62)]), [(0, 1.0, 1.4), (1, 2.5, 2.9)], [(1.05, "raised", "stale:imu")], tmp_path)
    res = evaluate(rec)
    assert res.passed, res.failures()
    report = build_report([res], {"domain_id": 7})
    m = fault_matrix([res])
    assert m["stop"]["detect_ms_max"] == res.faults[0].detect_ms and m["stop"]["nonzero_after_detection"] == 0
    assert m["duplicate"]["stops_robot"] is False and m["sigkill"] == {"runs": 0, "covered": False}
    text = markdown(report)
    assert "| stop | 1 | stop |" in text and "| sigkill | 0 |" in text and "not covered" in text
    assert "![timeline](synthetic.png)" in text
    j, md = write_report(report, tmp_path / "out")
    assert j.is_file() and md.read_text() == text
    png = plot_timeline(rec, res, {"t": [0.0, 1.0], "x": [0.0, 0.1], "y": [0.0, 0.0], "distance": [2.0, 1.9]},
                        tmp_path / "synthetic.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1200 and height >= 600


def test_a_stop_inside_a_host_pause_is_the_hosts_not_a_false_stop(tmp_path: Path) -> None:
    """The host held a CPU 45 ms at t=2.0 (hil/host_pause.py saw it, steal time): the daemon's stall stop and its
    recovery hold are excused, said so in a check; the same stop with no pause recorded is a false stop."""
    sc = scenario([], no_false_stop=True, no_unexpected_faults=True)
    recovery = 0.02 * 12  # recovery_ticks (10) + 2 periods after the pause ends
    cmds = commands([(2.04, 2.045 + 0.2)])
    events = [(2.046, "raised", "supervisor:stall"), (2.046, "raised", "loop_stall")]
    paused = evaluate(record(sc, cmds, [], events, tmp_path, host_pauses=[(2.0, 2.045)]))
    assert paused.passed, paused.failures()
    note = [c for c in paused.checks if c.name == "host_pauses"]
    assert note and note[0].passed and "1 pause(s) by the host" in note[0].detail and "longest 45 ms" in note[0].detail
    plain = evaluate(record(sc, cmds, [], events, tmp_path))
    assert {c.name for c in plain.checks if not c.passed} == {"no_false_stop", "no_unexpected_faults"}
    # A stop that outlasts the pause and the hold it excuses is still false.
    late = evaluate(record(sc, commands([(2.04, 2.045 + recovery + 0.1)]), [], events, tmp_path,
                           host_pauses=[(2.0, 2.045)]))
    assert [c.name for c in late.checks if not c.passed] == ["no_false_stop"]


def test_a_stop_inside_a_gap_of_the_rigs_own_publishing_is_the_rigs(tmp_path: Path) -> None:
    """The simulated robot published nothing for 80 ms at t=2.0 (a busy machine descheduled it): the daemon's
    stale stop and its recovery hold are the rig's, said so in a check; the same stop without the gap is false."""
    sc = scenario([], no_false_stop=True, no_unexpected_faults=True)
    cmds = commands([(2.05, 2.08 + 0.2)])
    events = [(2.05, "raised", "stale:imu"), (2.081, "raised", "stamp:imu")]
    gapped = evaluate(record(sc, cmds, [], events, tmp_path, rig_gaps=[(2.0, 2.08)]))
    assert gapped.passed, gapped.failures()
    note = [c for c in gapped.checks if c.name == "rig_gaps"]
    assert note and note[0].passed and "longest 80 ms" in note[0].detail
    plain = evaluate(record(sc, cmds, [], events, tmp_path))
    assert {c.name for c in plain.checks if not c.passed} == {"no_false_stop", "no_unexpected_faults"}
    late = evaluate(record(sc, commands([(2.05, 2.08 + 0.24 + 0.1)]), [], events, tmp_path, rig_gaps=[(2.0, 2.08)]))
    assert [c.name for c in late.checks if not c.passed] == ["no_false_stop"]
