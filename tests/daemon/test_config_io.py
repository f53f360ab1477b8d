"""Profile fields for ROS 2 I/O: transport kinds, stream QoS, image encodings, Twist inputs, TwistStamped output."""

from __future__ import annotations

import pytest
import yaml

from edgepilot.daemon.config import ProfileError, TransportConfig, default_profile_path, parse_profile
from edgepilot.daemon.transport.factory import rclpy_available, resolve_kind


def load(**edit: object) -> object:
    d = yaml.safe_load(default_profile_path().read_text())
    for path, value in edit.items():
        node = d
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return parse_profile(d, base_dir=default_profile_path().parent)


def test_default_transport_is_auto_and_resolves_to_dds_without_rclpy() -> None:
    assert TransportConfig().kind == "auto"
    assert resolve_kind(TransportConfig()) == ("ros2" if rclpy_available() else "dds")
    assert resolve_kind(TransportConfig(kind="dds")) == "dds"
    assert load().transport.kind == "dds"  # type: ignore[attr-defined]  # the embedded profile stays on DDS


def test_replay_kind_needs_a_bag() -> None:
    with pytest.raises(ProfileError, match="needs 'bag'"):
        load(transport={"kind": "replay"})
    assert load(transport={"kind": "replay", "bag": "x.mcap", "replay_rate": 2}).transport.replay_rate == 2  # type: ignore[attr-defined]
    with pytest.raises(ProfileError, match="node_name"):
        load(transport={"kind": "ros2", "node_name": "bad name"})


def test_stream_qos_and_image_encodings() -> None:
    p = load(streams__imu__qos="reliable")
    assert p.streams["imu"].qos == "reliable" and p.streams["joint_states"].qos is None  # type: ignore[attr-defined]
    with pytest.raises(ProfileError, match="qos"):
        load(streams__imu__qos="best_effort")
    for enc in ("rgb8", "bgr8", "rgba8", "mono8", "mono16", "16UC1", "32FC1"):
        assert load(streams__camera__encoding=enc).streams["camera"].encoding == enc  # type: ignore[attr-defined]
    with pytest.raises(ProfileError, match="encoding"):
        load(streams__camera__encoding="yuv422")
    with pytest.raises(ProfileError, match="cannot decode to '32FC1'"):
        load(streams__camera__type="sensor_msgs/msg/CompressedImage", streams__camera__encoding="32FC1")
    with pytest.raises(ProfileError, match="CompressedImage stream needs 'width'"):
        load(streams__camera__type="sensor_msgs/msg/CompressedImage", streams__camera__width=0)


def test_twist_input_term_must_name_a_twist_stream() -> None:
    d = yaml.safe_load(default_profile_path().read_text())
    d["observation"]["terms"].append({"kind": "twist_command", "stream": "imu", "fields": ["linear.x"]})
    with pytest.raises(ProfileError, match="must name a Twist or TwistStamped stream"):
        parse_profile(d, base_dir=default_profile_path().parent)
    d["streams"]["teleop"] = {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10, "max_age_s": 0.5,
                              "required": False}
    d["observation"]["terms"][-1]["stream"] = "teleop"
    with pytest.raises(ProfileError, match="required is false"):
        parse_profile(d, base_dir=default_profile_path().parent)


def test_twist_stamped_output() -> None:
    p = load(action__output="twist_stamped", action__frame_id="base_footprint")
    assert p.action.output == "twist_stamped" and p.action.frame_id == "base_footprint"  # type: ignore[attr-defined]
    with pytest.raises(ProfileError, match="output"):
        load(action__output="joint_state")  # joint-target policies: the output plumbing exists, the action mapping not yet
