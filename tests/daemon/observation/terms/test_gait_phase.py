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


def _phase_rig(**clock: object) -> LeggedRig:
    from tests.daemon.observation.terms.rigs import legged_profile_data

    d = legged_profile_data()
    d["observation"]["terms"] = [{"kind": "gait_phase", **clock}]
    return LeggedRig(d)


def _phases(r: LeggedRig, steps: range) -> list[list[float]]:
    out = []
    for n in steps:
        r.builder.policy_state.steps = n
        out.append(r.build().tolist())
    return out


def test_period_offset_and_first_step() -> None:
    # Policy period T = 20 ms; period 0.8 s (1.25 Hz); offset a quarter cycle; the first step sees one step:
    # a(n) = 2 pi (1.25 (n + 1) 0.02 + 0.25).
    r = _phase_rig(period_s=0.8, phase_offset_cycles=0.25, first_step="one_step")
    for n, got in zip(range(4), _phases(r, range(4))):
        a = 2 * math.pi * (1.25 * (n + 1) * 0.02 + 0.25)
        np.testing.assert_allclose(got, [math.sin(a), math.cos(a)], atol=1e-6)
    # n = 0: a = 2 pi (0.025 + 0.25): sin = cos(2 pi 0.025), cos = -sin(2 pi 0.025).
    np.testing.assert_allclose(_phases(_phase_rig(period_s=0.8, phase_offset_cycles=0.25, first_step="one_step"),
                                       range(1))[0], [0.98768834, -0.15643447], atol=1e-6)


def test_first_step_zero_is_phase_zero_and_one_step_is_one_period_ahead() -> None:
    zero = _phases(_phase_rig(frequency_hz=2.0), range(5))
    one = _phases(_phase_rig(frequency_hz=2.0, first_step="one_step"), range(5))
    assert zero[0] == [0.0, 1.0]
    assert one[:4] == zero[1:]  # the same clock, one policy step earlier


def test_period_and_frequency_are_the_same_clock() -> None:
    f = _phases(_phase_rig(frequency_hz=2.0), range(0, 300, 37))
    p = _phases(_phase_rig(period_s=0.5), range(0, 300, 37))
    np.testing.assert_allclose(f, p, atol=1e-6)


def test_default_clock_is_unchanged_bit_for_bit() -> None:
    r = _phase_rig(frequency_hz=1.3)
    for n, got in zip(range(0, 500, 61), _phases(r, range(0, 500, 61))):
        a = 2.0 * math.pi * 1.3 * (n * 0.02)  # the clock before it was configurable
        assert got == [float(np.float32(math.sin(a))), float(np.float32(math.cos(a)))]


def test_clock_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][6].update(period_s=0.5),
                 "gait_phase needs exactly one of 'frequency_hz' (Hz) or 'period_s' (s, 1/frequency)")
    assert_error(lambda d: d["observation"]["terms"][6].pop("frequency_hz"),
                 "gait_phase needs exactly one of 'frequency_hz' (Hz) or 'period_s' (s, 1/frequency)")
    assert_error(lambda d: d["observation"]["terms"][6].update(first_step="first"),
                 "observation.terms.6.first_step: Input should be 'zero' or 'one_step'")
    assert_error(lambda d: d["observation"]["terms"][6].update(phase_offset_cycles=1.5),
                 "observation.terms.6.phase_offset_cycles: Input should be less than or equal to 1")
