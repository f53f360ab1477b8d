"""ObservationBuilder.reset: what the tick calls when a fault withholds the command (daemon/config/model_io.py):
histories restart (the next value fills every slot), last action and the policy steps go back to zero."""

from __future__ import annotations

import copy

import numpy as np

from tests.daemon.observation.terms.rigs import LeggedRig, legged_profile_data

JOINT_REL = slice(8, 14)  # joint_position_relative: 2 joints x history 3, after 3 + 3 + 2 values


def _build_at(r: LeggedRig, a: float) -> np.ndarray:
    r.joints({"a": a, "b": -0.7}, {"a": 0.0, "b": 0.0})
    r.imu((0, 0, 0), (0, 0, 0, 1))
    r.t += 20_000_000
    return r.build()


def test_reset_restarts_term_histories_and_the_policy_state() -> None:
    r = LeggedRig()
    _build_at(r, 0.31)
    obs = _build_at(r, 0.35)
    hist_a = obs[JOINT_REL][0::2]
    assert len(set(np.round(hist_a, 6))) == 2  # oldest-first [0.31, 0.31, 0.35] -> two distinct values
    r.stage.map(np.array([1.0, 1.0], np.float32))
    r.builder.policy_state.commit()
    assert r.builder.policy_state.steps == 1 and r.builder.policy_state.last_action.any()
    r.builder.reset()
    assert r.builder.policy_state.steps == 0 and not r.builder.policy_state.last_action.any()
    obs = _build_at(r, 0.4)
    hist_a = obs[JOINT_REL][0::2]
    np.testing.assert_allclose(hist_a, [2 * (0.4 - 0.3)] * 3)  # every slot the first value after the reset
    np.testing.assert_allclose(obs[14 + 2:14 + 4], [0.0, 0.0])  # last_action after joint velocities: zero


def test_reset_restarts_a_whole_observation_history() -> None:
    d = copy.deepcopy(legged_profile_data())
    for t in d["observation"]["terms"]:
        t.pop("history", None)
    d["observation"]["history"] = {"length": 3, "layout": "time_major", "order": "oldest_first"}
    r = LeggedRig(d)
    _build_at(r, 0.31)
    first = _build_at(r, 0.35)
    frame = first.size // 3
    assert not np.array_equal(first[:frame], first[2 * frame:])
    r.builder.reset()
    obs = _build_at(r, 0.4)
    np.testing.assert_array_equal(obs[:frame], obs[2 * frame:])
    np.testing.assert_array_equal(obs[:frame], obs[frame:2 * frame])
