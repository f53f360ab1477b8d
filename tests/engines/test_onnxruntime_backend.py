"""ONNX Runtime backend: IO binding on preallocated buffers, against a model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgepilot.engines.backend import BackendError
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend


def _linear_model(path: Path, n_in: int = 5, n_out: int = 2, batch: object = 1) -> np.ndarray:
    w = np.arange(n_in * n_out, dtype=np.float32).reshape(n_in, n_out) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "W"], ["mm"]), helper.make_node("Tanh", ["mm"], ["action"])],
        "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [batch, n_in])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [batch, n_out])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def test_run_in_place(tmp_path: Path) -> None:
    w = _linear_model(tmp_path / "m.onnx")
    b = OnnxRuntimeBackend(tmp_path / "m.onnx")
    ins, outs = b.describe()
    assert [(s.name, s.shape) for s in ins] == [("obs", (1, 5))]
    assert [(s.name, s.shape) for s in outs] == [("action", (1, 2))]
    inp, out = b.inputs["obs"], b.outputs["action"]
    for k in range(3):
        inp[0, :] = np.linspace(-1, 1, 5) * (k + 1)
        b.run()
        assert b.outputs["action"] is out  # same buffer every run
        np.testing.assert_allclose(out[0], np.tanh(inp[0] @ w), rtol=1e-6)
    b.close()
    b.close()


def test_dynamic_batch_fixed_to_one(tmp_path: Path) -> None:
    _linear_model(tmp_path / "m.onnx", batch="N")
    b = OnnxRuntimeBackend(tmp_path / "m.onnx")
    assert b.inputs["obs"].shape == (1, 5)


def test_bad_model_is_a_backend_error(tmp_path: Path) -> None:
    p = tmp_path / "broken.onnx"
    p.write_bytes(b"not a model")
    with pytest.raises(BackendError, match="cannot load ONNX model"):
        OnnxRuntimeBackend(p)
