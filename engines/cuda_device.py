"""CUDA memory, streams and graphs through cuda-python (``cuda.bindings.runtime``), allocated once.

cuda-python was chosen over pycuda because its official wheels need no
compilation against the CUDA toolkit on the robot. Every call returns a tuple
whose first element is a ``cudaError_t``; :func:`call` turns a failure into a
:class:`CudaError` naming the call. The module imports without cuda-python or a
GPU; the first CUDA call raises :class:`CudaUnavailable` with the reason.

Pick the cuda-python major version that matches the CUDA major of the robot's
driver (JetPack 6: CUDA 12, so ``cuda-python>=12.6,<13``); a newer major
answers every call with ``cudaErrorInsufficientDriver``.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from .backend import BackendError


class CudaError(BackendError):
    """A CUDA runtime call failed."""


class CudaUnavailable(CudaError):
    """cuda-python is not installed, or no usable GPU/driver is present."""


_rt: Any = None


def runtime() -> Any:
    """The ``cuda.bindings.runtime`` module, imported on first use."""
    global _rt
    if _rt is None:
        try:
            from cuda.bindings import runtime as rt
        except ImportError as err:
            raise CudaUnavailable(f"cuda-python is not installed ({err}); pip install 'edgepilot[tensorrt]' "
                                  "with the cuda-python major version matching the driver's CUDA (JetPack 6: 12.x)") from None
        _rt = rt
    return _rt


def _bindings_version() -> str:
    try:
        import cuda.bindings

        return str(cuda.bindings.__version__)
    except Exception:  # version is informational only
        return "?"


def call(result: Any, what: str) -> Any:
    """Check a cuda-python result tuple; return its value (None, one value, or a tuple of values)."""
    rt = runtime()
    err = result[0] if isinstance(result, tuple) else result
    if err != rt.cudaError_t.cudaSuccess:
        name = rt.cudaGetErrorName(err)[1]
        text = rt.cudaGetErrorString(err)[1]
        name = name.decode() if isinstance(name, bytes) else str(name)
        text = text.decode() if isinstance(text, bytes) else str(text)
        if err == rt.cudaError_t.cudaErrorInsufficientDriver:
            raise CudaUnavailable(f"{what} failed: {name}: {text} (no NVIDIA driver on this machine, or one older than the "
                                  f"CUDA major of this cuda-python {_bindings_version()})")
        if err == rt.cudaError_t.cudaErrorNoDevice:
            raise CudaUnavailable(f"{what} failed: {name}: no CUDA-capable GPU is visible")
        raise CudaError(f"{what} failed: {name}: {text}")
    rest = result[1:] if isinstance(result, tuple) else ()
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


def device_count() -> int:
    """Number of CUDA devices; raises CudaUnavailable when there is no driver or no GPU."""
    n = int(call(runtime().cudaGetDeviceCount(), "cudaGetDeviceCount"))
    if n == 0:
        raise CudaUnavailable("no CUDA device found")
    return n


def device_name_and_capability(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of ``device``."""
    device_count()
    props = call(runtime().cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name
    name = name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(name, (bytes, bytearray)) else str(name)
    return name.strip(), f"{props.major}.{props.minor}"


class PinnedHostBuffer:
    """Page-locked host memory viewed as one numpy array (so async copies really are asynchronous and DMA-able)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.nbytes = max(1, int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize)
        self.ptr = int(call(runtime().cudaMallocHost(self.nbytes), "cudaMallocHost"))
        raw = (ctypes.c_byte * self.nbytes).from_address(self.ptr)
        self.array: np.ndarray = np.frombuffer(memoryview(raw).cast("B"), dtype=self.dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)
        self.array[...] = 0

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            call(runtime().cudaFreeHost(ptr), "cudaFreeHost")


class DeviceBuffer:
    """Device memory of ``nbytes`` bytes; ``ptr`` is the address TensorRT binds by tensor name."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(1, int(nbytes))
        self.ptr = int(call(runtime().cudaMalloc(self.nbytes), "cudaMalloc"))

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            call(runtime().cudaFree(ptr), "cudaFree")


class CudaStream:
    """A non-blocking stream (does not synchronise with the legacy default stream)."""

    def __init__(self) -> None:
        rt = runtime()
        self.handle: Any = call(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self.address = int(self.handle)  # what TensorRT's execute_async_v3 takes

    def synchronize(self) -> None:
        call(runtime().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def destroy(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            call(runtime().cudaStreamDestroy(handle), "cudaStreamDestroy")


class CudaGraph:
    """A captured and instantiated CUDA graph of work enqueued on one stream.

    Usage: ``g = CudaGraph.capture(stream, enqueue)`` where ``enqueue()`` issues
    the work (copies, TensorRT enqueue) on ``stream``; then ``g.launch()`` replays
    it with one call. Capture mode is thread-local so another thread's CUDA
    calls cannot invalidate the capture.
    """

    def __init__(self, graph: Any, exec_: Any, stream: CudaStream) -> None:
        self._graph = graph
        self._exec = exec_
        self._stream = stream

    @classmethod
    def capture(cls, stream: CudaStream, enqueue: Any) -> "CudaGraph":
        rt = runtime()
        call(rt.cudaStreamBeginCapture(stream.handle, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
             "cudaStreamBeginCapture")
        try:
            enqueue()
        except BaseException:
            # End the capture whatever happened, or the stream stays unusable.
            graph = rt.cudaStreamEndCapture(stream.handle)
            if graph[0] == rt.cudaError_t.cudaSuccess and graph[1] is not None:
                rt.cudaGraphDestroy(graph[1])
            raise
        graph = call(rt.cudaStreamEndCapture(stream.handle), "cudaStreamEndCapture")
        try:
            exec_ = call(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except CudaError:
            rt.cudaGraphDestroy(graph)
            raise
        return cls(graph, exec_, stream)

    def launch(self) -> None:
        call(runtime().cudaGraphLaunch(self._exec, self._stream.handle), "cudaGraphLaunch")

    def destroy(self) -> None:
        rt = runtime()
        if self._exec is not None:
            call(rt.cudaGraphExecDestroy(self._exec), "cudaGraphExecDestroy")
            self._exec = None
        if self._graph is not None:
            call(rt.cudaGraphDestroy(self._graph), "cudaGraphDestroy")
            self._graph = None


def memcpy_htod_async(dst: int, src: int, nbytes: int, stream: CudaStream) -> None:
    rt = runtime()
    call(rt.cudaMemcpyAsync(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.handle), "cudaMemcpyAsync(H2D)")


def memcpy_dtoh_async(dst: int, src: int, nbytes: int, stream: CudaStream) -> None:
    rt = runtime()
    call(rt.cudaMemcpyAsync(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.handle), "cudaMemcpyAsync(D2H)")


def memcpy_htod(dst: int, src: int, nbytes: int) -> None:
    rt = runtime()
    call(rt.cudaMemcpy(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy(H2D)")


class CudaDeviceCopy:
    """Calibration batches to GPU memory: one device buffer per input, allocated once, refilled per batch."""

    def __init__(self) -> None:
        self._buffers: list[DeviceBuffer] = []

    def allocate(self, name: str, nbytes: int) -> int:
        buf = DeviceBuffer(nbytes)
        self._buffers.append(buf)
        return buf.ptr

    def copy_to_device(self, address: int, array: np.ndarray) -> None:
        memcpy_htod(address, int(array.ctypes.data), int(array.nbytes))

    def free(self) -> None:
        while self._buffers:
            self._buffers.pop().free()
