"""Build stand_policy.onnx: an analytic stand-up controller as an ONNX graph, not a trained policy.

``action = -gain * obs[joint_position_relative block]`` (one MatMul with a
[obs, 12] weight that is zero except for -gain on that block's diagonal,
then Add of a zero bias); every other block (angular velocity, projected
gravity history, velocity command, joint velocities, last action, gait phase)
has weight zero but is still fed and checked for shape by the daemon. With the
profile's ``action.scale`` s the target is ``q0 - s * gain * (q - q0)``, whose
only fixed point is ``q = q0``: each joint is driven to its own default angle,
and a joint mapped to the wrong observation or action slot is driven wrong.

Usage: python examples/quadruped/make_stand_policy.py [--profile P] [--out PATH] [--gain G]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def build(profile_path: Path, out: Path, gain: float = 1.0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgepilot.daemon.config.profile import JointActionConfig, parse_profile
    from edgepilot.daemon.observation.terms import JointPositionRelativeTerm
    import yaml

    data = yaml.safe_load(profile_path.read_text())
    data["engine"]["model"] = str(out)
    profile = parse_profile(data, base_dir=profile_path.parent)
    act = profile.action
    assert isinstance(act, JointActionConfig)
    n_obs = profile.observation_size()
    n_act = len(act.joints)
    w = np.zeros((n_obs, n_act), np.float32)
    pos = 0
    ctx = profile.term_context()
    for t in profile.observation.terms:
        size = t.size(ctx)
        if isinstance(t, JointPositionRelativeTerm):
            names = t.joint_names(act.joints)
            for i, j in enumerate(names):
                w[pos + i, act.joints.index(j)] = -gain / t.scale  # undo the observation scale: gain in rad/rad
        pos += size
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["action"])],
        "stand_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_obs])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, n_act])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.zeros(n_act, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", type=Path, default=HERE / "quadruped.yaml")
    p.add_argument("--out", type=Path, default=HERE / "stand_policy.onnx")
    p.add_argument("--gain", type=float, default=1.0)
    a = p.parse_args()
    print(build(a.profile, a.out, a.gain))


if __name__ == "__main__":
    main()
