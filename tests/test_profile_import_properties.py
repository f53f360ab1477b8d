"""Property: over generated deploy files (joint maps that are permutations or not, scale lists of any length,
odd values), `profile import` either writes a loadable profile or fails with ImportFailed: never a traceback."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import load_profile
from edgepilot.profile_import import ImportFailed, import_profile

NUM = st.one_of(st.floats(-3, 3, allow_nan=False), st.just(math.nan), st.just(0.0), st.integers(-2, 2))
GOOD = st.floats(0.01, 3, allow_nan=False)
TERMS = ["base_ang_vel", "projected_gravity", "joint_pos_rel", "joint_vel_rel", "last_action", "velocity_commands"]


@st.composite
def deploy_files(draw: st.DrawFn) -> dict:
    """A well-formed deploy file (a permutation joint map, per-element scales), then zero or more corruptions."""
    n = draw(st.integers(1, 6))
    m = lambda k, el=GOOD: st.lists(el, min_size=k, max_size=k)  # noqa: E731
    default = draw(m(n, st.floats(-2, 2, allow_nan=False)))
    names = draw(st.lists(st.sampled_from(TERMS), min_size=1, max_size=6, unique=True))
    size = {"base_ang_vel": 3, "projected_gravity": 3, "velocity_commands": 3}
    obs = {k: {"params": {}, "clip": draw(st.one_of(st.none(), st.just([-5.0, 5.0]))),
               "scale": draw(m(size.get(k, n))), "history_length": draw(st.integers(0, 4))} for k in names}
    data = {"joint_sdk_names": [f"j{i}" for i in range(n)], "joint_ids_map": draw(st.permutations(list(range(n)))),
            "step_dt": draw(st.sampled_from([0.02, 0.005, 0.01])), "stiffness": draw(m(n)), "damping": draw(m(n)),
            "default_joint_pos": default,
            "commands": {"base_velocity": {"ranges": {"lin_vel_x": [-1.0, 1.0], "lin_vel_y": [-0.5, 0.5],
                                                      "ang_vel_z": [-1.0, 1.0]}}},
            "actions": {"JointPositionAction": {"clip": None, "scale": draw(m(n)), "offset": list(default),
                                                "joint_ids": None}},
            "observations": obs}
    for _ in range(draw(st.integers(0, 2))):
        _corrupt(data, draw(st.sampled_from(CORRUPTIONS)), draw(NUM), draw(st.integers(-1, n + 1)), n)
    if draw(st.booleans()):
        data["observations"] = {draw(st.sampled_from(["base_lin_vel", "height_scan"])): obs[names[0]],
                                **data["observations"]}
    return data


CORRUPTIONS = ["map_index", "map_length", "step_dt", "scale_len", "nan_default", "offset", "obs_scale", "drop"]


def _corrupt(d: dict, how: str, x: object, i: int, n: int) -> None:
    a = d["actions"]["JointPositionAction"]
    if how == "map_index":
        d["joint_ids_map"][0] = i
    elif how == "map_length":
        d["joint_ids_map"] = d["joint_ids_map"] + [i]
    elif how == "step_dt":
        d["step_dt"] = x
    elif how == "scale_len":
        a["scale"] = a["scale"][:-1] if n > 1 else [x, x]
    elif how == "nan_default":
        d["default_joint_pos"][0] = math.nan
    elif how == "offset":
        a["offset"] = [x] * n
    elif how == "obs_scale":
        next(iter(d["observations"].values()))["scale"] = [x] * (i if i > 0 else 1)
    elif how == "drop":
        d.pop("stiffness", None)


@settings(max_examples=80, deadline=None)
@given(deploy_files())
def test_import_succeeds_loadably_or_fails_cleanly(data: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "deploy.yaml", Path(tmp) / "robot.yaml"
        src.write_text(yaml.safe_dump(data, sort_keys=False))
        (Path(tmp) / "policy.onnx").write_bytes(b"")
        try:
            profile, _ = import_profile(src, out)
        except ImportFailed as err:
            assert err.problems and all(isinstance(p, str) and p for p in err.problems)
            assert not out.exists()
            return
        assert load_profile(out).action.joints == profile.action.joints
