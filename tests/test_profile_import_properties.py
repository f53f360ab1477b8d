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


@st.composite
def deploy_files(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 6))
    ids = draw(st.one_of(st.permutations(list(range(n))), st.lists(st.integers(-1, n), min_size=1, max_size=n + 1)))
    m = lambda k: st.lists(NUM, min_size=k, max_size=k)  # noqa: E731
    length = st.sampled_from([n, n - 1, n + 1, 3])
    default = draw(m(n))
    obs_names = draw(st.lists(st.sampled_from(["base_ang_vel", "projected_gravity", "joint_pos_rel", "joint_vel_rel",
                                               "last_action", "velocity_commands", "base_lin_vel"]),
                              min_size=1, max_size=5, unique=True))
    obs = {k: {"params": {}, "clip": draw(st.one_of(st.none(), st.lists(NUM, min_size=2, max_size=2))),
               "scale": draw(length.flatmap(m)), "history_length": draw(st.integers(0, 4))} for k in obs_names}
    return {"joint_sdk_names": [f"j{i}" for i in range(n)], "joint_ids_map": ids,
            "step_dt": draw(st.sampled_from([0.02, 0.005, 0.0, -1.0, math.nan])),
            "stiffness": draw(length.flatmap(m)), "damping": draw(m(n)), "default_joint_pos": default,
            "commands": {"base_velocity": {"ranges": {"lin_vel_x": [-1.0, 1.0], "lin_vel_y": [-0.5, 0.5],
                                                      "ang_vel_z": draw(st.lists(NUM, min_size=2, max_size=2))}}},
            "actions": {"JointPositionAction": {"clip": None, "scale": draw(length.flatmap(m)),
                                                "offset": draw(st.one_of(st.just(default), m(n))), "joint_ids": None}},
            "observations": obs}


@settings(max_examples=60, deadline=None)
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
