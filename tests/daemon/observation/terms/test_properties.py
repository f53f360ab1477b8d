"""Properties over every registered term kind: the size each term computes is the slice it writes, and
building allocates nothing.

Profiles of random term lists (every kind, random joints, axes, fields, histories, offsets, scales, clips) on
a joint action (every kind may appear with one); each term is also built alone into a raw and a work vector
padded with sentinels, to see that it fills exactly its ``size`` places and nothing around them.
"""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.observation import observation_fields_read
from edgepilot.daemon.config.profile import parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.observation.policy_state import PolicyState
from edgepilot.daemon.observation.terms import TermInputs, make_term, registered_terms
from edgepilot.daemon.streams.ingest import StreamSnapshot, fields_read, make_ingest
from tests.daemon.observation.golden_harness import _message, cases

JOINTS = ["a", "b", "c", "left", "right"]
ACTION_JOINTS = ["c", "a", "b"]
TWIST = ["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]
BASE = {
    "name": "props", "loop": {"rate_hz": 50},
    "streams": {
        "js": {"topic": "/joint_states", "type": "sensor_msgs/msg/JointState", "rate_hz": 100, "max_age_s": 0.1,
               "joints": JOINTS},
        "imu": {"topic": "/imu", "type": "sensor_msgs/msg/Imu", "rate_hz": 100, "max_age_s": 0.1},
        "cmd": {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10, "max_age_s": 0.5},
    },
    "odometry": {"joint_stream": "js", "imu_stream": "imu", "left_joint": "left", "right_joint": "right",
                 "wheel_radius_m": 0.05, "wheel_separation_m": 0.3},
    "engine": {"model": "m.onnx", "output_name": "action"},
    "action": {"output": "joint_positions", "stream": "js", "joints": ACTION_JOINTS,
               "default_positions": {"a": 0.1, "b": -0.2, "c": 0.3}},
    "watchdog": {"stall_timeout_s": 0.03},
}

affine = st.fixed_dictionaries({}, optional={
    "scale": st.floats(-3, 3, allow_nan=False), "offset": st.floats(-1, 1, allow_nan=False),
    "clip": st.tuples(st.floats(-5, -0.01), st.floats(0.01, 5)).map(list)})
history = st.fixed_dictionaries({}, optional={"history": st.integers(1, 4)})
subset = lambda xs: st.lists(st.sampled_from(xs), min_size=1, max_size=len(xs) + 1)  # noqa: E731
policy_joints = st.one_of(st.none(), st.lists(st.sampled_from(ACTION_JOINTS), min_size=1, max_size=4))
rpy = st.tuples(*[st.floats(-3.2, 3.2, allow_nan=False)] * 3).map(list)


def _with(d: dict, *extra: dict) -> dict:
    out = dict(d)
    for e in extra:
        out.update(e)
    return {k: v for k, v in out.items() if v is not None}


def _vc(fields: list[str], value: bool) -> st.SearchStrategy:
    src = (st.just({"value": [0.25] * len(fields)}) if value else
           st.fixed_dictionaries({"stream": st.just("cmd")}, optional={"limits": st.just([[-1.0, 1.0]] * len(fields))}))
    return src.map(lambda s: {"kind": "velocity_command", "fields": fields, **s})


TERMS = {
    "joint_position": st.builds(lambda j, k: {"kind": k, "stream": "js", "joints": j}, subset(JOINTS),
                                st.sampled_from(["joint_position", "joint_velocity"])),
    "imu": st.builds(lambda a, k: {"kind": k, "stream": "imu", "axes": a}, subset(["x", "y", "z"]),
                     st.sampled_from(["imu_angular_velocity", "imu_linear_acceleration"])),
    "goal_relative": st.builds(lambda x, y: {"kind": "goal_relative", "goal_xy": [x, y]}, st.floats(-5, 5), st.floats(-5, 5)),
    "twist_command": st.builds(lambda f: {"kind": "twist_command", "stream": "cmd", "fields": f}, subset(TWIST)),
    "base_angular_velocity": st.builds(lambda r: {"kind": "base_angular_velocity", "stream": "imu", "imu_mounting_rpy": r}, rpy),
    "projected_gravity": st.builds(lambda r: {"kind": "projected_gravity", "stream": "imu", "imu_mounting_rpy": r}, rpy),
    "velocity_command": st.tuples(subset(TWIST), st.booleans()).flatmap(lambda fv: _vc(*fv)),
    "joint_position_relative": st.builds(lambda j: {"kind": "joint_position_relative", "stream": "js", "joints": j},
                                         policy_joints),
    "joint_velocity_policy": st.builds(lambda j: {"kind": "joint_velocity_policy", "stream": "js", "joints": j},
                                       policy_joints),
    "last_action": st.just({"kind": "last_action"}),
    "gait_phase": st.builds(lambda f: {"kind": "gait_phase", "frequency_hz": f}, st.floats(0.1, 5)),
}
STACKED = {"base_angular_velocity", "projected_gravity", "velocity_command", "joint_position_relative",
           "joint_velocity_policy", "last_action", "gait_phase"}


def term_strategy() -> st.SearchStrategy:
    options = []
    for name, s in TERMS.items():
        options.append(st.tuples(s, affine, history if name in STACKED else st.just({})).map(lambda t: _with(*t)))
    return st.one_of(options)


def test_the_strategies_cover_every_registered_kind() -> None:
    covered = {"joint_position", "joint_velocity", "imu_angular_velocity", "imu_linear_acceleration"} | set(TERMS)
    assert {k for s in registered_terms() for k in s.kinds} <= covered


def _fed(profile):  # noqa: ANN001, ANN202
    t = [2_000_000_000]
    ingests = {n: make_ingest(n, c, lambda: t[0], profile) for n, c in profile.streams.items()}
    rng = np.random.default_rng(3)
    for n, ing in ingests.items():
        ing.on_message(_message(profile.streams[n], rng))
    snaps = {n: StreamSnapshot(i) for n, i in ingests.items()}
    for s in snaps.values():
        s.refresh(t[0])
    return snaps


def fed_before_the_registry(profile) -> tuple[str, ...]:  # noqa: ANN001
    """daemon/service.py's latency streams as it computed them before the registry (its ``fed`` list)."""
    from edgepilot.daemon.config.profile import LEGGED_TERMS, GoalTerm, ImuTerm, JointTerm

    fed: list[str] = []
    for t in profile.observation.terms:
        if isinstance(t, (JointTerm, ImuTerm)) and t.stream not in fed:
            fed.append(t.stream)
        elif isinstance(t, LEGGED_TERMS) and getattr(t, "stream", None) and t.stream not in fed:
            fed.append(t.stream)
        if isinstance(t, GoalTerm) and profile.odometry is not None:
            for s in (profile.odometry.joint_stream, profile.odometry.imu_stream):
                if s not in fed:
                    fed.append(s)
    return tuple(fed)


def test_streams_read_of_every_shipped_profile() -> None:
    for name, (data, base) in cases().items():
        profile = parse_profile(copy.deepcopy(data), base_dir=base)
        builder = ObservationBuilder(profile, _fed(profile), WheelOdometry(0.05))
        assert builder.streams_read == fed_before_the_registry(profile), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(term_strategy(), min_size=1, max_size=8))
def test_sizes_computed_are_the_slices_written(terms: list[dict]) -> None:
    data = copy.deepcopy(BASE)
    data["observation"] = {"input_name": "obs", "terms": terms}
    profile = parse_profile(data)
    ctx = profile.term_context()
    snaps = _fed(profile)
    odo = WheelOdometry(0.05)
    odo.x, odo.y, odo.yaw = 0.5, -0.25, 0.3
    builder = ObservationBuilder(profile, snaps, odo)
    sizes = [t.size(ctx) for t in profile.observation.terms]
    assert builder.obs.size == profile.observation_size() == sum(sizes)
    pos = 0
    for (config, _, where), n in zip(builder.terms, sizes):
        assert (where.start, where.stop) == (pos, pos + n)
        pos += n
    assert builder.streams_read == fed_before_the_registry(profile)
    for name in profile.streams:  # the terms' fields_read is the term part of the ingest's (plus the odometry's)
        odometry = {"js": {"position"}, "imu": {"angular_velocity"}}.get(name, set())
        assert fields_read(profile, name) == observation_fields_read(profile, name) | odometry
    builder.policy_state.last_action[:] = [0.5, -0.5, 0.25]
    builder.policy_state.steps = 7
    assert np.isfinite(builder.build()).all()
    pad, sentinel = 3, 1234.5
    for config, n in zip(profile.observation.terms, sizes):
        raw = np.full(n + 2 * pad, sentinel)
        out = np.full(n + 2 * pad, sentinel)
        raw[pad:pad + n] = np.nan
        out[pad:pad + n] = np.nan
        state = PolicyState(len(ctx.action_joints), ctx.policy_period_s)
        state.last_action[:] = [0.5, -0.5, 0.25]
        term = make_term(config, TermInputs(ctx, snaps, odo, state, raw[pad:pad + n], out[pad:pad + n]))
        written = out if term.stage == "final" else raw
        if term.stage == "gather":
            term.source.take(term.index, out=raw[pad:pad + n], mode="clip")
        elif term.stage == "fill":
            term.fill()
        else:
            term.compute()
            term.compute()  # a second tick: the history ring turns
        assert np.isfinite(written[pad:pad + n]).all(), (config, written)
        assert (written[:pad] == sentinel).all() and (written[pad + n:] == sentinel).all(), (config, written)
        other = raw if written is out else out
        assert np.isnan(other[pad:pad + n]).all(), f"{config.kind} wrote into the vector of another stage"


def test_build_allocates_nothing_with_every_kind() -> None:
    for name in ("diffbot_all_twist_terms", "quadruped_variants"):
        data, base = cases()[name]
        profile = parse_profile(copy.deepcopy(data), base_dir=base)
        builder = ObservationBuilder(profile, _fed(profile), WheelOdometry(0.05))
        build = builder.build
        for _ in range(50):
            build()
        tracemalloc.start()
        start = tracemalloc.take_snapshot()
        for _ in range(500):
            build()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(start, "filename") if s.size_diff > 0)
        peak = 0
        for _ in range(50):
            tracemalloc.reset_peak()
            base_mem = tracemalloc.get_traced_memory()[0]
            build()
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base_mem)
        tracemalloc.stop()
        assert grown < 4096, (name, grown)  # tracemalloc's own bookkeeping only
        # Transient scalar boxes only, no arrays: main's builder peaked at 80 bytes (twist terms: the goal's pair)
        # and 640 (joint-policy terms: the quaternion's four numpy scalars and their products) on these profiles.
        assert peak <= {"diffbot_all_twist_terms": 80, "quadruped_variants": 640}[name], (name, peak)
