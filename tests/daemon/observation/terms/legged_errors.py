"""Profile errors of the joint-policy terms, checked on the legged rig's profile (each term's test uses it)."""

from __future__ import annotations

import copy
from typing import Callable

import pytest

from edgepilot.daemon.config.profile import ProfileError, parse_profile
from tests.daemon.observation.terms.rigs import legged_profile_data

TWIST_ACTION = {"output": "twist", "channels": [{"field": "linear.x", "index": 0, "scale": 1.0, "limit": 1.0}]}


def assert_error(change: Callable[[dict], object], fragment: str) -> None:
    d = copy.deepcopy(legged_profile_data())
    change(d)
    with pytest.raises(ProfileError) as e:
        parse_profile(d)
    assert fragment in str(e.value), str(e.value)


def only_term(d: dict, i: int, twist_action: bool = False) -> None:
    """Keep term ``i`` alone (with a twist action: the joint-action checks of the others stay out of the way)."""
    d["observation"]["terms"] = [d["observation"]["terms"][i]]
    if twist_action:
        d["action"] = copy.deepcopy(TWIST_ACTION)


def loads_with_twist_action(i: int) -> None:
    d = copy.deepcopy(legged_profile_data())
    only_term(d, i, twist_action=True)
    parse_profile(d)
