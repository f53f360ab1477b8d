"""The engine the daemon activates at start, for ``engine.backend: tensorrt`` or ``auto``.

A valid, verified cached engine is loaded; a missing, stale or corrupt one is
rebuilt from the model and verified first, and every such decision is
reported on stderr (journald under systemd). Any failure (no TensorRT when
``tensorrt`` was asked for, a model that fails its checks, an engine that fails
verification) is a :class:`BackendError`: the daemon does not start, so the
robot never moves on an unverified engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .backend import BackendError, InferenceBackend
from .cache_key import Precision
from .engine_cache import EngineCache, resolve_cache_dir
from .platform_detect import RequestedBackend
from .shape_profile import InputShape


def _stderr(msg: str) -> None:
    print(f"edgepilot: {msg}", file=sys.stderr, flush=True)


def resolve_against(base: Path, value: str | None) -> Path | None:
    """A profile's path option: ~ expanded, relative paths against the profile's folder; None when unset."""
    if not value:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def load_engine_at_start(model_path: Path, *, backend: RequestedBackend, precision: Precision, base_dir: Path,
                         cache_dir: str | None = None, calibration_dir: str | None = None, intra_op_threads: int = 1,
                         force_rebuild: bool = False, report: Callable[[str], None] = _stderr,
                         shapes: Mapping[str, InputShape] | None = None,
                         output_names: tuple[str, ...] | None = None) -> InferenceBackend:
    """Provision (reuse or rebuild, verify) and open the engine for a profile's ``engine`` section.

    ``shapes`` and ``output_names``: what a TorchScript export needs and its archive lacks (the daemon takes them
    from the profile: daemon/inference/backend_loading.py)."""
    from .calibration_batches import CalibrationDataError
    from .engine_cache import CacheError
    from .engine_provisioning import BuildRequest, open_engine, provision_engine
    from .model_check import ModelCheckError

    cache = EngineCache(resolve_cache_dir(None, resolve_against(base_dir, cache_dir)))
    request = BuildRequest(model=model_path, backend=backend, precision=precision,
                           calib_dir=resolve_against(base_dir, calibration_dir), force=force_rebuild,
                           dynamic_dims_default_one=True, shapes=dict(shapes or {}), output_names=output_names)
    try:
        result = provision_engine(request, cache, report=report)
    except (ModelCheckError, CalibrationDataError, CacheError, OSError) as err:
        raise BackendError(f"cannot provide an engine for {model_path.name}: {err}") from None
    entry = result.entry
    assert entry.metadata is not None
    key = entry.metadata.key
    what = "TensorRT engine" if key.backend == "tensorrt" else "ONNX Runtime plan"
    if result.action == "built":
        report(f"built and verified {what} {entry.meta_path.stem} ({key.precision}) for {model_path.name}: "
               + "; ".join(result.reasons))
    else:
        report(f"using cached verified {what} {entry.meta_path.stem} ({key.precision}) from {cache.root}")
    for name in result.removed_stale:
        report(f"removed stale engine {name}")
    return open_engine(entry, intra_op_threads=intra_op_threads)
