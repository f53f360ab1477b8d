"""Robot profile validation: every bad field is named, with its value and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile, parse_profile


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load(default_profile_path().read_text())


def _error(data: dict) -> str:
    with pytest.raises(ProfileError) as exc:
        parse_profile(data, source="test.yaml")
    return str(exc.value)


def test_default_profile_loads() -> None:
    p = load_profile(default_profile_path())
    assert p.loop.rate_hz == 50
    assert p.observation_size() == 5
    assert p.model_path.is_file()
    assert set(p.streams) == {"joint_states", "imu", "camera"}


def _set(data: dict, path: str, value: object) -> dict:
    d = copy.deepcopy(data)
    node = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    "path, value, expect",
    [
        ("loop.rate_hz", 0, ["loop.rate_hz", "greater than 0", "got 0"]),
        ("loop.rate_hz", "fast", ["loop.rate_hz", "'fast'"]),
        ("streams.imu.topic", "imu/data", ["streams.imu.topic", "absolute ROS 2 name"]),
        ("streams.imu.max_age_s", 0.001, ["streams.imu", "shorter than one period", "0.0100"]),
        ("streams.imu.type", "sensor_msgs/msg/Imu2", ["streams.imu.type", "sensor_msgs/msg/Imu"]),
        ("streams.joint_states.joints", [], ["joint names"]),
        ("streams.camera.width", 0, ["Image stream needs 'width'"]),
        ("observation.terms.0.joints", ["left_wheel_joint", "front_wheel"], ["observation.terms[0].joints", "front_wheel"]),
        ("observation.terms.1.stream", "joint_states", ["observation.terms[1].stream", "Imu stream"]),
        ("observation.terms.0.clip", [3.0, -3.0], ["clip", "low < high"]),
        ("observation.terms.0.kind", "joint_torque", ["observation.terms.0", "joint_torque"]),
        ("watchdog.stall_timeout_s", 0.01, ["watchdog.stall_timeout_s", "longer than one loop period"]),
        ("action.channels.0.field", "linear.w", ["action.channels.0.field", "linear.x"]),
        ("action.channels.0.limit", -1, ["action.channels.0.limit", "greater than 0"]),
        ("odometry.left_joint", "wheel_l", ["odometry joint 'wheel_l'"]),
        ("streams.imu.required", False, ["streams.imu.required", "set required: true"]),
        ("transport.domain_id", 300, ["transport.domain_id", "less than or equal to 232"]),
        ("loop.sync.stream", "lidar", ["loop.sync.stream='lidar'", "is not a stream"]),
        ("loop.sync.stream", "camera", ["loop.sync.stream='camera'", "15 Hz", "not a whole multiple", "loop.rate_hz=50"]),
        ("loop.rate_hz", 60, ["loop.sync.stream='joint_states'", "200 Hz", "loop.rate_hz=60"]),
        ("loop.sync", {"stream": "joint_states", "offset_s": 0.003}, ["loop.sync.offset_s=0.003", "half the period"]),
        ("realtime.ingest_priority", 30, ["realtime.ingest_priority=30", "below realtime.loop_priority=20", "use 10"]),
        ("realtime.loop_priority", 99, ["realtime.loop_priority", "less than or equal to 97"]),
        ("realtime.ingest_cpus", [0, 1], ["realtime.loop_cpus [1]", "realtime.ingest_cpus [0, 1]", "share CPU [1]",
                                           "disjoint"]),
        ("realtime.loop_cpus", [2, 2], ["realtime.loop_cpus", "CPU listed twice in [2, 2]"]),
        ("realtime.loop_cpus", [], ["realtime.loop_cpus", "at least 1 item"]),
    ],
)
def test_bad_field_is_named(base: dict, path: str, value: object, expect: list[str]) -> None:
    msg = _error(_set(base, path, value))
    assert msg.startswith("invalid robot profile test.yaml:")
    for fragment in expect:
        assert fragment in msg, f"{fragment!r} not in:\n{msg}"


def test_unknown_key_is_a_typo_error(base: dict) -> None:
    d = copy.deepcopy(base)
    d["streams"]["imu"]["max_age"] = 0.05
    msg = _error(d)
    assert "streams.imu.max_age" in msg and "unknown field" in msg


def test_missing_section(base: dict) -> None:
    d = copy.deepcopy(base)
    del d["watchdog"]
    assert "watchdog: Field required" in _error(d)


def test_top_level_not_mapping() -> None:
    with pytest.raises(ProfileError, match="top level must be a mapping"):
        parse_profile([1, 2], source="x.yaml")


def test_load_reports_yaml_syntax_and_missing_model(tmp_path: Path, base: dict) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("loop: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.yaml")
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(_set(base, "engine.model", "nope.onnx")))
    with pytest.raises(ProfileError, match=r"engine.model: file not found: .*nope.onnx"):
        load_profile(p)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_mutation_is_accepted_or_named(base: dict, data: st.DataObject) -> None:
    """Property: whatever single field is replaced by whatever value, loading either succeeds or raises ProfileError."""
    d = copy.deepcopy(base)
    node: object = d
    path: list[str] = []
    while isinstance(node, (dict, list)) and node:
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        k = data.draw(st.sampled_from(keys))
        path.append(str(k))
        if data.draw(st.booleans()) or not isinstance(node[k], (dict, list)):  # type: ignore[index]
            node[k] = data.draw(scalars)  # type: ignore[index]
            break
        node = node[k]  # type: ignore[index]
    try:
        parse_profile(d, source="fuzz.yaml")
    except ProfileError as err:
        assert str(err).startswith("invalid robot profile fuzz.yaml:")


def test_error_locations_name_what_the_user_wrote_never_a_union_tag() -> None:
    """pydantic puts a discriminated union's tag into an error's location (terms.0.joint_velocity.scale,
    residuals.model.ideal_diff_drive.latency_s); the message names the field as written in the file."""
    import copy

    import yaml

    from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile

    base = yaml.safe_load(default_profile_path().read_text())
    cases = []
    d = copy.deepcopy(base)
    d["observation"]["terms"][0]["scale"] = "x"
    cases.append((d, "  observation.terms.0.scale: Input should be a valid number"))
    d = copy.deepcopy(base)
    d["residuals"] = {"directory": "logs", "model": {"kind": "ideal_diff_drive", "latency_s": "q"}}
    cases.append((d, "  residuals.model.latency_s: Input should be a valid number"))
    d = copy.deepcopy(base)
    d["action"]["output"] = "twisty"
    cases.append((d, "  action.output: Input should be 'twist', 'twist_stamped', 'joint_positions' or 'joint_torques'"))
    d = copy.deepcopy(base)
    d["action"]["channels"][0]["limit"] = "fast"
    cases.append((d, "  action.channels.0.limit: Input should be a valid number"))
    for data, expected in cases:
        with pytest.raises(ProfileError) as err:
            parse_profile(data, base_dir=default_profile_path().parent)
        assert expected in str(err.value), str(err.value)
