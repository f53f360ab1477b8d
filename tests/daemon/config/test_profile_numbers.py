"""Numbers a profile gives must be finite and physically bounded (issue 21, item 5): each case below was accepted
before and drove the robot (limit .inf -> linear.x ~ 1e6 m/s) or ran forever on NaN."""

from __future__ import annotations

import copy

import pytest
import yaml

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile

BASE = yaml.safe_load(default_profile_path().read_text())


def _with(path: str, value: object) -> dict:
    d = copy.deepcopy(BASE)
    *head, last = path.split(".")
    node = d
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


def test_the_shipped_profile_still_loads() -> None:
    parse_profile(copy.deepcopy(BASE), base_dir=default_profile_path().parent)


@pytest.mark.parametrize("path, value", [
    ("action.channels.0.limit", float("inf")),
    ("action.channels.0.limit", 1e9),
    ("action.channels.0.scale", float("nan")),
    ("action.channels.0.scale", 1e300),
    ("observation.terms.2.goal_xy", [float("nan"), 1.0]),
    ("observation.terms.0.scale", float("-inf")),
    ("observation.terms.0.clip", [-float("inf"), 3.0]),
    ("streams.camera.width", 10**9),
    ("streams.camera.height", 10**9),
    ("odometry.wheel_radius_m", float("nan")),
    ("loop.rate_hz", float("inf")),
])
def test_a_non_finite_or_unbounded_number_is_a_field_error(path: str, value: object) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(_with(path, value), base_dir=default_profile_path().parent)
    # The message names the field the user must fix (the first two parts of the dotted path at least).
    assert ".".join(path.split(".")[:2]) in str(err.value)


@pytest.mark.parametrize("topic", ["/imu\x00data", "/imu/dätä", "/imu data", "/imu/", "imu", "/1imu", "/a__b"])
def test_a_topic_breaking_ros2_naming_rules_is_a_field_error(topic: str) -> None:
    with pytest.raises(ProfileError, match=r"streams\.imu\.topic: .*not an absolute ROS 2 name"):
        parse_profile(_with("streams.imu.topic", topic), base_dir=default_profile_path().parent)


@pytest.mark.parametrize("topic", ["/cmd_vel", "/diagnostics"])
def test_a_stream_on_a_topic_the_daemon_publishes_is_refused(topic: str) -> None:
    # Same-process listener on a written topic deadlocks Cyclone (issue 21), and it would read its own output.
    with pytest.raises(ProfileError, match=r"streams\.imu\.topic=.*the daemon publishes"):
        parse_profile(_with("streams.imu.topic", topic), base_dir=default_profile_path().parent)
