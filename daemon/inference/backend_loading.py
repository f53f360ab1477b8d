"""The inference backend a profile's ``engine`` section asks for (shared by replay and the ros2 lifecycle node).

``onnxruntime``: the model through ONNX Runtime. ``tensorrt``/``auto``: the
cached, verified engine (rebuilt if stale), as ``edgepilot run`` loads it
(:func:`edgepilot.engines.daemon_engine.load_engine_at_start`). Raises
:class:`~edgepilot.engines.backend.BackendError` when it cannot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepilot.engines.backend import InferenceBackend

from edgepilot.daemon.config.profile import Profile


def profile_input_shapes(profile: Profile) -> dict[str, Any]:
    """The model input shapes the profile knows: the observation's [1, N], and every ``engine.inputs`` entry that
    gives a ``shape``. A TorchScript archive keeps no shapes; these let the daemon (and ``edgepilot engine build
    --profile``) export it without ``--shape``."""
    from edgepilot.engines.shape_profile import InputShape

    name = profile.observation.input_name
    shapes = {name: InputShape.fixed(name, (1, profile.observation_size()))}
    for n, src in profile.engine.inputs.items():
        shape = src.encoder.output_shape() if src.source == "image" else src.shape
        if shape is not None:
            shapes[n] = InputShape.fixed(n, shape)
    return shapes


def torchscript_output_names(profile: Profile) -> tuple[str, ...]:
    e = profile.engine
    return e.torchscript_outputs if e.torchscript_outputs is not None else (e.output_name,)


def open_model_backend(path: Path, backend: str, *, base_dir: Path, intra_op_threads: int = 1,
                       precision: str = "fp32", cache_dir: str | None = None) -> InferenceBackend:
    """An ONNX model opened as a profile's engine section would open it, from its path and backend kind alone
    (a detector's model: daemon/detection/). ``tensorrt``/``auto``: the cached, verified engine."""
    if backend == "onnxruntime":
        from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, intra_op_threads)
    from edgepilot.engines.daemon_engine import load_engine_at_start

    return load_engine_at_start(path, backend=backend, precision=precision, base_dir=base_dir,  # type: ignore[arg-type]
                                cache_dir=cache_dir, intra_op_threads=intra_op_threads)


def open_backend(profile: Profile, *, force_rebuild: bool = False) -> InferenceBackend:
    e = profile.engine
    if e.backend == "onnxruntime":
        return open_model_backend(profile.model_path, e.backend, base_dir=profile.base_dir,
                                  intra_op_threads=e.intra_op_threads)
    from edgepilot.engines.daemon_engine import load_engine_at_start

    from edgepilot.engines.torchscript_module import TORCHSCRIPT_SUFFIXES, is_torchscript

    path = profile.model_path
    torchscript = path.suffix.lower() in TORCHSCRIPT_SUFFIXES or is_torchscript(path)
    return load_engine_at_start(path, backend=e.backend, precision=e.precision, base_dir=profile.base_dir,
                                cache_dir=e.cache_dir, calibration_dir=e.calibration_dir,
                                intra_op_threads=e.intra_op_threads, force_rebuild=force_rebuild,
                                shapes=profile_input_shapes(profile) if torchscript else None,
                                output_names=torchscript_output_names(profile) if torchscript else None)
