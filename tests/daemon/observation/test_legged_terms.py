"""Joint-policy action maths (targets, PD torques, safe actions) and the joint-policy observation's layout and
allocation, against values worked out by hand. Each term's own maths: tests/daemon/observation/terms/."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from edgepilot.daemon.config.profile import ProfileError, parse_profile
from edgepilot.daemon.action.pd_controller import PdController
from tests.daemon.observation.terms.rigs import LeggedRig, legged_profile_data

# The rig and the per-term maths: tests/daemon/observation/terms/ (rigs.py, test_<term>.py).
Rig = LeggedRig
profile_data = legged_profile_data


def test_profile_size_and_layout() -> None:
    r = Rig()
    # 3 gyro + 3 gravity + 2 command + 2x3 joint history + 2 velocities + 2 last action + 2 phase
    assert r.profile.observation_size() == 20


def test_safe_actions_positions() -> None:
    r = Rig(safe_action="hold")
    r.joints({"a": 0.4, "b": -0.9}, {"a": 0.0, "b": 0.0})
    r.build()
    np.testing.assert_allclose(r.stage.compute_safe(), [0.3, -0.7])  # nothing published yet: the default pose
    r.stage.publish(r.stage.map(np.array([0.2, 0.0], np.float32)))
    np.testing.assert_allclose(r.stage.compute_safe(), [0.4, -0.7])  # the last healthy targets
    d = Rig(safe_action="damping")
    d.joints({"a": 0.4, "b": -0.9}, {"a": 0.0, "b": 0.0})
    d.build()
    np.testing.assert_allclose(d.stage.compute_safe(), [0.4, -0.9])  # target = measured: the PD only damps


def test_pd_torques_decimation_and_safe() -> None:
    r = Rig(output="joint_torques", stiffness={"a": 10.0, "b": 20.0}, damping=0.5, torque_limits=3.0,
            decimation=4, safe_damping=2.0, position_limits={})
    r.joints({"a": 0.3, "b": -0.7}, {"a": 1.0, "b": -1.0})
    r.build()
    assert r.stage.skip_policy() is False  # no targets yet: the policy runs
    tau = r.stage.map(np.array([0.2, -0.2], np.float32))  # targets a 0.4, b -0.8
    # a: 10*(0.4-0.3) - 0.5*1 = 0.5; b: 20*(-0.8+0.7) - 0.5*(-1) = -1.5
    np.testing.assert_allclose(tau, [0.5, -1.5], atol=1e-6)
    assert [r.stage.skip_policy() for _ in range(4)] == [True, True, True, False]  # policy every 4th tick
    r.joints({"a": 0.0, "b": -0.7}, {"a": 0.0, "b": 0.0})
    r.build()
    np.testing.assert_allclose(r.stage.between(), [3.0, -2.0], atol=1e-6)  # a: 10*0.4 = 4 -> limit 3
    np.testing.assert_allclose(r.stage.compute_safe(), [0.0, 0.0])  # damping at rest: no torque
    r.joints({"a": 0.0, "b": -0.7}, {"a": 1.0, "b": -0.5})
    r.build()
    np.testing.assert_allclose(r.stage.compute_safe(), [-2.0, 1.0])  # -2 * qdot
    r.t += 200_000_000  # joint state stale: zero torque
    np.testing.assert_allclose(r.stage.compute_safe(), [0.0, 0.0])


def test_pd_controller_limits() -> None:
    pd = PdController(np.array([100.0]), np.array([1.0]), np.array([5.0]))
    assert pd.compute(np.array([1.0]), np.array([0.0]), np.array([0.0]))[0] == 5.0
    assert pd.compute(np.array([0.0]), np.array([0.01]), np.array([0.5]))[0] == pytest.approx(-1.5)


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d["action"].update(joints=["a", "c"]), "action.default_positions lacks ['c']"),
    (lambda d: d["action"].update(output="joint_torques"), "torque_limits"),
    (lambda d: d["action"].update(decimation=2), "decimation applies to joint_torques"),
])
def test_profile_errors_name_the_field(change, fragment: str) -> None:  # noqa: ANN001
    d = profile_data()
    change(d)
    with pytest.raises(ProfileError) as e:
        parse_profile(d)
    assert fragment in str(e.value)


def test_missing_joint_detail_names_it() -> None:
    r = Rig()
    r.ingests["js"].on_message(NS(name=["a"], position=[0.1], velocity=[0.0], effort=[]))
    assert r.ingests["js"].missing_detail() == "joints never published: ['b']"


def test_build_allocates_nothing() -> None:
    import tracemalloc

    r = Rig(output="joint_torques", stiffness=10.0, torque_limits=3.0, decimation=2, position_limits={})
    r.joints({"a": 0.4, "b": -0.9}, {"a": 1.0, "b": -2.0})
    r.imu((1.0, 2.0, 3.0), (0, 0, 0, 1))
    action = np.zeros(2, np.float32)
    for _ in range(5):
        r.build(); r.stage.map(action); r.stage.between()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(200):
        r.builder.build(); r.stage.map(action); r.stage.between(); r.stage.compute_safe()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, grown
