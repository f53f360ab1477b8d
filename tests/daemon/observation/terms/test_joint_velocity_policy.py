"""joint_velocity_policy: joint velocities in the policy's order."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, only_term
from tests.daemon.observation.terms.rigs import legged_sequence


def test_velocities_in_policy_order() -> None:
    r, obs = legged_sequence()
    np.testing.assert_allclose(obs[0][14:16], [0.1, -0.2], atol=1e-6)  # velocities in policy order, x 0.1
    np.testing.assert_allclose(obs[1][14:16], [0.0, 0.0])
    term = r.profile.observation.terms[4]
    assert term.fields_read(r.profile.term_context()) == (("js", "velocity"),)


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][4].update(joints=["zz"]),
                 "observation.terms[4] (joint_velocity_policy): policy joints ['zz'] are never published")
    assert_error(lambda d: d["streams"]["js"].update(required=False),
                 "streams.js.required is false but observation.terms[3] (joint_position_relative) reads it")
    assert_error(lambda d: only_term(d, 4, twist_action=True),
                 "observation.terms[0] (joint_velocity_policy) needs action.output joint_positions or joint_torques")
