"""ONNX Runtime on the CPU: the default backend wherever TensorRT is absent."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import BackendError, TensorSpec

_ORT_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _recorded_state(session: Any) -> list[Any]:
    """The recurrent state pairing an edgepilot export recorded in the model's metadata (engines/torchscript_export.py)."""
    from .torchscript_export import RECURRENT_STATE_KEY, state_pairs_from_json

    text = session.get_modelmeta().custom_metadata_map.get(RECURRENT_STATE_KEY)
    return state_pairs_from_json(text) if text else []


class OnnxRuntimeBackend:
    """ONNX Runtime session bound once to preallocated numpy inputs and outputs (IO binding).

    Dynamic dimensions (a symbolic batch dim, say) are fixed to 1: the daemon
    runs one observation per tick; ``input_shapes`` fixes them otherwise (an
    engine's verification runs at its profile's opt shape). ``intra_op_threads`` defaults to 1 because
    for the small policies robots run, thread hand-off costs more than it saves
    and a second busy thread steals the core the sensor callbacks need.
    """

    def __init__(self, model_path: str | Path, intra_op_threads: int = 1,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> None:
        import onnxruntime as ort  # lazily: the core must import without inference libraries

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own exception types for missing or invalid files
            raise BackendError(f"cannot load ONNX model {model_path}: {err}") from None
        given = dict(input_shapes or {})
        self._input_specs = [self._spec(a, given.get(a.name)) for a in self._session.get_inputs()]
        self._output_specs = [self._spec(a) for a in self._session.get_outputs()]
        if any(not (isinstance(d, int) and d > 0) for a in self._session.get_outputs() for d in a.shape):
            # Output dims that follow dynamic input dims are known only after a run: probe once, at load.
            probe = self._session.run(None, {s.name: np.zeros(s.shape, s.dtype) for s in self._input_specs})
            self._output_specs = [TensorSpec(s.name, tuple(v.shape), s.dtype) for s, v in zip(self._output_specs, probe)]
        self.inputs = {s.name: np.zeros(s.shape, s.dtype) for s in self._input_specs}
        self.outputs = {s.name: np.zeros(s.shape, s.dtype) for s in self._output_specs}
        self._binding = self._session.io_binding()
        # OrtValues over the numpy buffers share their memory, so writing
        # inputs[name] in place is all a caller does before run().
        self._keep = []
        for name, arr in self.inputs.items():
            v = ort.OrtValue.ortvalue_from_numpy(arr)
            self._keep.append(v)
            self._binding.bind_ortvalue_input(name, v)
        for name, arr in self.outputs.items():
            v = ort.OrtValue.ortvalue_from_numpy(arr)
            self._keep.append(v)
            self._binding.bind_ortvalue_output(name, v)
        self.state_pairs = _recorded_state(self._session)
        self._closed = False

    @staticmethod
    def _spec(arg, given: tuple[int, ...] | None = None) -> TensorSpec:  # type: ignore[no-untyped-def]
        dtype = _ORT_TO_NUMPY.get(arg.type)
        if dtype is None:
            raise BackendError(f"tensor {arg.name!r} has type {arg.type}, which the daemon does not feed")
        if given is not None:
            fixed_ok = len(given) == len(arg.shape) and all(
                not (isinstance(d, int) and d > 0) or d == g for d, g in zip(arg.shape, given))
            if not fixed_ok:
                raise BackendError(f"input {arg.name!r}: shape {tuple(given)} does not fit the model's {list(arg.shape)}")
            return TensorSpec(arg.name, tuple(int(g) for g in given), np.dtype(dtype))
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in arg.shape)
        return TensorSpec(arg.name, shape, np.dtype(dtype))

    def describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return list(self._input_specs), list(self._output_specs)

    def run(self) -> None:
        self._session.run_with_iobinding(self._binding)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._keep.clear()
            del self._binding
            del self._session
