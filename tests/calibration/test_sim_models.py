"""Sim models: ideal diff-drive and actuator predictions, and an ONNX forward model run by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.calibration.sim_models import IdealActuator, IdealDiffDrive, OnnxSimModel


def _dd(**kw) -> IdealDiffDrive:
    return IdealDiffDrive(dt_s=0.02, left_joint="l", right_joint="r", imu_stream="imu", wheel_radius_m=0.05,
                          wheel_separation_m=0.3, **kw)


def test_ideal_diff_drive_kinematics_and_limits() -> None:
    m = _dd()
    assert m.inputs == ("cmd.linear.x", "cmd.angular.z", "joint.l.velocity", "joint.r.velocity")
    assert m.outputs == ("joint.l.velocity", "joint.r.velocity", "imu.angular_velocity.z")
    out = np.zeros(3)
    m.predict(np.array([0.2, 1.0, 0.0, 0.0]), out)
    np.testing.assert_allclose(out, [(0.2 - 0.15) / 0.05, (0.2 + 0.15) / 0.05, 1.0])
    lim = _dd(max_wheel_accel_radps2=50.0)  # 1 rad/s per 20 ms tick at most
    lim.predict(np.array([0.2, 0.0, 0.0, 2.0]), out)
    np.testing.assert_allclose(out[:2], [1.0, 3.0])
    lag = _dd(time_constant_s=0.02)
    lag.predict(np.array([0.1, 0.0, 0.0, 0.0]), out)
    np.testing.assert_allclose(out[0], 2.0 * (1 - np.exp(-1.0)))


def test_latency_delays_the_command_with_interpolation() -> None:
    m = _dd(latency_s=0.03)  # 1.5 ticks
    out = np.zeros(3)
    seen = []
    for v in (0.1, 0.1, 0.1, 0.1):
        m.predict(np.array([v, 0.0, 0.0, 0.0]), out)
        seen.append(out[0])
    np.testing.assert_allclose(seen, [0.0, 1.0, 2.0, 2.0])  # 0, half a step, then the full 2 rad/s
    m.reset()
    m.predict(np.array([0.1, 0.0, 0.0, 0.0]), out)
    assert out[0] == 0.0


def test_ideal_actuator_first_order_lag() -> None:
    a = IdealActuator(dt_s=0.01, joints=("j",), targets=("cmd.linear.x",), time_constant_s=0.01)
    out = np.zeros(1)
    a.predict(np.array([1.0, 0.25]), out)
    np.testing.assert_allclose(out, [0.25 + 0.75 * (1 - np.exp(-1.0))])
    with pytest.raises(ValueError, match="one target field per joint"):
        IdealActuator(dt_s=0.01, joints=("a", "b"), targets=("x",), time_constant_s=0.1)


def _kinematics_onnx(path: Path) -> None:
    """The ideal diff-drive kinematics as an ONNX graph: [v, w] @ W -> [left, right, yaw rate]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([[1 / 0.05, 1 / 0.05, 0.0], [-0.15 / 0.05, 0.15 / 0.05, 1.0]], dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["cmd", "W"], ["next_sensors"])], "fwd",
                              [helper.make_tensor_value_info("cmd", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("next_sensors", TensorProto.FLOAT, [1, 3])],
                              initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_forward_model_matches_the_ideal_model(tmp_path: Path) -> None:
    p = tmp_path / "fwd.onnx"
    _kinematics_onnx(p)
    onnx_model = OnnxSimModel(p, {"cmd": ["cmd.linear.x", "cmd.angular.z"]},
                              {"next_sensors": ["joint.l.velocity", "joint.r.velocity", "imu.angular_velocity.z"]})
    ideal = _dd()
    a, b = np.zeros(3), np.zeros(3)
    for v, w in ((0.2, 1.0), (-0.1, 0.3), (0.0, -1.5)):
        onnx_model.predict(np.array([v, w]), a)
        ideal.predict(np.array([v, w, 0.0, 0.0]), b)
        np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(ValueError, match="no input 'obs'"):
        OnnxSimModel(p, {"obs": ["a", "b"]}, {"next_sensors": ["x", "y", "z"]})
    with pytest.raises(ValueError, match="3 fields are bound"):
        OnnxSimModel(p, {"cmd": ["a", "b", "c"]}, {"next_sensors": ["x", "y", "z"]})
