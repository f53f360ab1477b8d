"""`edgepilot profile import`: the fixtures become the hand-written profiles, field by field; refusals and
malformed inputs name the field or term; the daemon's observation equals the deploy.yaml's formula."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest
import yaml

from edgepilot.cli import main
from edgepilot.daemon.config.profile import load_profile, parse_profile
from edgepilot.profile_import import ImportFailed, import_profile

FIX = Path(__file__).parent / "fixtures" / "import"
SDK = ["FR_hip_joint", "FR_thigh_joint", "FR_calf_joint", "FL_hip_joint", "FL_thigh_joint", "FL_calf_joint",
       "RR_hip_joint", "RR_thigh_joint", "RR_calf_joint", "RL_hip_joint", "RL_thigh_joint", "RL_calf_joint"]
POLICY = ["FL_hip_joint", "FR_hip_joint", "RL_hip_joint", "RR_hip_joint", "FL_thigh_joint", "FR_thigh_joint",
          "RL_thigh_joint", "RR_thigh_joint", "FL_calf_joint", "FR_calf_joint", "RL_calf_joint", "RR_calf_joint"]


def _deploy() -> dict:
    return yaml.safe_load((FIX / "go2_deploy.yaml").read_text())


def _import(tmp_path: Path, data: dict | None = None, name: str = "go2_deploy.yaml", **kw):  # type: ignore[no-untyped-def]
    src = FIX / name
    if data is not None:
        src = tmp_path / name
        src.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "policy.onnx").write_bytes(b"")
    return import_profile(src, tmp_path / "robot.yaml", **kw)


def test_isaaclab_deploy_maps_field_by_field(tmp_path: Path) -> None:
    profile, summary = _import(tmp_path)
    assert load_profile(tmp_path / "robot.yaml") == profile.model_copy(update={"base_dir": tmp_path.resolve()})
    assert profile.streams["joint_states"].joints == tuple(SDK)
    assert profile.action.joints == tuple(POLICY)
    assert profile.loop.rate_hz == 50.0
    assert profile.action.scale == 0.25
    assert profile.action.default_positions["RL_thigh_joint"] == 1.0
    assert profile.action.default_positions["FR_hip_joint"] == -0.1
    assert profile.action.stiffness["FL_calf_joint"] == 30.0 and profile.action.stiffness["RR_hip_joint"] == 25.0
    assert profile.action.damping["RL_calf_joint"] == 0.6
    kinds = [t.kind for t in profile.observation.terms]
    assert kinds == ["base_angular_velocity", "projected_gravity", "velocity_command", "joint_position_relative",
                     "joint_velocity_policy", "last_action"]
    gyro = profile.observation.terms[0]
    assert gyro.scale == (0.2, 0.2, 0.25) and gyro.history == 3 and gyro.history_order == "oldest_first"
    assert gyro.clip == ((-1.0, 1.0), (-1.0, 1.0), (-1.25, 1.25))  # Isaac Lab clips before scaling
    assert profile.observation.terms[2].limits == ((-1.0, 1.0), (-0.4, 0.4), (-1.0, 1.0))
    assert profile.observation.terms[4].scale == 0.05
    assert profile.legged.modes.start == "passive" and profile.legged.limits.max_tilt_rad == 0.8
    assert "commands.base_velocity.ranges.heading" in summary


def test_legged_gym_dump_maps_field_by_field(tmp_path: Path) -> None:
    profile, _ = _import(tmp_path, name="go2_legged_gym.yaml")
    assert profile.action.joints == profile.streams["joint_states"].joints
    assert profile.loop.rate_hz == pytest.approx(50.0)
    assert profile.action.clip == (-100.0, 100.0) and profile.action.stiffness == 20.0
    t = profile.observation.terms
    assert [x.kind for x in t][0] == "base_angular_velocity" and t[0].scale == 0.25 and t[0].clip == (-100.0, 100.0)
    assert t[2].scale == (2.0, 2.0, 0.25)
    assert profile.observation_size() == 45


def test_legged_gym_standard_order_refuses_base_lin_vel(tmp_path: Path) -> None:
    data = yaml.safe_load((FIX / "go2_legged_gym.yaml").read_text())
    del data["observation_terms"]
    with pytest.raises(ImportFailed, match="base_lin_vel: cannot be mapped: .*state estimator"):
        _import(tmp_path, data, name="lg.yaml")


@pytest.mark.parametrize("term", ["base_lin_vel", "height_scan", "some_new_term"])
def test_unmappable_terms_are_refused_by_name(tmp_path: Path, term: str) -> None:
    data = _deploy()
    data["observations"] = {term: {"params": {}, "clip": None, "scale": [1.0] * 3, "history_length": 1},
                            **data["observations"]}
    with pytest.raises(ImportFailed, match=f"observations.{term}"):
        _import(tmp_path, data)
    assert not (tmp_path / "robot.yaml").exists()


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.pop("step_dt"), "step_dt: missing"),
    (lambda d: d.__setitem__("default_joint_pos", [0.0] * 11), "default_joint_pos: has 11 values, expected 12"),
    (lambda d: d["actions"]["JointPositionAction"].__setitem__("scale", [0.25] * 5), "JointPositionAction.scale"),
    (lambda d: d.__setitem__("stiffness", [float("nan")] * 12), r"stiffness\[0\]: nan is not a finite number"),
    (lambda d: d.__setitem__("joint_ids_map", [0] * 12), "joint_ids_map: .* twice"),
    (lambda d: d["observations"]["base_ang_vel"].__setitem__("scale", [1.0, 2.0]), "base_ang_vel.scale: has 2"),
    (lambda d: d.pop("joint_sdk_names"), "--joint-names"),
])
def test_malformed_input_names_the_field(tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    data = _deploy()
    edit(data)
    with pytest.raises(ImportFailed, match=field):
        _import(tmp_path, data)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.yaml"
    assert main(["profile", "import", str(FIX / "go2_deploy.yaml"), "--output", str(out)]) == 0
    assert "mapped:" in capsys.readouterr().out and out.is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("joint_ids_map: [0]\n")
    assert main(["profile", "import", str(bad), "--output", str(tmp_path / "q.yaml")]) == 2
    assert "cannot import" in capsys.readouterr().err


# --------------------------------------------------------------------------- end to end: the observation

def _quat_xyzw(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    cr, sr, cp, sp, cy, sy = (math.cos(roll / 2), math.sin(roll / 2), math.cos(pitch / 2), math.sin(pitch / 2),
                              math.cos(yaw / 2), math.sin(yaw / 2))
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def test_observation_equals_the_deploy_yaml_formula(tmp_path: Path) -> None:
    from edgepilot.daemon.observation.builder import ObservationBuilder
    from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest

    profile, _ = _import(tmp_path)
    t = [1_000_000_000]
    ingests = {n: make_ingest(n, c, lambda: t[0], profile) for n, c in profile.streams.items()}
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    builder = ObservationBuilder(profile, snaps, None)
    rng = np.random.default_rng(3)
    q_sdk, dq_sdk = rng.normal(size=12), rng.normal(size=12) * 3
    gyro = np.array([9.0, -0.3, 0.7])  # x beyond Isaac Lab's clip of 5 rad/s
    quat = _quat_xyzw(0.1, -0.2, 0.3)
    v = lambda x, y, z: NS(x=x, y=y, z=z)  # noqa: E731
    ingests["joint_states"].on_message(NS(name=SDK, position=list(q_sdk), velocity=list(dq_sdk), effort=[]))
    ingests["imu"].on_message(NS(angular_velocity=v(*gyro), linear_acceleration=v(0, 0, 9.81),
                                 orientation=NS(x=quat[0], y=quat[1], z=quat[2], w=quat[3])))
    ingests["cmd_vel_in"].on_message(NS(linear=v(2.0, 0.1, 0.0), angular=v(0.0, 0.0, -0.5)))
    for s in snaps.values():
        s.refresh(t[0])
    obs = builder.build().astype(np.float64)

    # By hand, from deploy.yaml: policy joint i is SDK joint joint_ids_map[i].
    d = _deploy()
    ids = d["joint_ids_map"]
    q, dq = q_sdk[ids], dq_sdk[ids]
    x, y, z, w = quat
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    ang = np.clip(gyro, -5, 5) * np.array(d["observations"]["base_ang_vel"]["scale"])
    r = d["commands"]["base_velocity"]["ranges"]
    cmd = [np.clip(2.0, *r["lin_vel_x"]), np.clip(0.1, *r["lin_vel_y"]), np.clip(-0.5, *r["ang_vel_z"])]
    expected = np.concatenate([ang, ang, ang,  # history 3, filled with the first value
                               rot.T @ np.array([0, 0, -1.0]), cmd, q - np.array(d["default_joint_pos"]),
                               dq * 0.05, np.zeros(12)])
    assert obs.shape == expected.shape
    np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["env"].__setitem__("num_observations", 48), "env.num_observations: 48"),
    (lambda d: d["control"].__setitem__("stiffness", {"hip": 20.0}), "control.stiffness: no entry for joint 'FL_thigh"),
    (lambda d: d["init_state"]["default_joint_angles"].pop("RR_calf_joint"), "default_joint_angles: no entry .*RR_calf"),
    (lambda d: d["control"].__setitem__("control_type", "T"), "control.control_type"),
    (lambda d: d["normalization"]["obs_scales"].__setitem__("dof_vel", float("nan")), "obs_scales.dof_vel: nan"),
    (lambda d: d.pop("sim"), "sim: missing"),
    (lambda d: d.__setitem__("observation_terms", ["height_measurements"]), "height_measurements: cannot be mapped"),
])
def test_legged_gym_malformed_input_names_the_field(tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((FIX / "go2_legged_gym.yaml").read_text())
    edit(data)
    with pytest.raises(ImportFailed, match=field):
        _import(tmp_path, data, name="lg.yaml")


def test_cli_joint_names_option_gives_the_sdk_names(tmp_path: Path) -> None:
    data = _deploy()
    del data["joint_sdk_names"]  # as unitree_rl_lab writes it: indices only
    src = tmp_path / "deploy.yaml"
    src.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "p.yaml"
    assert main(["profile", "import", str(src), "--output", str(out), "--joint-names", ",".join(SDK)]) == 0
    profile = parse_profile(yaml.safe_load(out.read_text()))
    assert profile.action.joints == tuple(POLICY) and profile.streams["joint_states"].joints == tuple(SDK)
