"""History order and layout: per term (``history_order``) and of the whole observation (``observation.history``).

The worked example of docs/observation.md, "History layouts": A = last_action (2 values, [t, -t] at tick t),
B = joint_position of one joint (1 value, 10 t), h = 3, after ticks 1..4 (the first tick fills every slot).
"""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from tests.daemon.observation.terms.rigs import LeggedRig, legged_profile_data
from tests.daemon.observation.terms.test_properties import BASE, STACKED, _fed, term_strategy

A = {"kind": "last_action"}
B = {"kind": "joint_position", "stream": "js", "joints": ["a"]}


def _data(terms: list[dict], history: dict | None = None) -> dict:
    d = legged_profile_data()
    d["observation"]["terms"] = terms
    if history is not None:
        d["observation"]["history"] = history
    return d


def _ticks(data: dict, ticks: int = 4) -> list[list[float]]:
    r = LeggedRig(data)
    out = []
    for t in range(1, ticks + 1):
        r.joints({"a": 10.0 * t, "b": 0.0}, {"a": 0.0, "b": 0.0})
        r.builder.policy_state.last_action[:] = [t, -t]
        out.append(r.build().tolist())
    return out


@pytest.mark.parametrize("layout, order, expected", [
    ("time_major", "oldest_first", [2, -2, 20, 3, -3, 30, 4, -4, 40]),
    ("time_major", "newest_first", [4, -4, 40, 3, -3, 30, 2, -2, 20]),
    ("term_major", "oldest_first", [2, -2, 3, -3, 4, -4, 20, 30, 40]),
    ("term_major", "newest_first", [4, -4, 3, -3, 2, -2, 40, 30, 20]),
])
def test_worked_example(layout: str, order: str, expected: list[float]) -> None:
    obs = _ticks(_data([A, B], {"length": 3, "layout": layout, "order": order}))
    first = [1, -1, 10] * 3 if layout == "time_major" else [1, -1, 1, -1, 1, -1, 10, 10, 10]
    assert obs[0] == first  # the first frame fills every slot
    assert obs[-1] == expected


def test_per_term_history_order() -> None:
    newest = _ticks(_data([{**A, "history": 3, "history_order": "newest_first"}, B]))
    oldest = _ticks(_data([{**A, "history": 3}, B]))
    assert newest[-1] == [4, -4, 3, -3, 2, -2, 40]
    assert oldest[-1] == [2, -2, 3, -3, 4, -4, 40]
    assert newest[0] == oldest[0] == [1, -1, 1, -1, 1, -1, 10]
    assert newest[1] == [2, -2, 1, -1, 1, -1, 20]


def test_sizes_and_the_model_input() -> None:
    p = parse_profile(_data([A, B], {"length": 5, "layout": "time_major"}))
    assert p.observation_size() == 15
    assert p.observation.history.order == "oldest_first"  # type: ignore[union-attr]
    one = parse_profile(_data([A, B], {"length": 1, "layout": "time_major"}))
    assert one.observation_size() == 3
    assert _ticks(_data([A, B], {"length": 1, "layout": "term_major", "order": "newest_first"}))[-1] == [4, -4, 40]


def _error(data: dict, fragment: str) -> None:
    with pytest.raises(ProfileError) as e:
        parse_profile(data)
    assert fragment in str(e.value), str(e.value)


def test_ambiguous_combinations_are_refused() -> None:
    _error(_data([A, {**A, "history": 2}], {"length": 3, "layout": "time_major"}),
           "observation.terms[1] (last_action).history is 2 and observation.history is set: stack either per term "
           "(each term's history) or the whole observation (observation.history), not both; remove one")
    _error(_data([{**A, "history_order": "oldest_first"}, B], {"length": 3, "layout": "term_major"}),
           "observation.terms[0] (last_action).history_order is set and observation.history is set: the order of the "
           "whole observation's history is observation.history.order; remove the term's history_order")
    _error(_data([A], {"length": 3}), "observation.history.layout: Field required")
    _error(_data([A], {"length": 3, "layout": "frames"}),
           "observation.history.layout: Input should be 'time_major' or 'term_major'")
    _error(_data([A], {"length": 65, "layout": "time_major"}),
           "observation.history.length: Input should be less than or equal to 64")
    _error(_data([{**A, "history": 2, "history_order": "latest"}]),
           "observation.terms.0.history_order: Input should be 'oldest_first' or 'newest_first'")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(term_strategy(), min_size=1, max_size=5), h=st.integers(2, 4),
       order=st.sampled_from(["oldest_first", "newest_first"]))
def test_term_major_is_every_term_with_its_own_history(terms: list[dict], h: int, order: str) -> None:
    stacked = [{k: v for k, v in t.items() if k != "history"} for t in terms if t["kind"] in STACKED]
    if not stacked:
        return
    whole = copy.deepcopy(BASE)
    whole["observation"] = {"input_name": "obs", "terms": stacked,
                            "history": {"length": h, "layout": "term_major", "order": order}}
    each = copy.deepcopy(BASE)
    each["observation"] = {"input_name": "obs", "terms": [{**t, "history": h, "history_order": order} for t in stacked]}
    seqs = []
    for data in (whole, each):
        p = parse_profile(data)
        b = ObservationBuilder(p, _fed(p), WheelOdometry(0.05))
        seq = []
        for step in range(h + 2):
            b.policy_state.steps = step
            b.policy_state.last_action[:] = [step, -0.5 * step, 0.25]
            seq.append(b.build().view(np.uint32).tolist())
        seqs.append(seq)
    assert seqs[0] == seqs[1]


def test_build_with_history_layouts_allocates_nothing() -> None:
    for layout in ("time_major", "term_major"):
        d = copy.deepcopy(BASE)
        d["observation"] = {"input_name": "obs", "history": {"length": 4, "layout": layout, "order": "newest_first"},
                            "terms": [
            {"kind": "imu_angular_velocity", "stream": "imu", "axes": ["x", "y", "z"], "scale": [1.0, 2.0, 0.5],
             "clip": [[-1, 1], [-2, 2], [-3, 3]]},
            {"kind": "velocity_command", "stream": "cmd", "scale": [2.0, 2.0, 0.25], "offset": [0.1, 0.0, 0.0]},
            {"kind": "joint_position_relative", "stream": "js", "clip": [[-1, 1], [-2, 2], [-3, 3]]},
            {"kind": "gait_phase", "period_s": 0.8, "phase_offset_cycles": 0.5, "first_step": "one_step"},
            {"kind": "last_action", "scale": [0.5, 1.0, 2.0]}]}
        p = parse_profile(d)
        b = ObservationBuilder(p, _fed(p), WheelOdometry(0.05))
        for _ in range(50):
            b.build()
        tracemalloc.start()
        start = tracemalloc.take_snapshot()
        for _ in range(500):
            b.build()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(start, "filename") if s.size_diff > 0)
        peak = 0
        for _ in range(50):
            tracemalloc.reset_peak()
            base_mem = tracemalloc.get_traced_memory()[0]
            b.build()
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base_mem)
        tracemalloc.stop()
        assert grown < 4096, (layout, grown)
        assert peak <= 160, (layout, peak)  # measured 80: transient float boxes (the gait clock's), no array
