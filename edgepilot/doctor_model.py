"""``edgepilot doctor``'s checks of the robot profile, its model (loaded and run as the daemon would) and the
engine cache the daemon will use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgepilot.doctor_check import Check


def check_config(config: Path | None) -> tuple[Check, Any]:
    from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile

    path = config if config is not None else default_profile_path()
    label = str(path) if config is not None else f"{path} (the embedded default; pass --config for the robot's)"
    try:
        profile = load_profile(path)
    except ProfileError as err:
        lines = str(err).splitlines()
        return Check("config", "blocker", " ".join(x.strip() for x in lines), f"edit {path} as the message says"), None
    required = [n for n, s in profile.streams.items() if s.required]
    return Check("config", "ok", f"profile {profile.name!r} from {label}: {len(profile.streams)} streams "
                                 f"({len(required)} required), {profile.loop.rate_hz:g} Hz, model {profile.model_path}"), profile


def check_engine(profile: Any) -> Check:
    """Load the ONNX model with ONNX Runtime and check it against the profile exactly as the daemon does; time it.

    For ``engine.backend: tensorrt/auto`` the daemon runs an engine built from
    this model; the model must fit the profile all the same, and the engine
    itself is the engine-cache check's business.
    """
    from edgepilot.daemon.action.twist import TwistActionMapper
    from edgepilot.daemon.service import check_backend_matches
    from edgepilot.engines.backend import BackendError
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    import numpy as np

    if profile.model_path.suffix.lower() != ".onnx":
        return Check("engine", "info", f"{profile.model_path.name} is not ONNX: its fit to the profile is checked when "
                                       "its engine is built (edgepilot engine build)")
    try:
        backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    except BackendError as err:
        return Check("engine", "blocker", f"{profile.model_path.name} does not load: {err}", "re-export the model to ONNX")
    try:
        out = backend.outputs.get(profile.engine.output_name)
        mapper = TwistActionMapper(profile.action, out.dtype if out is not None else np.float32)
        model_input, _ = check_backend_matches(profile, backend, mapper.action_size_needed)
        model_input[:] = 0.0
        backend.run()
        n = 20
        t0 = time.perf_counter()
        for _ in range(n):
            backend.run()
        per_ms = (time.perf_counter() - t0) / n * 1e3
    except BackendError as err:
        return Check("engine", "blocker", f"{profile.model_path.name} does not fit the profile: {err}",
                     "fix observation.terms / action.channels or the model")
    except Exception as err:  # noqa: BLE001 - any engine failure is what this check is for
        return Check("engine", "blocker", f"{profile.model_path.name} fails to run: {type(err).__name__}: {err}",
                     "re-export the model, or check the ONNX Runtime install")
    finally:
        backend.close()
    period_ms = 1e3 / profile.loop.rate_hz
    detail = (f"{profile.model_path.name} loads with ONNX Runtime and fits the profile; "
              f"{per_ms:.3f} ms per inference on the CPU (loop period {period_ms:.1f} ms)")
    if per_ms > 0.5 * period_ms:
        return Check("engine", "warn", detail, "the model takes over half the loop period: lower loop.rate_hz or use "
                                               "engine.backend: tensorrt")
    return Check("engine", "ok", detail)


def _profile_cache_dir(profile: Any) -> Path:
    from edgepilot.engines.engine_cache import resolve_cache_dir

    configured = getattr(profile.engine, "cache_dir", None)
    if configured and not Path(configured).expanduser().is_absolute():
        configured = str(profile.base_dir / configured)
    return resolve_cache_dir(None, configured)


def check_engine_cache(profile: Any) -> Check:
    """Does the engine cache hold an engine for this model that matches this machine?

    ``tensorrt``/``auto`` profiles: the key the daemon will look up at start is
    computed the way the daemon computes it (runtime version, device, model
    bytes, precision, shapes; nothing is built) and looked up. ``onnxruntime``
    profiles run the ONNX file as is: cached engines of the model are reported
    for information.
    """
    try:
        from edgepilot.engines.engine_cache import EngineCache
    except ImportError as err:
        return Check("engine-cache", "info", f"cache check unavailable in this build ({err}); the daemon loads "
                                             f"{profile.model_path.name} directly")
    backend = getattr(profile.engine, "backend", "onnxruntime")
    root = _profile_cache_dir(profile)
    build_cmd = (f"edgepilot engine build {profile.model_path} --backend {backend} "
                 f"--precision {getattr(profile.engine, 'precision', 'fp32')}" + (f" --cache-dir {root}"))
    if backend in ("tensorrt", "auto"):
        return _check_daemon_engine(profile, EngineCache(root), build_cmd)
    return _scan_cache(profile, EngineCache(root), build_cmd)


def _check_daemon_engine(profile: Any, cache: Any, build_cmd: str) -> Check:
    from edgepilot.engines.engine_provisioning import BuildRequest, resolve_build

    if not cache.root.is_dir():
        return Check("engine-cache", "warn", f"no engine cache at {cache.root}: the daemon will build and verify the "
                                             "engine at start (minutes for TensorRT)", f"build it now: {build_cmd}")
    calib = getattr(profile.engine, "calibration_dir", None)
    notes: list[str] = []
    try:
        r = resolve_build(BuildRequest(model=profile.model_path, backend=profile.engine.backend,
                                       precision=profile.engine.precision,
                                       calib_dir=(profile.base_dir / calib) if calib else None,
                                       dynamic_dims_default_one=True), cache, report=notes.append)
    except Exception as err:  # noqa: BLE001 - no TensorRT, unreadable cache, a model that fails its checks
        return Check("engine-cache", "warn", f"cannot key the engine for this machine: {type(err).__name__}: {err}",
                     "see the tensorrt, gpu and engine lines; then " + build_cmd)
    key = r.key
    where = f"{key.backend} {key.runtime_version} on {key.device}"
    entry = cache.lookup(key)
    if entry is None:
        return Check("engine-cache", "warn", f"no cached engine for {profile.model_path.name} matches this machine "
                                             f"({where}): the daemon will build and verify one at start",
                     f"build it now: {build_cmd}")
    if entry.problem:
        return Check("engine-cache", "warn", f"{entry.meta_path.name} is corrupt ({entry.problem}): the daemon will rebuild it",
                     f"rebuild now: {build_cmd} --force")
    if not entry.metadata.verified:
        return Check("engine-cache", "warn", f"{entry.metadata.engine_file} matches this machine ({where}) but was never "
                                             "verified: the daemon verifies it at start", f"edgepilot engine verify {entry.meta_path}")
    return Check("engine-cache", "ok", f"{entry.metadata.engine_file} matches this machine ({where}), verified")


def _scan_cache(profile: Any, cache: Any, build_cmd: str) -> Check:
    from edgepilot.engines.engine_cache import model_hasher
    from edgepilot.engines.platform_detect import detect_platform, tensorrt_status

    head = f"engine.backend onnxruntime runs {profile.model_path.name} as is"
    if not cache.root.is_dir():
        return Check("engine-cache", "info", f"{head}; no engine cache at {cache.root}")
    try:
        platforms: dict[str, Any] = {"onnxruntime": detect_platform("onnxruntime"),
                                     "tensorrt": detect_platform("tensorrt") if tensorrt_status()[0] else None}
        model = profile.model_path.resolve()
        entries = cache.entries()
        mine = [e for e in entries if e.metadata is not None and Path(e.metadata.source_model).resolve() == model]
        hasher = model_hasher()
        states = [(e, *cache.staleness(e, platforms, hasher)) for e in mine]
    except Exception as err:  # noqa: BLE001 - a cache the check cannot read is reported, never a crash
        return Check("engine-cache", "warn", f"cannot read the engine cache {cache.root}: {type(err).__name__}: {err}",
                     "check the folder's permissions (EDGEPILOT_CACHE_DIR)")
    if not states:
        return Check("engine-cache", "info", f"{head}; no cached engine for it in {cache.root}")
    valid = [e for e, state, _ in states if state == "valid"]
    if valid:
        key = valid[0].metadata.key
        return Check("engine-cache", "ok", f"{head}; cached {valid[0].metadata.engine_file} matches this machine "
                                           f"({key.backend} {key.runtime_version} on {key.device})")
    e, state, why = states[0]
    return Check("engine-cache", "warn", f"{head}; cached {e.metadata.engine_file} is {state}: {why}",
                 f"rebuild on this machine before switching to backend tensorrt/auto: {build_cmd}")
