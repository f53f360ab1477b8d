"""The ROS 2 parameters of the lifecycle node map onto the profile and are validated like the YAML."""

from __future__ import annotations

import pytest

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile
from edgepilot.daemon.config.tunable_parameters import apply_parameters, tunable_parameters

PROFILE = load_profile(default_profile_path())


def test_names_and_current_values() -> None:
    p = tunable_parameters(PROFILE)
    assert p["loop.rate_hz"] == 50.0 and p["watchdog.recovery_ticks"] == 10
    assert p["streams.imu.max_age_s"] == 0.05 and p["streams.camera.rate_hz"] == 15.0
    assert p["action.linear_x.limit"] == 0.4 and p["action.angular_z.scale"] == 1.5
    assert (p["goal.x_m"], p["goal.y_m"]) == (2.0, 1.0)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p.values())


def test_applying_every_parameter_unchanged_is_the_same_profile() -> None:
    assert apply_parameters(PROFILE, tunable_parameters(PROFILE)) == PROFILE


def test_changes_land_in_the_right_fields() -> None:
    q = apply_parameters(PROFILE, {"action.angular_z.limit": 0.5, "goal.y_m": -2.0, "streams.imu.max_age_s": 0.1,
                                   "watchdog.recovery_ticks": 3, "loop.rate_hz": 25.0, "watchdog.stall_timeout_s": 0.08})
    assert [c.limit for c in q.action.channels] == [0.4, 0.5]
    assert q.observation.terms[2].goal_xy == (2.0, -2.0)  # type: ignore[union-attr]
    assert q.streams["imu"].max_age_s == 0.1 and q.watchdog.recovery_ticks == 3 and q.loop.rate_hz == 25.0
    assert q.model_path == PROFILE.model_path and q.model_path.is_file()


def test_bad_values_fail_like_the_yaml_would() -> None:
    with pytest.raises(ProfileError, match="max_age_s=0.001 is shorter than one period"):
        apply_parameters(PROFILE, {"streams.imu.max_age_s": 0.001})
    with pytest.raises(ProfileError, match="stall_timeout_s"):
        apply_parameters(PROFILE, {"loop.rate_hz": 10.0})  # 0.03 s stall timeout < one 0.1 s period
    with pytest.raises(KeyError, match="not tunable"):
        apply_parameters(PROFILE, {"engine.model": "other.onnx"})
