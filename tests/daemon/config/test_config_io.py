"""Profile fields for ROS 2 I/O: transport kinds, where ingest runs, stream QoS, image encodings, Twist inputs,
TwistStamped output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config.profile import ProfileError, TransportConfig, default_profile_path, parse_profile
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


def test_ingest_mode_auto_resolves_from_the_transport_made(dds_domain: int, tmp_path: Path) -> None:
    """``ingest.mode: auto`` (the default): the ingest process on plain Cyclone DDS, the daemon's process otherwise."""
    from edgepilot.daemon.streams.ingest_process import resolve_ingest_mode
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.daemon.transport.bag.recorder import BagRecorder, RecordingTransport
    from edgepilot.daemon.transport.bag.replay import ReplayTransport

    from tests.daemon.transport.bag.synthetic_bags import session_messages, write_bag

    class RclpyStandIn:
        """rclpy needs a sourced ROS 2 install, which this machine cannot have; what matters is that it is not DDS."""

        ingest_child_can_subscribe = False  # as RclpyTransport declares (transport/base.py)
        recorder = None

    profile = load()
    assert profile.ingest.mode == "auto"  # type: ignore[attr-defined]
    dds = DdsTransport(dds_domain)
    recording = RecordingTransport(DdsTransport(dds_domain), BagRecorder(tmp_path / "rec.mcap"))
    replay = ReplayTransport(write_bag(tmp_path / "bag", session_messages(0.1)))
    try:
        assert resolve_ingest_mode(profile, dds) == "process"  # type: ignore[arg-type]
        # transport.kind auto resolved to dds (no rclpy), or to ros2 (rclpy sourced): decided by what was made.
        assert resolve_ingest_mode(load(transport={"kind": "auto"}), dds) == "process"  # type: ignore[arg-type]
        assert resolve_ingest_mode(load(transport={"kind": "auto"}), RclpyStandIn()) == "in_process"  # type: ignore[arg-type]
        assert resolve_ingest_mode(load(transport={"kind": "ros2"}), RclpyStandIn()) == "in_process"  # type: ignore[arg-type]
        # `edgepilot replay` runs a robot profile (kind dds) on the bag; a recording must see every message here.
        assert resolve_ingest_mode(profile, replay) == "in_process"  # type: ignore[arg-type]
        assert resolve_ingest_mode(profile, recording) == "in_process"  # type: ignore[arg-type]
        # Explicit choices are kept; an explicit process where it cannot run names the fix.
        assert resolve_ingest_mode(load(ingest={"mode": "in_process"}), dds) == "in_process"  # type: ignore[arg-type]
        explicit = load(ingest={"mode": "process"})
        assert resolve_ingest_mode(explicit, dds) == "process"  # type: ignore[arg-type]
        with pytest.raises(ProfileError, match="runs on ReplayTransport; use ingest.mode: auto"):
            resolve_ingest_mode(explicit, replay)  # type: ignore[arg-type]
        with pytest.raises(ProfileError, match=r"runs on a recording transport \(transport.record or --record\)"):
            resolve_ingest_mode(explicit, recording)  # type: ignore[arg-type]
    finally:
        dds.close()
        recording.close()
        replay.close()
    with pytest.raises(ProfileError, match="ingest.mode: Input should be 'auto', 'in_process' or 'process'"):
        load(ingest={"mode": "thread"})
