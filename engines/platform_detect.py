"""Which inference runtime this machine has, and the platform half of an engine key.

TensorRT counts as present only when ``import tensorrt`` yields the real
bindings (a ``Builder`` class): the ``tensorrt-stubs`` package used for type
checking installs a ``tensorrt`` folder holding only ``.pyi`` files, which
Python imports as an empty namespace package.
"""

from __future__ import annotations

import platform as _platform
from pathlib import Path
from types import ModuleType
from typing import Literal

from .backend import BackendError
from .cache_key import EngineBackend, PlatformInfo

RequestedBackend = Literal["auto", "tensorrt", "onnxruntime"]

# CPU features that change which ONNX Runtime kernels (and so which optimised
# plan) a CPU gets; listed in the key so a plan never moves to a lesser CPU.
_CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "asimd", "asimddp", "sve",
              "i8mm")
# x86 instructions that multiply u8 by s8 into 32-bit sums directly (no 16-bit intermediate to saturate).
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


class TensorRTUnavailable(BackendError):
    """TensorRT (or the GPU it needs) is not usable on this machine; the message says why."""


def require_tensorrt() -> ModuleType:
    """Import TensorRT or raise TensorRTUnavailable saying what is missing."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as err:
        raise TensorRTUnavailable(f"TensorRT is not installed here (import tensorrt: {err}); on a Jetson it comes with JetPack "
                                  "(apt install python3-libnvinfer)") from None
    if not hasattr(trt, "Builder"):
        raise TensorRTUnavailable("TensorRT is not installed here: 'tensorrt' resolves to type stubs only (tensorrt-stubs), "
                                  "not the TensorRT bindings; on a Jetson TensorRT comes with JetPack (python3-libnvinfer)")
    return trt


def tensorrt_status() -> tuple[bool, str]:
    """(usable, reason): TensorRT importable and a CUDA GPU visible."""
    try:
        trt = require_tensorrt()
        from .cuda_device import device_name_and_capability

        name, cc = device_name_and_capability(0)
    except BackendError as err:
        return False, str(err)
    return True, f"TensorRT {trt.__version__} on {name} (compute capability {cc})"


def choose_backend(requested: RequestedBackend) -> tuple[EngineBackend, str | None]:
    """Resolve 'auto'; return (backend, note). The note says why TensorRT was not chosen, for the user to see."""
    if requested == "onnxruntime":
        return "onnxruntime", None
    ok, reason = tensorrt_status()
    if ok:
        return "tensorrt", None
    if requested == "tensorrt":
        raise TensorRTUnavailable(reason)
    return "onnxruntime", f"{reason}. Building the ONNX Runtime plan instead (pass --backend tensorrt to insist on TensorRT)"


def _cpu_model() -> tuple[str, set[str]]:
    model, flags = "", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and not model:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model or _platform.processor() or "unknown cpu", flags


def int8_u8s8_saturates() -> bool:
    """True on an x86-64 CPU without VNNI, where ONNX Runtime's u8 x s8 int8 kernels can saturate.

    There MLAS multiplies with VPMADDUBSW, which adds two u8*s8 products into a signed 16-bit lane with saturation:
    255 * 127 * 2 exceeds 32767, so inputs near the ends of their range with large weights clip. Measured on an
    AVX2-only AMD EPYC: the test MLP's int8 plan was 0.41 off fp32 on one calibration row (0.07 with the same QDQ
    graph unfused), with ONNX Runtime 1.20 and 1.32 alike. ARM and VNNI CPUs have no such intermediate.
    """
    if _platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    return not (_cpu_model()[1] & _VNNI_FLAGS)


def detect_platform(backend: EngineBackend, dla_core: int | None = None) -> PlatformInfo:
    """The running machine's platform for ``backend``; raises TensorRTUnavailable for 'tensorrt' without TensorRT."""
    if backend == "tensorrt":
        trt = require_tensorrt()
        from .cuda_device import device_name_and_capability

        name, cc = device_name_and_capability(0)
        return PlatformInfo(backend="tensorrt", runtime_version=str(trt.__version__), device=name, compute_capability=cc)
    import onnxruntime as ort

    model, flags = _cpu_model()
    isa = ",".join(f for f in _CPU_FLAGS if f in flags)
    return PlatformInfo(backend="onnxruntime", runtime_version=str(ort.__version__),
                        device=f"{_platform.machine()} {model}", compute_capability=f"cpu:{isa}")
