"""The compensation file: validation that names the field, profile checks, and what the loop applies."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from edgepilot.calibration.compensation import CompensationError, Compensator, load_compensation, parse_compensation
from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile
from edgepilot.daemon.observation.odometry import WheelOdometry
from tests.shipped_profile import shipped_profile_data

GOOD = {"profile": "diffbot",
        "observation": [{"field": "imu.angular_velocity.z", "bias": 0.05}],
        "action": [{"field": "angular.z", "bias": 0.1}, {"field": "linear.x", "bias": -0.02}],
        "odometry": {"wheel_radius_scale": 1.05},
        "latency_s": 0.02,
        "noise_std": {"imu.angular_velocity.z": 0.01}}


def _profile_with(tmp_path: Path, comp: dict | None, name: str = "comp.yaml") -> Path:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    if comp is not None:
        (tmp_path / name).write_text(yaml.safe_dump(comp))
        d["compensation"] = name
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_errors_name_the_field_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CompensationError, match=r"observation\.0\.bias: .*finite number"):
        parse_compensation({**GOOD, "observation": [{"field": "imu.angular_velocity.z", "bias": float("nan")}]})
    with pytest.raises(CompensationError, match=r"actoin: unknown field"):
        parse_compensation({**GOOD, "actoin": []})
    with pytest.raises(CompensationError, match=r"more than once"):
        parse_compensation({**GOOD, "action": [{"field": "angular.z", "bias": 0.1}] * 2})
    p = _profile_with(tmp_path, {**GOOD, "observation": [{"field": "imu.angular_velocity.q", "bias": 0.1}]})
    with pytest.raises(ProfileError, match=r"observation\[0\]\.field: 'imu.angular_velocity.q' is not a sensor field.*imu.angular_velocity.z"):
        load_profile(p)
    p = _profile_with(tmp_path, {**GOOD, "action": [{"field": "linear.y", "bias": 0.1}]})
    with pytest.raises(ProfileError, match=r"action\[0\]\.field: 'linear.y' is not driven"):
        load_profile(p)
    d = yaml.safe_load(p.read_text())
    d["compensation"] = "missing.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ProfileError, match=r"cannot read compensation file .*missing.yaml"):
        load_profile(p)


def test_compensator_applies_biases_radius_and_keeps_zero_a_zero(tmp_path: Path) -> None:
    profile = load_profile(_profile_with(tmp_path, GOOD))
    comp = load_compensation(tmp_path / "comp.yaml", profile)
    snaps = {"joint_states": SimpleNamespace(sample=np.zeros((2, 2))), "imu": SimpleNamespace(sample=np.zeros(10))}
    odo = WheelOdometry(0.05)
    c = Compensator(comp, profile, snaps, odo)
    snaps["imu"].sample[2] = 0.30
    c.apply_streams()
    assert snaps["imu"].sample[2] == pytest.approx(0.25)
    assert odo.wheel_radius_m == pytest.approx(0.0525)
    cmd = np.array([0.3, 0, 0, 0, 0, 1.0])
    out = c.apply_action(cmd)
    np.testing.assert_allclose(out, [0.32, 0, 0, 0, 0, 0.9])
    assert cmd[5] == 1.0  # the mapper's array is not modified
    np.testing.assert_allclose(c.apply_action(np.array([0.39, 0, 0, 0, 0, -1.45])), [0.4, 0, 0, 0, 0, -1.5])  # clipped
    zero = np.zeros(6)
    assert c.apply_action(zero) is zero and not zero.any()  # the watchdog's stop stays exactly zero
    assert Compensator(None, profile, snaps, odo).is_identity


def test_noise_injection_is_off_unless_enabled(tmp_path: Path) -> None:
    profile = load_profile(_profile_with(tmp_path, GOOD))
    snaps = {"joint_states": SimpleNamespace(sample=np.zeros((2, 2))), "imu": SimpleNamespace(sample=np.zeros(10))}
    off = Compensator(parse_compensation({**GOOD, "observation": []}), profile, snaps)
    vals = []
    for _ in range(100):
        snaps["imu"].sample[2] = 0.0
        off.apply_streams()
        vals.append(snaps["imu"].sample[2])
    assert set(vals) == {0.0}
    on = Compensator(parse_compensation({**GOOD, "observation": [], "noise_injection": {"enabled": True, "scale": 2.0}}),
                     profile, snaps)
    vals = []
    for _ in range(3000):
        snaps["imu"].sample[2] = 0.0
        on.apply_streams()
        vals.append(snaps["imu"].sample[2])
    assert np.std(vals) == pytest.approx(0.02, rel=0.1)
