"""The inference backend a profile's ``engine`` section asks for (shared by replay and the ros2 lifecycle node).

``onnxruntime``: the model through ONNX Runtime. ``tensorrt``/``auto``: the
cached, verified engine (rebuilt if stale), as ``edgepilot run`` loads it
(:func:`edgepilot.engines.daemon_engine.load_engine_at_start`). Raises
:class:`~edgepilot.engines.backend.BackendError` when it cannot.
"""

from __future__ import annotations

from edgepilot.engines.backend import InferenceBackend

from edgepilot.daemon.config.profile import Profile


def open_backend(profile: Profile, *, force_rebuild: bool = False) -> InferenceBackend:
    e = profile.engine
    if e.backend == "onnxruntime":
        from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(profile.model_path, e.intra_op_threads)
    from edgepilot.engines.daemon_engine import load_engine_at_start

    return load_engine_at_start(profile.model_path, backend=e.backend, precision=e.precision, base_dir=profile.base_dir,
                                cache_dir=e.cache_dir, calibration_dir=e.calibration_dir,
                                intra_op_threads=e.intra_op_threads, force_rebuild=force_rebuild)
