"""Per-element ``scale``, ``offset`` and ``clip`` on any term: ``clip((raw + offset) * scale)`` element by element.

Hand-computed vectors on a gather term (the builder's batch), a final term with history (the term's own affine,
repeated over the history slots), the load-time errors, and the property that a list equal to the scalar
repeated gives the very same bits.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from tests.daemon.observation.terms.legged_errors import assert_error
from tests.daemon.observation.terms.rigs import LeggedRig, imu_msg, legged_profile_data, refresh, twist_pipeline, twist_profile
from tests.daemon.observation.terms.test_properties import BASE, _fed, term_strategy


def test_gather_term_per_element() -> None:
    p = twist_profile([{"kind": "imu_angular_velocity", "stream": "imu", "axes": ["x", "y", "z"],
                        "offset": [0.5, 0.0, -1.0], "scale": [2.0, -1.0, 0.25], "clip": [[-3.0, 3.0], [-1.5, 1.5], [0.0, 0.1]]}])
    ingests, snaps, b = twist_pipeline(p)
    ingests["imu"].on_message(imu_msg(1.0, 2.0, 3.0))
    refresh(snaps)
    # x: (1 + 0.5) * 2 = 3 (at its high); y: 2 * -1 = -2 -> -1.5; z: (3 - 1) * 0.25 = 0.5 -> 0.1.
    np.testing.assert_array_equal(b.build(), np.float32([3.0, -1.5, 0.1]))


def test_final_term_per_element_repeated_over_history() -> None:
    d = legged_profile_data()
    d["observation"]["terms"] = [
        {"kind": "velocity_command", "value": [1.0, -0.5, 0.4], "fields": ["linear.x", "linear.y", "angular.z"],
         "scale": [2.0, 2.0, 0.25], "offset": [0.5, 0.0, -0.4], "clip": [[-2.0, 2.0], [-3.0, 3.0], [-1.0, 1.0]],
         "history": 2},
        {"kind": "gait_phase", "frequency_hz": 1.0, "scale": [1.0, -2.0], "clip": [-1.5, 1.5]},
    ]
    r = LeggedRig(d)
    # (1 + 0.5) * 2 = 3 -> 2; -0.5 * 2 = -1; (0.4 - 0.4) * 0.25 = 0; twice (history 2); then sin 0, -2 cos 0 -> -1.5.
    np.testing.assert_array_equal(r.build(), [2.0, -1.0, 0.0, 2.0, -1.0, 0.0, 0.0, -1.5])


def test_scalar_clip_and_list_clip_of_one_pair() -> None:
    p = twist_profile([{"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z"], "clip": [[-0.5, 0.5]]}])
    ingests, snaps, b = twist_pipeline(p)
    ingests["imu"].on_message(imu_msg(0.0, 0.0, -2.0))
    refresh(snaps)
    assert b.build().tolist() == [-0.5]
    assert p.observation.terms[0].clip == ((-0.5, 0.5),)  # type: ignore[union-attr]


def test_wrong_lengths_name_the_field_the_term_and_why() -> None:
    assert_error(lambda d: d["observation"]["terms"][2].update(scale=[2.0, 2.0, 0.25]),
                 "observation.terms[2] (velocity_command).scale has 3 numbers, expected 2: one per value the term "
                 "produces per tick (one per field of fields ['linear.x', 'angular.z']); give one number for all of "
                 "them, or 2")
    assert_error(lambda d: d["observation"]["terms"][3].update(offset=[0.1]),
                 "observation.terms[3] (joint_position_relative).offset has 1 numbers, expected 2: one per value the "
                 "term produces per tick (one per joint of action.joints ['a', 'b'])")
    assert_error(lambda d: d["observation"]["terms"][0].update(clip=[[-1, 1], [-1, 1]]),
                 "observation.terms[0] (base_angular_velocity).clip has 2 [low, high] pairs, expected 3: one per value "
                 "the term produces per tick ([x, y, z] in the base frame); give [low, high] for all of them, or 3")
    with pytest.raises(ProfileError, match=r"observation.terms\[0\] \(imu_angular_velocity\).scale has 2 numbers, "
                                           r"expected 1: .*one per axis of axes \['z'\]"):
        twist_profile([{"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z"], "scale": [1.0, 2.0]}])


def test_every_number_finite_bounded_and_each_pair_ordered() -> None:
    assert_error(lambda d: d["observation"]["terms"][2].update(scale=[1.0, float("nan")]),
                 "observation.terms.2.scale.1: Input should be a finite number")
    assert_error(lambda d: d["observation"]["terms"][2].update(offset=[1.0, 2e6]),
                 "observation.terms.2.offset.1: Input should be less than or equal to 1000000")
    assert_error(lambda d: d["observation"]["terms"][2].update(scale=[]),
                 "observation.terms.2.scale: Tuple should have at least 1 item")
    assert_error(lambda d: d["observation"]["terms"][2].update(scale=[1.0, "x"]),
                 "observation.terms.2.scale.1: Input should be a valid number")
    assert_error(lambda d: d["observation"]["terms"][2].update(clip=[[-1.0, 1.0], [0.5, 0.25]]),
                 "observation.terms.2.clip: clip[1] [0.5, 0.25] must be [low, high] with low < high")
    assert_error(lambda d: d["observation"]["terms"][2].update(clip=[[-1.0, 1.0], [0.5]]),
                 "observation.terms.2.clip.1.1: Field required")
    assert_error(lambda d: d["observation"]["terms"][2].update(clip=[1.0, -1.0]),
                 "observation.terms.2.clip: clip [1.0, -1.0] must be [low, high] with low < high")


def _per_element(term: dict, n: int) -> dict:
    out = dict(term)
    for k in ("scale", "offset"):
        if k in out:
            out[k] = [out[k]] * n
    if "clip" in out:
        out["clip"] = [list(out["clip"])] * n
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(term_strategy(), min_size=1, max_size=6))
def test_a_list_equal_to_the_scalar_repeated_gives_the_same_bits(terms: list[dict]) -> None:
    data = copy.deepcopy(BASE)
    data["observation"] = {"input_name": "obs", "terms": terms}
    scalar = parse_profile(copy.deepcopy(data))
    ctx = scalar.term_context()
    data["observation"]["terms"] = [_per_element(t, c.values_per_tick(ctx))
                                    for t, c in zip(terms, scalar.observation.terms)]
    listed = parse_profile(data)
    vectors = []
    for profile in (scalar, listed):
        odo = WheelOdometry(0.05)
        odo.x, odo.y, odo.yaw = 0.5, -0.25, 0.3
        b = ObservationBuilder(profile, _fed(profile), odo)
        b.policy_state.last_action[:] = [0.5, -0.0, 0.25]
        seq = []
        for step in range(3):
            b.policy_state.steps = step
            seq.append(b.build().view(np.uint32).tolist())
        vectors.append(seq)
    assert vectors[0] == vectors[1]
