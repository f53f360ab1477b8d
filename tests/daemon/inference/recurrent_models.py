"""Small real recurrent ONNX models for the model I/O contract tests, with a numpy twin to step them offline.

``h_out = tanh(obs @ W + h_in @ U + b)``; ``action = tanh(h_out @ V) * mask`` (``mask`` a constant input when
asked, else 1); ``value = sum(h_out)`` (an auxiliary output when asked). Weights are seeded, so the twin and the
model agree to float32 rounding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class RecurrentTwin:
    w: np.ndarray
    u: np.ndarray
    b: np.ndarray
    v: np.ndarray
    mask: float = 1.0

    def step(self, obs: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(action, next h), in float32 as the model computes them."""
        h2 = np.tanh(obs.astype(np.float32) @ self.w + h.astype(np.float32) @ self.u + self.b).astype(np.float32)
        return (np.tanh(h2 @ self.v) * np.float32(self.mask)).astype(np.float32), h2


def recurrent_model(path: Path, *, n_obs: int = 5, hidden: int = 8, n_act: int = 2, seed: int = 0,
                    mask_input: bool = False, value_output: bool = False,
                    record_state: dict | None = None, state_names: tuple[str, str] = ("h_in", "h_out")) -> RecurrentTwin:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n_obs, hidden)) * 0.5).astype(np.float32)
    u = (rng.standard_normal((hidden, hidden)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
    v = (rng.standard_normal((hidden, n_act)) * 0.8).astype(np.float32)
    h_in, h_out = state_names
    nodes = [helper.make_node("MatMul", ["obs", "W"], ["a0"]), helper.make_node("MatMul", [h_in, "U"], ["a1"]),
             helper.make_node("Add", ["a0", "a1"], ["a2"]), helper.make_node("Add", ["a2", "B"], ["a3"]),
             helper.make_node("Tanh", ["a3"], [h_out]), helper.make_node("MatMul", [h_out, "V"], ["a4"])]
    inputs = [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", n_obs]),
              helper.make_tensor_value_info(h_in, TensorProto.FLOAT, [1, hidden])]
    if mask_input:
        nodes += [helper.make_node("Tanh", ["a4"], ["a5"]), helper.make_node("Mul", ["a5", "mask"], ["action"])]
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1]))
    else:
        nodes.append(helper.make_node("Tanh", ["a4"], ["action"]))
    outputs = [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", n_act]),
               helper.make_tensor_value_info(h_out, TensorProto.FLOAT, [1, hidden])]
    if value_output:
        nodes.append(helper.make_node("ReduceSum", [h_out], ["value"], keepdims=1))
        outputs.append(helper.make_tensor_value_info("value", TensorProto.FLOAT, [1, 1]))
    inits = [numpy_helper.from_array(a, n) for a, n in [(w, "W"), (u, "U"), (b, "B"), (v, "V")]]
    model = helper.make_model(helper.make_graph(nodes, "recurrent", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)], producer_name="edgepilot-tests")
    model.ir_version = 8
    if record_state is not None:  # as engines/torchscript_export.py records an explicit-state export
        entry = model.metadata_props.add()
        entry.key, entry.value = "edgepilot.recurrent_state", json.dumps([record_state])
    onnx.save(model, str(path))
    return RecurrentTwin(w, u, b, v)


def vision_model(path: Path, *, n_obs: int = 5, channels: int = 3, height: int = 24, width: int = 32) -> None:
    """action = tanh([mean over pixels of each channel, obs] @ K): an image input next to the observation."""
    k = (np.random.default_rng(2).standard_normal((channels + n_obs, 2)) * 0.7).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
             helper.make_node("Concat", ["m", "obs"], ["z"], axis=1),
             helper.make_node("MatMul", ["z", "K"], ["a"]), helper.make_node("Tanh", ["a"], ["action"])]
    graph = helper.make_graph(
        nodes, "vision",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, channels, height, width]),
         helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_obs])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 2])], [numpy_helper.from_array(k, "K")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgepilot-tests")
    model.ir_version = 8
    onnx.save(model, str(path))
