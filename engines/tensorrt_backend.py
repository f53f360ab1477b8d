"""TensorRT 10 inference on preallocated pinned host buffers, optionally replayed as one CUDA graph.

Loading does all the work the control loop must not: deserialise the engine,
create the execution context, resolve dynamic input shapes (the profile's opt
shape unless given), check every IO name, shape and dtype against what the
cache recorded (and, through the daemon, against the robot profile), allocate
one pinned host buffer and one device buffer per tensor, bind the device
buffers by tensor name (``set_tensor_address``), run once, and capture the
whole enqueue (host-to-device copies, ``execute_async_v3``, device-to-host
copies) as a CUDA graph. A tick is then one graph launch and one stream
synchronise, with no allocation in edgepilot's code.

TensorRT and cuda-python are imported when a backend is created, never at
module import, so this module imports on machines without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import BackendError, TensorSpec
from .cuda_device import (
    CudaGraph,
    CudaStream,
    DeviceBuffer,
    PinnedHostBuffer,
    memcpy_dtoh_async,
    memcpy_htod_async,
)
from .platform_detect import require_tensorrt
from .tensorrt_builder import collecting_logger

if TYPE_CHECKING:
    import tensorrt as trt


def _numpy_dtype(dtype: "trt.DataType") -> np.dtype:
    import tensorrt as trt

    table = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT8: np.int8,
             trt.DataType.INT32: np.int32, trt.DataType.INT64: np.int64, trt.DataType.BOOL: np.bool_,
             trt.DataType.UINT8: np.uint8}
    if dtype not in table:
        raise BackendError(f"engine tensor type {dtype} has no numpy equivalent the daemon can feed")
    return np.dtype(table[dtype])


def _shape(dims: "trt.Dims") -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


class TensorRTBackend:
    """A deserialised TensorRT engine bound to pinned host buffers (``inputs``/``outputs``, allocated once).

    ``expected_inputs``/``expected_outputs``: the IO the engine must have (from
    the cache metadata); a mismatch is a BackendError at load. ``input_shapes``:
    concrete shapes for dynamic inputs (default: the optimisation profile's opt
    shape). ``use_cuda_graph``: replay the enqueue as a CUDA graph; if capture
    fails (some engines cannot be captured) the backend runs without it and says
    so in ``notes``. ``dla_core``: the DLA core a DLA engine was built for.
    """

    def __init__(self, engine: bytes | str | Path, *, expected_inputs: Sequence[TensorSpec] | None = None,
                 expected_outputs: Sequence[TensorSpec] | None = None,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                 use_cuda_graph: bool = True, dla_core: int | None = None) -> None:
        require_tensorrt()
        import tensorrt as trt

        self.notes: list[str] = []
        self._closed = False
        self._graph: CudaGraph | None = None
        self._buffers: list[PinnedHostBuffer | DeviceBuffer] = []
        self._stream: CudaStream | None = None
        data = engine if isinstance(engine, bytes) else Path(engine).read_bytes()

        self._runtime = trt.Runtime(collecting_logger(self.notes))
        if dla_core is not None:
            self._runtime.DLA_core = dla_core
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise BackendError("TensorRT cannot deserialise the engine (built by another TensorRT version or for another "
                               "GPU?); rebuild it: " + "; ".join(self.notes))
        context = self._engine.create_execution_context()
        if context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?): " + "; ".join(self.notes))
        self._context = context
        try:
            self._bind(input_shapes or {})
            self._check(expected_inputs, self._input_specs, "input")
            self._check(expected_outputs, self._output_specs, "output")
            self._stream = CudaStream()
            self._enqueue()  # TensorRT does its lazy set-up on the first enqueue, which must not be captured
            self._stream.synchronize()
            if use_cuda_graph:
                try:
                    self._graph = CudaGraph.capture(self._stream, self._enqueue)
                except BackendError as err:  # CudaError, or TensorRT refusing to enqueue under capture
                    self.notes.append(f"CUDA graph capture failed ({err}); running the enqueue directly")
                    self._graph = None
                    self._enqueue()  # the direct path must work, or loading fails here rather than on a tick
                    self._stream.synchronize()
        except BaseException:
            self.close()
            raise

    def _bind(self, input_shapes: Mapping[str, tuple[int, ...]]) -> None:
        import tensorrt as trt

        engine, context = self._engine, self._context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._input_specs: list[TensorSpec] = []
        self._output_specs: list[TensorSpec] = []
        for name in inputs:
            shape = _shape(engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                given = input_shapes.get(name)
                shape = tuple(given) if given is not None else _shape(engine.get_tensor_profile_shape(name, 0)[1])
                if not context.set_input_shape(name, trt.Dims(list(shape))):
                    raise BackendError(f"input {name!r}: shape {shape} is outside the engine's optimisation profile")
            self._input_specs.append(TensorSpec(name, shape, _numpy_dtype(engine.get_tensor_dtype(name))))
        for name in outputs:
            shape = _shape(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise BackendError(f"output {name!r} has a data-dependent shape {shape}; the daemon needs fixed output shapes")
            self._output_specs.append(TensorSpec(name, shape, _numpy_dtype(engine.get_tensor_dtype(name))))

        self.state_pairs: list[Any] = []  # set by open_engine from the cache sidecar
        self.inputs: dict[str, np.ndarray] = {}
        self.outputs: dict[str, np.ndarray] = {}
        self._h2d: list[tuple[int, int, int]] = []
        self._d2h: list[tuple[int, int, int]] = []
        for spec, table, copies, to_device in ([(s, self.inputs, self._h2d, True) for s in self._input_specs]
                                               + [(s, self.outputs, self._d2h, False) for s in self._output_specs]):
            host = PinnedHostBuffer(spec.shape, spec.dtype)
            self._buffers.append(host)
            dev = DeviceBuffer(host.nbytes)
            self._buffers.append(dev)
            if not context.set_tensor_address(spec.name, dev.ptr):
                raise BackendError(f"TensorRT refused the address for tensor {spec.name!r}")
            table[spec.name] = host.array
            copies.append((dev.ptr, host.ptr, host.nbytes) if to_device else (host.ptr, dev.ptr, host.nbytes))

    @staticmethod
    def _check(expected: Sequence[TensorSpec] | None, actual: list[TensorSpec], what: str) -> None:
        if expected is None:
            return
        want = {s.name: (tuple(s.shape), np.dtype(s.dtype)) for s in expected}
        have = {s.name: (tuple(s.shape), np.dtype(s.dtype)) for s in actual}
        if want != have:
            raise BackendError(f"engine {what}s {have} differ from the recorded {want}; the engine is not the one the "
                               "cache describes: rebuild it (edgepilot engine build --force)")

    def _enqueue(self) -> None:
        assert self._stream is not None
        stream = self._stream
        for dst, src, n in self._h2d:
            memcpy_htod_async(dst, src, n, stream)
        if not self._context.execute_async_v3(stream.address):
            raise BackendError("TensorRT execute_async_v3 failed: " + "; ".join(self.notes[-3:]))
        for dst, src, n in self._d2h:
            memcpy_dtoh_async(dst, src, n, stream)

    @property
    def uses_cuda_graph(self) -> bool:
        return self._graph is not None

    def describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return list(self._input_specs), list(self._output_specs)

    def run(self) -> None:
        if self._graph is not None:
            self._graph.launch()
        else:
            self._enqueue()
        assert self._stream is not None
        self._stream.synchronize()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._graph is not None:
            self._graph.destroy()
            self._graph = None
        if self._stream is not None:
            self._stream.synchronize()
            self._stream.destroy()
            self._stream = None
        # The context and engine reference device memory: drop them before the buffers.
        for attr in ("_context", "_engine", "_runtime"):
            if hasattr(self, attr):
                delattr(self, attr)
        while self._buffers:
            self._buffers.pop().free()
