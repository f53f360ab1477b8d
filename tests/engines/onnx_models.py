"""Small real ONNX models the engine tests build with onnx.helper: an MLP policy and a CNN with an image input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "daemon" / "profiles" / "diffbot_policy.onnx"


def mlp(path: Path, *, n_in: int = 5, hidden: int = 16, n_out: int = 2, batch: object = 1, seed: int = 0,
        opset: int = 17, scale: float = 1.0, input_name: str = "obs", output_name: str = "action") -> Path:
    """tanh(W2 tanh(W1 x + b1) + b2); ``scale`` multiplies W2 (a "retrained" model with the same IO)."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((n_in, hidden)).astype(np.float32) * 0.5
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = rng.standard_normal((hidden, n_out)).astype(np.float32) * 0.5 * scale
    b2 = rng.standard_normal(n_out).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", [input_name, "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "B1"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W2"], ["h3"]),
        helper.make_node("Add", ["h3", "B2"], ["h4"]),
        helper.make_node("Tanh", ["h4"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, n_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, n_out])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "W1"), (b1, "B1"), (w2, "W2"), (b2, "B2")]],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgepilot-tests")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def cnn(path: Path, *, batch: object = 1, height: int = 48, width: int = 64, channels: int = 3, seed: int = 0) -> Path:
    """Image policy: Conv(8, 3x3, stride 2) -> Relu -> Conv(8, 3x3, stride 2) -> Relu -> GlobalAveragePool -> Flatten
    -> Gemm(2) -> Tanh. Input ``image`` float32 NCHW (the camera's 64x48 rgb8 scaled to [0, 1]), output ``action``."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((8, channels, 3, 3)).astype(np.float32) * 0.3
    b1 = np.zeros(8, np.float32)
    w2 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.3
    b2 = np.zeros(8, np.float32)
    wf = rng.standard_normal((8, 2)).astype(np.float32)
    bf = np.zeros(2, np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "W1", "B1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "W2", "B2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "WF", "BF"], ["z"]),
        helper.make_node("Tanh", ["z"], ["action"]),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, channels, height, width])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [batch, 2])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "W1"), (b1, "B1"), (w2, "W2"), (b2, "B2"), (wf, "WF"), (bf, "BF")]],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgepilot-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
