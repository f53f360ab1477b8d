"""Build a TensorRT engine from a checked ONNX model (TensorRT 10 Python API).

Build it on the robot itself: an engine is specific to the GPU (and DLA core),
the TensorRT version and the precision it was built for. TensorRT is imported
only inside these functions, so the module imports anywhere; it is type-checked
against ``tensorrt-stubs`` (tests/engines/test_mypy_engines.py).

* Timing cache: tactic timings persist in ``<cache>/timing/`` per device and
  TensorRT version, so rebuilding after a model change takes seconds, not
  minutes. Concurrent builders merge their timings under a file lock.
* Progress: TensorRT's ``IProgressMonitor`` drives :class:`BuildProgress`.
* int8: ``IInt8EntropyCalibrator2`` fed from calibration batches (FP16 is also
  enabled so layers without int8 kernels run in half precision, not fp32),
  with a calibration cache so a rebuild does not calibrate again.
* DLA: ``default_device_type=DLA`` on the given core with GPU fallback; DLA runs
  fp16 or int8 only.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .backend import EngineBuildError
from .build_progress import BuildProgress
from .cache_key import Precision
from .calibration_batches import CalibratorFeed
from .platform_detect import require_tensorrt
from .shape_profile import InputShape

if TYPE_CHECKING:
    import tensorrt as trt
    from typing_extensions import Buffer


@dataclass(frozen=True)
class TensorRTBuildOptions:
    """Builder settings. ``workspace_mb``: workspace pool limit, MiB (None: TensorRT's default).
    ``dla_core``: DLA core index (None: GPU). ``optimization_level``: 0-5, TensorRT's default 3."""

    precision: Precision = "fp32"
    workspace_mb: int | None = None
    dla_core: int | None = None
    optimization_level: int = 3


def collecting_logger(notes: list[str]) -> "trt.ILogger":
    import tensorrt as trt

    class CollectingLogger(trt.ILogger):
        """Keeps TensorRT's warnings and errors for the build report instead of printing them unasked."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
                notes.append(f"TensorRT error: {msg}")
            elif severity == trt.ILogger.WARNING:
                notes.append(f"TensorRT warning: {msg}")

    return CollectingLogger()


def _progress_monitor(progress: BuildProgress) -> "trt.IProgressMonitor":
    import tensorrt as trt

    class ProgressMonitor(trt.IProgressMonitor):
        """Forwards TensorRT's build phases to the progress bar; returning False from step_complete cancels."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return progress.step_complete(phase_name, step)

        def phase_finish(self, phase_name: str) -> None:
            progress.phase_finish(phase_name)

    return ProgressMonitor()


def entropy_calibrator(feed: CalibratorFeed) -> "trt.IInt8EntropyCalibrator2":
    """TensorRT's entropy calibrator (v2) whose callbacks are :class:`CalibratorFeed`'s."""
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.feed = feed

        def get_batch_size(self) -> int:
            return feed.get_batch_size()

        def get_batch(self, names: list[str]) -> list[int]:
            return feed.get_batch(names)

        # TensorRT takes None as "no cache yet"; the stubs only name the buffer case.
        def read_calibration_cache(self) -> bytes | None:
            return feed.read_calibration_cache()

        def write_calibration_cache(self, cache: "Buffer") -> None:
            feed.write_calibration_cache(memoryview(cache))

    return EntropyCalibrator()


@contextmanager
def _ctrl_c_cancels(progress: BuildProgress | None) -> Iterator[None]:
    """During a build (minutes on a Jetson), Ctrl-C asks TensorRT to stop at its next step instead of killing it mid-write."""
    if progress is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: progress.cancel())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _dims_list(dims: "trt.Dims") -> list[int]:
    return [int(dims[i]) for i in range(len(dims))]


def _dims(shape: tuple[int, ...]) -> "trt.Dims":
    import tensorrt as trt

    return trt.Dims(list(shape))


def build_tensorrt_engine(onnx_path: Path, shapes: Mapping[str, InputShape], options: TensorRTBuildOptions, *,
                          timing_cache: Path | None = None,
                          timing_cache_lock: Callable[[], AbstractContextManager[None]] | None = None,
                          calibration: CalibratorFeed | None = None, progress: BuildProgress | None = None
                          ) -> tuple[bytes, list[str]]:
    """Parse ``onnx_path`` and build a serialised engine; return (engine bytes, notes for the report).

    ``shapes`` holds every input's (min, opt, max); an optimisation profile is
    added when any input is dynamic in the network. Raises EngineBuildError
    with the parser's or builder's own messages.
    """
    require_tensorrt()
    import tensorrt as trt

    notes: list[str] = []
    logger = collecting_logger(notes)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT's ONNX parser rejected {onnx_path.name}:\n  " + "\n  ".join(errors or notes))

    config = builder.create_builder_config()
    if options.workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    config.builder_optimization_level = options.optimization_level

    profile = _add_optimization_profile(builder, network, config, shapes)
    _configure_dla(builder, config, options)
    # int8: this local keeps the calibrator alive for the whole build, while TensorRT calls back into it.
    calibrator = _configure_precision(builder, config, options, calibration, profile, notes)

    if timing_cache is not None:
        data = timing_cache.read_bytes() if timing_cache.is_file() else b""
        cache = config.create_timing_cache(data)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            notes.append(f"timing cache {timing_cache.name} belongs to another device or TensorRT version; starting a new one")
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    if progress is not None:
        monitor = _progress_monitor(progress)  # kept alive by this local for the whole build
        config.progress_monitor = monitor

    engine = _build_serialized(builder, network, config, calibration, progress, notes)

    if timing_cache is not None:
        _save_timing_cache(config, timing_cache, timing_cache_lock)
    return engine, notes


def _add_optimization_profile(builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig",
                              shapes: Mapping[str, InputShape]) -> "trt.IOptimizationProfile | None":
    """Checks every network input has a shape; adds the (min, opt, max) profile when any input is dynamic."""
    profile = None
    dynamic = False
    for i in range(network.num_inputs):
        t = network.get_input(i)
        if t.name not in shapes:
            raise EngineBuildError(f"no shape for network input {t.name!r}")
        dynamic = dynamic or any(t.shape[j] < 0 for j in range(len(t.shape)))
    if dynamic:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            s = shapes[network.get_input(i).name]
            profile.set_shape(s.name, _dims(s.min), _dims(s.opt), _dims(s.max))
        config.add_optimization_profile(profile)
    return profile


def _configure_dla(builder: "trt.Builder", config: "trt.IBuilderConfig", options: TensorRTBuildOptions) -> None:
    import tensorrt as trt

    if options.dla_core is not None:
        if options.precision == "fp32":
            raise EngineBuildError("DLA runs fp16 or int8 only: pass --precision fp16 (or int8 with --calib)")
        if options.dla_core >= builder.num_DLA_cores:
            raise EngineBuildError(f"--dla {options.dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _configure_precision(builder: "trt.Builder", config: "trt.IBuilderConfig", options: TensorRTBuildOptions,
                         calibration: CalibratorFeed | None, profile: "trt.IOptimizationProfile | None",
                         notes: list[str]) -> "trt.IInt8EntropyCalibrator2 | None":
    """The fp16 and int8 flags and the int8 calibrator; returns the calibrator, for the caller to keep alive."""
    import tensorrt as trt

    calibrator = None
    if options.precision in ("fp16", "int8"):
        if not builder.platform_has_fast_fp16:
            notes.append("this GPU has no fast fp16; fp16 layers may be slower than fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    if options.precision == "int8":
        if calibration is None:
            raise EngineBuildError("int8 needs calibration data: pass --calib DIR (a folder of .npy/.npz input batches)")
        if not builder.platform_has_fast_int8:
            notes.append("this GPU has no fast int8; int8 layers may be slower than fp16")
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = entropy_calibrator(calibration)  # returned: the caller keeps it alive for the build
        config.int8_calibrator = calibrator
        if profile is not None:
            config.set_calibration_profile(profile)
    return calibrator


def _build_serialized(builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig",
                      calibration: CalibratorFeed | None, progress: BuildProgress | None, notes: list[str]) -> bytes:
    """Runs the build (Ctrl-C cancels it); raises with the calibrator's or the builder's own error."""
    with _ctrl_c_cancels(progress):
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if progress is not None:
                progress.close()
    if calibration is not None and calibration.error is not None:
        raise EngineBuildError(f"int8 calibration failed: {calibration.error}")
    if serialized is None:
        if progress is not None and progress.cancelled:
            raise EngineBuildError("the build was cancelled")
        raise EngineBuildError("TensorRT could not build the engine:\n  " + "\n  ".join(n for n in notes if "error" in n))
    return bytes(memoryview(serialized))


def _save_timing_cache(config: "trt.IBuilderConfig", path: Path,
                       lock: Callable[[], AbstractContextManager[None]] | None) -> None:
    """Merge this build's timings into the file (another builder may have added its own meanwhile), atomically."""
    from contextlib import nullcontext

    from edgepilot.common.atomic_file import write_bytes_atomic

    ours = config.get_timing_cache()
    with (lock() if lock is not None else nullcontext()):
        if path.is_file():
            merged = config.create_timing_cache(path.read_bytes())
            merged.combine(ours, ignore_mismatch=True)
            data = bytes(memoryview(merged.serialize()))
        else:
            data = bytes(memoryview(ours.serialize()))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)


def inspect_tensorrt_engine(engine_bytes: bytes) -> dict[str, object]:
    """IO tensors (name, mode, shape, dtype) and layer count of a serialised engine."""
    require_tensorrt()
    import tensorrt as trt

    notes: list[str] = []
    runtime = trt.Runtime(collecting_logger(notes))
    engine = runtime.deserialize_cuda_engine(engine_bytes)
    if engine is None:
        raise EngineBuildError("TensorRT cannot deserialise this engine (built by another TensorRT version or for another "
                               "GPU?):\n  " + "\n  ".join(notes))
    tensors = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        tensors.append({"name": name,
                        "mode": "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output",
                        "shape": [int(d) for d in _dims_list(engine.get_tensor_shape(name))],
                        "dtype": str(engine.get_tensor_dtype(name))})
    return {"tensors": tensors, "layers": engine.num_layers, "tensorrt_version": trt.__version__}
