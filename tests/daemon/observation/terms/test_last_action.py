"""last_action: the previous policy output after action.clip, before action.scale; zeros before the first."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, only_term
from tests.daemon.observation.terms.rigs import legged_sequence


def test_last_action_after_clip_before_scale() -> None:
    r, obs = legged_sequence()
    np.testing.assert_allclose(obs[0][16:18], [0.0, 0.0])  # no action yet
    np.testing.assert_allclose(obs[1][16:18], [1.0, 2.0])  # last action (1, 3) after clip 2, before scale
    term = r.profile.observation.terms[5]
    ctx = r.profile.term_context()
    assert term.size(ctx) == 2 and term.streams(ctx) == ()


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][5].update(joints=["a"]),
                 "last_action covers the whole action vector, in action.joints order; remove 'joints'")
    assert_error(lambda d: only_term(d, 5, twist_action=True),
                 "observation.terms[0] (last_action) needs action.output joint_positions or joint_torques")
