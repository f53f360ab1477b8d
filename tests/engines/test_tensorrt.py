"""TensorRT and CUDA: what runs here (the absent-TensorRT paths), and GPU tests that skip without one.

The GPU tests run as they are on a Jetson or any machine with TensorRT 10 and
cuda-python: a real engine built from the example policy, run through the
TensorRT backend (pinned buffers, CUDA graph) and compared with ONNX Runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepilot.engines.cuda_device import CudaUnavailable, device_count
from edgepilot.engines.platform_detect import TensorRTUnavailable, require_tensorrt, tensorrt_status

from .onnx_models import EXAMPLE_POLICY

ROOT = Path(__file__).resolve().parents[2]
TRT_OK, TRT_WHY = tensorrt_status()
needs_tensorrt = pytest.mark.skipif(not TRT_OK, reason=f"needs TensorRT 10 and an NVIDIA GPU: {TRT_WHY}")


def _gpu_present() -> bool:
    try:
        return device_count() > 0
    except CudaUnavailable:
        return False


# ----------------------------------------------------------------------------- runs everywhere


def test_modules_import_without_tensorrt() -> None:
    code = ("import edgepilot.engines.tensorrt_backend, edgepilot.engines.tensorrt_builder, edgepilot.engines.cuda_device, "
            "edgepilot.engine_cli, edgepilot.engines.engine_provisioning, sys; "
            "print('tensorrt_bindings' in sys.modules, 'onnx' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"], "TensorRT, onnx and torch are imported lazily"


@pytest.mark.skipif(TRT_OK, reason="TensorRT is installed here")
def test_absent_tensorrt_is_reported_not_crashed(tmp_path: Path) -> None:
    with pytest.raises(TensorRTUnavailable, match="TensorRT is not installed here"):
        require_tensorrt()
    from edgepilot.engines.tensorrt_backend import TensorRTBackend

    engine = tmp_path / "x.engine"
    engine.write_bytes(b"\0" * 16)
    with pytest.raises(TensorRTUnavailable, match="python3-libnvinfer"):
        TensorRTBackend(engine)


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present here")
def test_cuda_wrapper_without_gpu_raises_cuda_unavailable() -> None:
    from edgepilot.engines import cuda_device

    with pytest.raises(CudaUnavailable):
        cuda_device.PinnedHostBuffer((1, 5), np.dtype(np.float32))
    with pytest.raises(CudaUnavailable):
        cuda_device.device_name_and_capability(0)


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present here: run bench/cuda_path.py for the figures")
def test_cuda_bench_exits_cleanly_without_gpu() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "cuda_path.py"), "--iterations", "10"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["skipped"] is True and out["reason"]
    assert "no usable GPU here" in r.stderr


# ----------------------------------------------------------------------------- needs TensorRT and a GPU


@needs_tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_engine_matches_onnxruntime(tmp_path: Path, precision: str) -> None:
    from edgepilot.engines.engine_cache import EngineCache
    from edgepilot.engines.engine_provisioning import BuildRequest, open_engine, provision_engine
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
    from edgepilot.engines.tensorrt_backend import TensorRTBackend

    cache = EngineCache(tmp_path)
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="tensorrt", precision=precision), cache,  # type: ignore[arg-type]
                         report=lambda m: None)
    assert r.entry.metadata is not None and r.entry.metadata.key.backend == "tensorrt" and r.entry.metadata.verified
    assert list((tmp_path / "timing").glob("*.cache")), "the timing cache persists"
    engine = open_engine(r.entry)
    assert isinstance(engine, TensorRTBackend) and engine.uses_cuda_graph, engine.notes
    ref = OnnxRuntimeBackend(EXAMPLE_POLICY)
    obs = engine.inputs["obs"]
    for k in range(20):  # the graph replays fresh inputs every launch
        x = np.random.default_rng(k).standard_normal((1, 5)).astype(np.float32)
        obs[...] = x
        ref.inputs["obs"][...] = x
        engine.run()
        ref.run()
        tol = 1e-4 if precision == "fp32" else 1e-2
        np.testing.assert_allclose(engine.outputs["action"], ref.outputs["action"], atol=tol, rtol=tol)
    assert engine.inputs["obs"] is obs
    engine.close()
    engine.close()


@needs_tensorrt
def test_tensorrt_int8_with_calibrator(tmp_path: Path) -> None:
    from edgepilot.engines.engine_cache import EngineCache
    from edgepilot.engines.engine_provisioning import BuildRequest, provision_engine

    from .onnx_models import mlp

    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(8):
        np.save(calib / f"{i}.npy", np.random.default_rng(i).standard_normal((16, 5)).astype(np.float32))
    model = mlp(tmp_path / "policy.onnx")
    r = provision_engine(BuildRequest(model=model, backend="tensorrt", precision="int8", calib_dir=calib),
                         EngineCache(tmp_path / "cache"), report=lambda m: None)
    assert r.verification is not None and r.verification.passed
    assert list((tmp_path / "cache" / "calibration").glob("*.cache")), "the calibration cache is written"


@needs_tensorrt
def test_tensorrt_engine_rejects_wrong_recorded_io(tmp_path: Path) -> None:
    from edgepilot.engines.backend import BackendError, TensorSpec
    from edgepilot.engines.engine_cache import EngineCache
    from edgepilot.engines.engine_provisioning import BuildRequest, provision_engine
    from edgepilot.engines.tensorrt_backend import TensorRTBackend

    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="tensorrt"), EngineCache(tmp_path), report=lambda m: None)
    assert r.entry.engine_path is not None
    with pytest.raises(BackendError, match="differ from the recorded"):
        TensorRTBackend(r.entry.engine_path, expected_inputs=[TensorSpec("obs", (1, 6), np.dtype(np.float32))])
