"""joint_position / joint_velocity: mapped by joint name, whatever order the robot publishes in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError
from tests.daemon.observation.terms.rigs import imu_msg, joint_msg, refresh, twist_pipeline, twist_profile
from tests.shipped_profile import shipped_profile_data

JOINTS = ["hip", "knee", "ankle", "wheel"]
STREAM_JOINTS = list(JOINTS) + ["left_wheel_joint", "right_wheel_joint"]


def profile_with_joints(policy_order: list[str]) -> object:
    return twist_profile([
        {"kind": "joint_position", "stream": "joint_states", "joints": policy_order},
        {"kind": "joint_velocity", "stream": "joint_states", "joints": policy_order, "scale": 2.0, "offset": 1.0},
        {"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z", "x"], "clip": [-1.0, 1.0]},
    ], joints=STREAM_JOINTS)


@settings(max_examples=150, deadline=None)
@given(
    policy=st.permutations(JOINTS),
    published=st.permutations(JOINTS + ["left_wheel_joint", "right_wheel_joint", "gripper"]),
    values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=14, max_size=14),
)
def test_joints_mapped_by_name_in_any_order(policy: list[str], published: list[str], values: list[float]) -> None:
    profile = profile_with_joints(policy)
    ingests, snaps, builder = twist_pipeline(profile)
    pos = {n: values[i] for i, n in enumerate(published)}
    vel = {n: values[i + 7] for i, n in enumerate(published)}
    ingests["joint_states"].on_message(joint_msg(published, pos, vel))
    ingests["imu"].on_message(imu_msg(0.5, 0.0, -3.0))
    refresh(snaps)
    obs = builder.build()
    expected = [pos[j] for j in policy] + [(vel[j] + 1.0) * 2.0 for j in policy] + [-1.0, 0.5]
    np.testing.assert_allclose(obs, np.array(expected, dtype=np.float32), rtol=1e-6)
    assert ingests["joint_states"].dropped == 0


def test_size_streams_and_fields() -> None:
    p = profile_with_joints(JOINTS)
    ctx = p.term_context()
    pos, vel = p.observation.terms[:2]
    assert (pos.size(ctx), vel.size(ctx)) == (4, 4)
    assert pos.streams(ctx) == pos.latency_streams(ctx) == ("joint_states",)
    assert pos.fields_read(ctx) == (("joint_states", "position"),)
    assert vel.fields_read(ctx) == (("joint_states", "velocity"),)


@pytest.mark.parametrize("change, fragment", [
    ({"stream": "imu"}, "observation.terms[0].stream='imu' must name a JointState stream; streams: ['camera', 'imu', "
                        "'joint_states']"),
    ({"joints": ["hip", "zz"]}, "observation.terms[0].joints ['zz'] are not in streams.joint_states.joints"),
    ({"joints": []}, "observation.terms.0.joints: Tuple should have at least 1 item"),
    ({"kind": "joint_effort"}, "does not match any of the expected tags: 'joint_position', 'joint_velocity'"),
])
def test_reference_errors_name_the_field(change: dict, fragment: str) -> None:
    with pytest.raises(ProfileError) as e:
        twist_profile([{"kind": "joint_position", "stream": "joint_states", "joints": ["hip"], **change}],
                      joints=STREAM_JOINTS)
    assert fragment in str(e.value)


def test_stream_must_be_required() -> None:
    from edgepilot.daemon.config.profile import default_profile_path, parse_profile

    d = shipped_profile_data()
    d["odometry"] = None
    d["observation"]["terms"] = [{"kind": "joint_velocity", "stream": "joint_states", "joints": ["left_wheel_joint"]}]
    d["streams"]["joint_states"]["required"] = False
    with pytest.raises(ProfileError, match="streams.joint_states.required is false but the observation reads it; a "
                                           "policy must not run on data that may be missing: set required: true"):
        parse_profile(d, base_dir=default_profile_path().parent)
