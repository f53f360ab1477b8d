"""gait_phase: [sin, cos] of 2 pi f t, t = policy steps x policy period."""

from __future__ import annotations

import math

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, only_term
from tests.daemon.observation.terms.rigs import LeggedRig, legged_sequence


def test_phase_advances_per_policy_step() -> None:
    r, obs = legged_sequence()
    np.testing.assert_allclose(obs[0][18:20], [0.0, 1.0], atol=1e-6)  # sin 0, cos 0
    a = 2 * math.pi * 1.0 * 0.02  # one policy step of 20 ms
    np.testing.assert_allclose(obs[1][18:20], [math.sin(a), math.cos(a)], atol=1e-6)
    assert r.profile.observation.terms[6].size(r.profile.term_context()) == 2


def test_policy_period_includes_decimation() -> None:
    r = LeggedRig(output="joint_torques", stiffness=10.0, torque_limits=3.0, decimation=4, position_limits={})
    assert r.builder.policy_state.period_s == 4 / 50
    r.builder.policy_state.steps = 3
    a = 2 * math.pi * 3 * 4 / 50
    np.testing.assert_allclose(r.build()[18:20], [math.sin(a), math.cos(a)], atol=1e-6)


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][6].update(frequency_hz=0),
                 "observation.terms.6.frequency_hz: Input should be greater than 0")
    assert_error(lambda d: d["observation"]["terms"][6].update(history=65),
                 "observation.terms.6.history: Input should be less than or equal to 64")
    assert_error(lambda d: only_term(d, 6, twist_action=True),
                 "observation.terms[0] (gait_phase) needs action.output joint_positions or joint_torques (it reads "
                 "action.joints or the policy step)")
