"""Scenario files and fault commands: validated once, errors name the field and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.hil.faults import SENSOR_FAULT_KINDS
from edgepilot.hil.rig import RigOptions, parse_fault_command, prepare_profile, with_injections
from edgepilot.hil.scenario import (
    FAULT_CLASSES,
    ScenarioError,
    load_scenario,
    load_scenarios,
    parse_scenario,
    shipped_scenarios_dir,
)

BASE = {"name": "t", "duration_s": 5.0, "faults": [{"at_s": 1.0, "duration_s": 0.5, "kind": "stop", "stream": "imu"}]}


def error_of(data: dict) -> str:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(data, source="t.yaml")
    return str(exc.value)


def test_shipped_scenarios_validate_and_cover_every_fault_class() -> None:
    scenarios = load_scenarios(shipped_scenarios_dir())
    assert {s.name for s in scenarios} >= {"sensor_streams", "message_integrity", "daemon_process", "nominal_goal"}
    covered = {f.kind for s in scenarios for f in s.faults}
    assert covered == set(FAULT_CLASSES), set(FAULT_CLASSES) - covered
    nominal = next(s for s in scenarios if s.name == "nominal_goal")
    assert nominal.duration_s == 60 and nominal.expect.goal_reached and not nominal.faults


def test_shipped_profile_overrides_produce_valid_profiles(tmp_path: Path) -> None:
    for sc in load_scenarios(shipped_scenarios_dir()):
        path, profile = prepare_profile(sc, RigOptions(domain_id=0, out_dir=tmp_path), tmp_path / f"{sc.name}.yaml")
        assert path.is_file() and Path(profile.engine.model).is_absolute()
        if sc.profile_overrides:
            assert profile.streams["imu"].max_identical_s == 0.05
            assert profile.streams["joint_states"].reject_out_of_order


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d["faults"][0].update(kind="explode"), ["faults.0", "unknown fault kind", "stop"]),
    (lambda d: d["faults"][0].update(stream="lidar"), ["faults.0.stop.stream", "'lidar'"]),
    (lambda d: d["faults"][0].update(duration_s=10.0), ["ends at 11 s, after duration_s=5"]),
    (lambda d: d["faults"].append({"at_s": 1.2, "duration_s": 0.2, "kind": "freeze", "stream": "imu"}),
     ["faults[1]", "before faults[0]", "must not overlap"]),
    (lambda d: d["faults"].insert(0, {"at_s": 0.1, "duration_s": 0.1, "kind": "sigkill"}), ["comes after a sigkill"]),
    (lambda d: d["faults"][0].update(kind="nan", stream="camera"), ["uint8 pixels", "cannot be NaN"]),
    (lambda d: d["faults"][0].update(kind="malformed", mode="garbled"), ["mode='garbled'", "absent_gyro"]),
    (lambda d: d["faults"][0].update(kind="rate_burst", factor=1), ["factor", "greater than or equal to 2"]),
    (lambda d: d["faults"][0].update(kind="clock_jump", offset_s=0.0, stream=None), ["unknown field"]),
    (lambda d: d["faults"][0].update(expect={"stop_in_ms": 5}), ["faults.0.stop.expect.stop_in_ms", "unknown field"]),
    (lambda d: d.update(expect={"counters": {"duplicates": {"min": 1}}}), ["<stream>.<counter>"]),
    (lambda d: d.update(name="my scenario"), ["name", "pattern"]),
])
def test_errors_name_the_field(mutate, expect: list[str]) -> None:  # type: ignore[no-untyped-def]
    d = copy.deepcopy(BASE)
    mutate(d)
    msg = error_of(d)
    for part in expect:
        assert part in msg, (part, msg)


def test_load_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ScenarioError, match="no scenarios"):
        load_scenarios(empty)
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenarios(tmp_path / "missing")
    a, b = tmp_path / "x" / "a.yaml", tmp_path / "x" / "b.yaml"
    a.parent.mkdir()
    for p in (a, b):
        p.write_text(yaml.safe_dump(BASE))
    with pytest.raises(ScenarioError, match="unique"):
        load_scenarios(a.parent)


def test_fault_commands() -> None:
    f = parse_fault_command("@3 stop imu for 1.5")
    assert (f.kind, f.target, f.at_s, f.duration_s) == ("stop", "imu", 3.0, 1.5)
    f = parse_fault_command("@5 rate_burst imu factor=10 for 0.4")
    assert f.params() == {"factor": 10} and f.title() == "rate_burst imu factor=10"
    f = parse_fault_command("sigstop for 0.3", at_s=2.0)
    assert (f.kind, f.at_s, f.target) == ("sigstop", 2.0, None)
    f = parse_fault_command("malformed camera mode=bad_image_size every=4")
    assert f.params() == {"mode": "bad_image_size", "every": 4} and f.duration_s == 1.0
    for text, part in [("@1 stop", "stream"), ("@x stop imu", "at_s"), ("stop imu for", "needs a duration"),
                       ("stop imu camera", "unexpected 'camera'"), ("", "no fault kind"),
                       ("out_of_range imu field=quaternion", "field='quaternion'")]:
        with pytest.raises(ScenarioError) as exc:
            parse_fault_command(text)
        assert part in str(exc.value), (text, str(exc.value))


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["stop", "freeze", "nan", "inf", "duplicate", "reorder"]),
       stream=st.sampled_from(["joint_states", "imu"]), at=st.floats(0, 100, allow_nan=False),
       dur=st.floats(0.01, 100, allow_nan=False))
def test_fault_command_round_trip(kind: str, stream: str, at: float, dur: float) -> None:
    f = parse_fault_command(f"@{at!r} {kind} {stream} for {dur!r}")
    assert (f.kind, f.target, f.at_s, f.duration_s) == (kind, stream, at, dur)


def test_injections_join_the_timeline_and_are_checked_with_it() -> None:
    sc = parse_scenario(BASE)
    sc2 = with_injections(sc, ["@3 duplicate imu for 0.5"])
    assert [f.kind for f in sc2.faults] == ["stop", "duplicate"]
    with pytest.raises(ScenarioError, match="must not overlap"):
        with_injections(sc, ["@1.2 freeze imu for 0.2"])


def test_shortened_refuses_to_cut_faults() -> None:
    sc = parse_scenario(BASE)
    assert sc.shortened(10).duration_s == 5 and sc.shortened(2).duration_s == 2
    with pytest.raises(ScenarioError, match="end later"):
        sc.shortened(1.2)


def test_every_sensor_kind_is_a_fault_class() -> None:
    assert set(SENSOR_FAULT_KINDS) <= set(FAULT_CLASSES)
