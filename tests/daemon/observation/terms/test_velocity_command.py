"""velocity_command: a streamed command limited per field and zero while stale, or a fixed one."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, loads_with_twist_action
from tests.daemon.observation.terms.rigs import LeggedRig, legged_profile_data, legged_sequence


def test_streamed_command_limited_then_zero_when_stale() -> None:
    r, obs = legged_sequence()
    np.testing.assert_allclose(obs[0][6:8], [1.0, -0.2], atol=1e-6)  # linear.x limited to 1
    np.testing.assert_allclose(obs[2][6:8], [0.0, 0.0])  # the command stream went stale (0.5 s): zero
    term = r.profile.observation.terms[2]
    ctx = r.profile.term_context()
    assert term.size(ctx) == 2 and term.streams(ctx) == ("cmd",)
    assert "cmd" in r.builder.streams_read  # counted for the latency, as daemon/service.py did


def test_fixed_value_with_history() -> None:
    d = legged_profile_data()
    d["observation"]["terms"][2] = {"kind": "velocity_command", "value": [0.5, -0.25], "fields": ["linear.x", "angular.z"],
                                    "history": 2, "offset": 0.25, "scale": 2.0}
    r = LeggedRig(d)
    np.testing.assert_allclose(r.build()[6:10], [1.5, 0.0, 1.5, 0.0])
    term = r.profile.observation.terms[2]
    assert term.size(r.profile.term_context()) == 4 and term.streams(r.profile.term_context()) == ()


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][2].update(value=[0.1, 0.2]), "exactly one of 'stream'")
    assert_error(lambda d: d["observation"]["terms"][2].pop("stream"), "exactly one of 'stream'")
    assert_error(lambda d: d["observation"]["terms"][2].update(stream=None, value=[1.0]), "value has 1 numbers for 2 fields")
    assert_error(lambda d: d["observation"]["terms"][2].update(limits=[[0, 1]]), "limits has 1 pairs for 2 fields")
    assert_error(lambda d: d["observation"]["terms"][2].update(limits=[[1, 0], [0, 1]]),
                 "limits pair [1.0, 0.0] must be [low, high] with low <= high")
    assert_error(lambda d: d["observation"]["terms"][2].update(stream="imu"),
                 "observation.terms[2] (velocity_command).stream='imu' must name a Twist or TwistStamped stream")
    loads_with_twist_action(2)  # and its stream need not be required (cmd is not): stale is zero, not a fault
