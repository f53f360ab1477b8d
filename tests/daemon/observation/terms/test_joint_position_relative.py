"""joint_position_relative: positions minus the default pose, policy order, with history stacked oldest first."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, only_term
from tests.daemon.observation.terms.rigs import legged_sequence


def test_relative_positions_clipped_with_history() -> None:
    r, obs = legged_sequence()
    # (q - q0) * 2, clipped to 0.5: a: (0.4-0.3)*2 = 0.2; b: (-0.9+0.7)*2 = -0.4; first value fills the history.
    np.testing.assert_allclose(obs[0][8:14], [0.2, -0.4] * 3, atol=1e-6)
    # History oldest first: [t0, t0, t1]; t1: a (0.5-0.3)*2 = 0.4, b: 0.
    np.testing.assert_allclose(obs[1][8:14], [0.2, -0.4, 0.2, -0.4, 0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[2][8:14], [0.2, -0.4, 0.4, 0.0, 0.4, 0.0], atol=1e-6)
    term = r.profile.observation.terms[3]
    ctx = r.profile.term_context()
    assert term.size(ctx) == 6 and term.joint_names(ctx.action_joints) == ("a", "b")
    assert term.streams(ctx) == ("js",) and term.fields_read(ctx) == (("js", "position"),)


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][3].update(joints=["a", "zz"]),
                 "observation.terms[3] (joint_position_relative): policy joints ['zz'] are never published: they are "
                 "not in streams.js.joints ['a', 'b']; add them there")
    assert_error(lambda d: d["observation"]["terms"][3].update(stream="imu"),
                 "observation.terms[3] (joint_position_relative).stream='imu' must name a JointState stream")
    assert_error(lambda d: only_term(d, 3, twist_action=True),
                 "observation.terms[0] (joint_position_relative) needs action.output joint_positions or joint_torques "
                 "(it reads action.joints or the policy step)")
    assert_error(lambda d: d["streams"].update(js2={"topic": "/js2", "type": "sensor_msgs/msg/JointState", "rate_hz": 100,
                                                    "max_age_s": 0.1, "joints": ["a", "b", "c"]})
                 or d["observation"]["terms"][3].update(stream="js2", joints=["a", "c"]),
                 "observation.terms[3] (joint_position_relative): joints ['c'] have no action.default_positions entry")
