"""The cuda-python memory/stream/graph path the TensorRT backend uses, measured on its own.

For the example policy's tensors (observation 1x5 float32 = 20 B in, action
1x2 float32 = 8 B out), host wall-clock latency per operation, each followed by
a stream synchronise (the control loop waits for its result every tick):

* ``h2d_pinned``    cudaMemcpyAsync of the observation from pinned host memory
* ``h2d_pageable``  the same from ordinary (pageable) numpy memory, for comparison
* ``d2h_pinned``    cudaMemcpyAsync of the action to pinned host memory
* ``kernel_launch`` an empty kernel (compiled with NVRTC; if NVRTC is missing,
                    an 8-byte cudaMemsetAsync stands in and ``kernel`` says so)
* ``tick_stream``   one tick without TensorRT: H2D observation, kernel, an 8-byte
                    device-to-device copy (standing in for the engine writing the
                    action from the observation), D2H action; enqueued call by call
* ``tick_graph``    the same four captured once as a CUDA graph, one cudaGraphLaunch;
                    checked to move data (the action must come back equal to the
                    first two observation values)

Run: ``python bench/cuda_path.py [--iterations N] [--warmup N]``. Prints one
JSON object (latencies in microseconds: p50, p90, p99, max, mean). Without a
GPU (or without cuda-python) it prints ``{"skipped": true, "reason": ...}``
and exits 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np



def _cuda_device() -> Any:
    """edgepilot.engines.cuda_device, installed or straight from this checkout's engines/ (needs only numpy)."""
    try:
        from edgepilot.engines import cuda_device

        return cuda_device
    except ImportError:
        import importlib
        import importlib.util

        engines = Path(__file__).resolve().parents[1] / "engines"
        spec = importlib.util.spec_from_file_location("edgepilot_engines_checkout", engines / "__init__.py",
                                                      submodule_search_locations=[str(engines)])
        assert spec is not None and spec.loader is not None
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = pkg
        spec.loader.exec_module(pkg)
        return importlib.import_module(f"{spec.name}.cuda_device")

OBS_SHAPE, ACTION_SHAPE = (1, 5), (1, 2)

_NULL_KERNEL = b'extern "C" __global__ void edgepilot_null_kernel() {}'


def _stats(samples_ns: np.ndarray) -> dict[str, float]:
    us = samples_ns / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {"p50": round(float(p50), 2), "p90": round(float(p90), 2), "p99": round(float(p99), 2),
            "max": round(float(us.max()), 2), "mean": round(float(us.mean()), 2), "n": int(us.size)}


def _time(fn: Callable[[], None], iterations: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    out = np.empty(iterations, np.int64)
    clock = time.perf_counter_ns
    for i in range(iterations):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return _stats(out)


def _null_kernel(major: int, minor: int) -> tuple[Any, str]:
    """(CUfunction, description) for an empty kernel, or (None, why) if NVRTC cannot compile one here."""
    try:
        from cuda.bindings import driver, nvrtc
    except ImportError as err:
        return None, f"cuda.bindings.nvrtc unavailable ({err})"
    try:
        err, prog = nvrtc.nvrtcCreateProgram(_NULL_KERNEL, b"edgepilot_null.cu", 0, [], [])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return None, f"nvrtcCreateProgram: {err}"
        opts = [f"--gpu-architecture=compute_{major}{minor}".encode()]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return None, f"nvrtcCompileProgram: {err}"
        err, size = nvrtc.nvrtcGetPTXSize(prog)
        ptx = b" " * size
        (err,) = nvrtc.nvrtcGetPTX(prog, ptx)
        err, module = driver.cuModuleLoadData(ptx)
        if err != driver.CUresult.CUDA_SUCCESS:
            return None, f"cuModuleLoadData: {err}"
        err, fn = driver.cuModuleGetFunction(module, b"edgepilot_null_kernel")
        if err != driver.CUresult.CUDA_SUCCESS:
            return None, f"cuModuleGetFunction: {err}"
        return fn, "empty kernel, 1 block x 1 thread (NVRTC)"
    except Exception as err:  # libnvrtc missing surfaces as RuntimeError/OSError from the loader
        return None, f"NVRTC unavailable ({type(err).__name__}: {err})"


def measure(iterations: int, warmup: int) -> dict[str, Any]:
    cd = _cuda_device()
    rt = cd.runtime()
    name, cc = cd.device_name_and_capability(0)
    major, minor = (int(x) for x in cc.split("."))
    call = cd.call
    call(rt.cudaFree(0), "cudaFree(0)")  # creates the primary context, so driver-API calls below have one

    stream = cd.CudaStream()
    obs = cd.PinnedHostBuffer(OBS_SHAPE, np.dtype(np.float32))
    action = cd.PinnedHostBuffer(ACTION_SHAPE, np.dtype(np.float32))
    obs_pageable = np.zeros(OBS_SHAPE, np.float32)
    d_obs = cd.DeviceBuffer(obs.nbytes)
    d_action = cd.DeviceBuffer(action.nbytes)
    h2d, d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
    d2d = rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice
    s = stream.handle

    kernel, kernel_desc = _null_kernel(major, minor)
    if kernel is not None:
        from cuda.bindings import driver

        def launch() -> None:
            (err,) = driver.cuLaunchKernel(kernel, 1, 1, 1, 1, 1, 1, 0, s, 0, 0)
            if err != driver.CUresult.CUDA_SUCCESS:
                raise cd.CudaError(f"cuLaunchKernel: {err}")
    else:
        kernel_desc = f"cudaMemsetAsync of 8 bytes (no kernel: {kernel_desc})"

        def launch() -> None:
            call(rt.cudaMemsetAsync(d_action.ptr, 0, 8, s), "cudaMemsetAsync")

    def sync() -> None:
        call(rt.cudaStreamSynchronize(s), "cudaStreamSynchronize")

    def h2d_pinned() -> None:
        call(rt.cudaMemcpyAsync(d_obs.ptr, obs.ptr, obs.nbytes, h2d, s), "H2D")
        sync()

    def h2d_pageable() -> None:
        call(rt.cudaMemcpyAsync(d_obs.ptr, obs_pageable.ctypes.data, obs_pageable.nbytes, h2d, s), "H2D pageable")
        sync()

    def d2h_pinned() -> None:
        call(rt.cudaMemcpyAsync(action.ptr, d_action.ptr, action.nbytes, d2h, s), "D2H")
        sync()

    def kernel_launch() -> None:
        launch()
        sync()

    def enqueue_tick() -> None:
        call(rt.cudaMemcpyAsync(d_obs.ptr, obs.ptr, obs.nbytes, h2d, s), "H2D")
        launch()
        call(rt.cudaMemcpyAsync(d_action.ptr, d_obs.ptr, action.nbytes, d2d, s), "D2D")
        call(rt.cudaMemcpyAsync(action.ptr, d_action.ptr, action.nbytes, d2h, s), "D2H")

    def tick_stream() -> None:
        enqueue_tick()
        sync()

    results: dict[str, Any] = {}
    for label, fn in [("h2d_pinned", h2d_pinned), ("h2d_pageable", h2d_pageable), ("d2h_pinned", d2h_pinned),
                      ("kernel_launch", kernel_launch), ("tick_stream", tick_stream)]:
        results[label] = _time(fn, iterations, warmup)

    graph = cd.CudaGraph.capture(stream, enqueue_tick)

    def tick_graph() -> None:
        graph.launch()
        sync()

    results["tick_graph"] = _time(tick_graph, iterations, warmup)
    # The replayed graph must really move this tick's data, not the data present at capture time.
    obs.array[...] = np.arange(1, 6, dtype=np.float32).reshape(OBS_SHAPE)
    tick_graph()
    graph_moves_data = bool(np.array_equal(action.array.reshape(-1), obs.array.reshape(-1)[:2]))
    graph.destroy()
    for b in (obs, action, d_obs, d_action):
        b.free()
    stream.destroy()

    import cuda.bindings

    return {
        "skipped": False,
        "device": name,
        "compute_capability": cc,
        "driver_version": call(rt.cudaDriverGetVersion(), "cudaDriverGetVersion"),
        "runtime_version": call(rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"),
        "cuda_python": str(cuda.bindings.__version__),
        "python": platform.python_version(),
        "tensors": {"obs": {"shape": list(OBS_SHAPE), "dtype": "float32", "bytes": 20},
                    "action": {"shape": list(ACTION_SHAPE), "dtype": "float32", "bytes": 8}},
        "kernel": kernel_desc,
        "graph_moves_data": graph_moves_data,
        "iterations": iterations,
        "warmup": warmup,
        "latency_us": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=500)
    args = ap.parse_args(argv)
    try:
        out = measure(args.iterations, args.warmup)
    except _cuda_device().CudaUnavailable as err:
        print(f"cuda_path: no usable GPU here, nothing measured: {err}", file=sys.stderr)
        print(json.dumps({"skipped": True, "reason": str(err)}))
        return 0
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
