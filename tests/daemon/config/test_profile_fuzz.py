"""Random mutations of the shipped profile: loading succeeds or raises ProfileError, never anything else."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile

BASE = yaml.safe_load(default_profile_path().read_text())

odd = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                st.sampled_from(["/imu\x00", "/cmd_vel", "\u202e/x", "1e309", "", "/diagnostics"]),
                st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out += _paths(v, prefix + (k,))
    return out


PATHS = _paths(BASE)


@st.composite
def mutated(draw: Any) -> dict:
    d = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = d
        try:
            for k in path[:-1]:
                node = node[k]
            op = draw(st.sampled_from(["set", "delete", "extra"]))
            if op == "set":
                node[path[-1]] = draw(odd)
            elif op == "delete" and isinstance(node, dict):
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=6))] = draw(odd)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced the parent
    return d


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_profile_loads_or_raises_profile_error(data: dict) -> None:
    try:
        parse_profile(data, base_dir=default_profile_path().parent)
    except ProfileError as err:
        assert str(err).startswith("invalid robot profile")
