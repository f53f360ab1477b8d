"""From a model file to a verified engine in the cache: reuse it if valid, rebuild it if missing, stale or corrupt.

One function, :func:`provision_engine`, used by ``edgepilot engine build`` and at
daemon start. Under the key's file lock (so racing builders build once):

1. TorchScript sources are exported to ONNX (``<cache>/exports``);
2. the ONNX model is checked (opset, checker, shape inference, named IO,
   dynamic dims resolved);
3. the key is computed (model hash, runtime version, device, precision,
   shapes, builder flags, calibration data digest);
4. an intact cached entry for the key is reused; a corrupt one is reported
   and rebuilt, never loaded;
5. the engine is built (TensorRT, or the ONNX Runtime plan where TensorRT is
   absent) and stored atomically, unverified;
6. an unverified entry is verified and the result recorded; a failure raises
   :class:`EngineVerificationError`, so the engine is never activated. ONNX
   sources: against the reference ONNX model on independent samples.
   TorchScript sources: against the TorchScript model itself, run in torch,
   over a sequence of at least 200 steps with recurrent state fed back
   (:func:`~.verify.verify_sequence`), never against the ONNX export alone;
7. entries of the same model, backend and precision that are stale (the model
   or the platform changed) are reported and removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .backend import BackendError, InferenceBackend, TensorSpec
from .build_progress import BuildProgress
from .cache_key import BuilderFlags, EngineKey, PlatformInfo, Precision, sha256_files
from .calibration_batches import CalibrationBatches, CalibratorFeed
from .engine_cache import CacheEntry, EngineCache, TensorInfo, model_hasher
from .model_check import CheckedModel, ModelCheckError, check_onnx_model, declared_inputs, model_files
from .platform_detect import RequestedBackend, choose_backend, detect_platform
from .shape_profile import InputShape
from .torchscript_export import (DEFAULT_EXPORT_OPSET, EXPORT_VERSION, TorchScriptSource, export_torchscript,
                                 state_pairs_from_json, state_pairs_from_onnx, state_pairs_to_json)
from .torchscript_module import TORCHSCRIPT_SUFFIXES, find_module_state, is_torchscript, load_torchscript, resolve_attribute
from .verify import (MIN_SEQUENCE_STEPS, StatePair, VerificationInputError, VerificationReport, inputs_from_file,
                     random_inputs, verify_backends, verify_sequence)


class EngineVerificationError(BackendError):
    """The engine's outputs differ from the reference model's beyond the precision's tolerance; it is not activated."""

    def __init__(self, message: str, report: VerificationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class BuildRequest:
    """What to build. ``shapes``: for dynamic inputs (and every TorchScript input). ``calib_dir``: int8 batches.
    ``workspace_mb``/``dla_core``/``optimization_level``: TensorRT only. ``verify_*``: verification inputs."""

    model: Path
    backend: RequestedBackend = "auto"
    precision: Precision = "fp32"
    shapes: Mapping[str, InputShape] = field(default_factory=dict)
    calib_dir: Path | None = None
    workspace_mb: int | None = None
    dla_core: int | None = None
    optimization_level: int = 3
    export_opset: int = DEFAULT_EXPORT_OPSET
    output_names: tuple[str, ...] | None = None
    force: bool = False
    verify_samples: int = 32
    verify_steps: int = MIN_SEQUENCE_STEPS  # TorchScript sources: steps of the sequence run against torch
    verify_seed: int = 0
    verify_inputs: Path | None = None
    dynamic_dims_default_one: bool = False  # daemon start: unresolved dynamic dims are 1, as the ORT backend does


@dataclass
class ProvisionResult:
    entry: CacheEntry
    action: Literal["reused", "built"]
    backend_note: str | None
    reasons: list[str]
    notes: list[str]
    verification: VerificationReport | None  # run during this call (None: recorded earlier)
    removed_stale: list[str]


Reporter = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"edgepilot: {msg}", file=sys.stderr, flush=True)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".onnx", *TORCHSCRIPT_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def _default_dynamic_to_one(path: Path, given: Mapping[str, InputShape]) -> dict[str, InputShape]:
    out = dict(given)
    for t in declared_inputs(path):
        if t.name not in out and not all(isinstance(d, int) for d in t.dims):
            out[t.name] = InputShape.fixed(t.name, [d if isinstance(d, int) else 1 for d in t.dims])
    return out


def _tensor_infos(specs: list[TensorSpec]) -> list[TensorInfo]:
    return [TensorInfo(name=s.name, shape=tuple(s.shape), dtype=np.dtype(s.dtype).name) for s in specs]


def expected_specs(entry: CacheEntry) -> tuple[list[TensorSpec], list[TensorSpec]]:
    assert entry.metadata is not None
    m = entry.metadata
    return ([TensorSpec(t.name, tuple(t.shape), np.dtype(t.dtype)) for t in m.inputs],
            [TensorSpec(t.name, tuple(t.shape), np.dtype(t.dtype)) for t in m.outputs])


def open_engine(entry: CacheEntry, *, intra_op_threads: int = 1, use_cuda_graph: bool = True) -> InferenceBackend:
    """Load a cached engine with its buffers allocated, its IO checked against the metadata."""
    assert entry.metadata is not None and entry.engine_path is not None
    key = entry.metadata.key
    ins, outs = expected_specs(entry)
    if key.backend == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        trt = TensorRTBackend(entry.engine_path, expected_inputs=ins, expected_outputs=outs,
                              input_shapes={s.name: s.opt for s in key.shapes}, use_cuda_graph=use_cuda_graph,
                              dla_core=key.dla_core)
        trt.state_pairs = entry_state_pairs(entry)  # an engine keeps no ONNX metadata: the sidecar has the pairing
        return trt
    from .onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(entry.engine_path, intra_op_threads, input_shapes={s.name: s.opt for s in key.shapes})
    got_in, got_out = backend.describe()
    if ([(s.name, s.shape, s.dtype) for s in got_in] != [(s.name, s.shape, s.dtype) for s in ins]
            or [(s.name, s.shape, s.dtype) for s in got_out] != [(s.name, s.shape, s.dtype) for s in outs]):
        backend.close()
        raise BackendError(f"plan {entry.engine_path.name} IO differs from its metadata; rebuild it (--force)")
    backend.state_pairs = entry_state_pairs(entry)
    return backend


def verification_samples(specs: list[TensorSpec], *, samples: int, seed: int, inputs: Path | None,
                         calibration: CalibrationBatches | None) -> tuple[list[dict[str, np.ndarray]], str]:
    if inputs is not None:
        return inputs_from_file(inputs, specs), f"inputs from {inputs.name}"
    if calibration is not None:
        batches = []
        for b in calibration:
            batches.append(b)
            if len(batches) >= samples:
                break
        return batches, f"calibration batches from {calibration.folder.name}"
    return random_inputs(specs, samples, seed), f"random, seed {seed}"


def entry_state_pairs(entry: CacheEntry) -> list[StatePair]:
    assert entry.metadata is not None
    return state_pairs_from_json(json.dumps(entry.metadata.recurrent_state or []))


def sequence_steps(specs: list[TensorSpec], *, steps: int, seed: int, inputs: Path | None,
                   calibration: CalibrationBatches | None) -> tuple[list[dict[str, np.ndarray]], str]:
    """The step inputs of a sequence verification: an .npz log (its length), calibration batches (cycled), or seeded
    random draws. A random sequence shorter than MIN_SEQUENCE_STEPS is refused."""
    if inputs is not None:
        return inputs_from_file(inputs, specs), f"inputs from {inputs.name}"
    if steps < MIN_SEQUENCE_STEPS:
        raise VerificationInputError(f"a sequence verification runs at least {MIN_SEQUENCE_STEPS} steps, not {steps}: "
                                     "a recurrent state can drift after a short sequence looks right")
    if calibration is not None:
        batches = list(calibration)
        if batches:
            return [batches[i % len(batches)] for i in range(steps)], f"calibration batches from {calibration.folder.name}"
    return random_inputs(specs, steps, seed), f"random, seed {seed}"


def verify_against_torchscript(candidate: InferenceBackend, source_path: Path, state: list[StatePair], *, precision: str,
                               steps: int = MIN_SEQUENCE_STEPS, seed: int = 0, inputs: Path | None = None,
                               calibration: CalibrationBatches | None = None) -> VerificationReport:
    """Step the engine and the TorchScript source (in torch) side by side; ``state``: the engine's state pairing."""
    ins, outs = candidate.describe()
    state_names = {p.input for p in state} | {p.output for p in state}
    data_in = [s for s in ins if s.name not in state_names]
    # The source's state comes from the archive itself, not from the engine's metadata: an engine built by an export
    # that froze the state has no pairing, and must fail for it (verify_sequence reports the missing state).
    found = find_module_state(source_path, [s.name for s in data_in], {s.name: InputShape.fixed(s.name, s.shape) for s in data_in})
    known = {p.buffer for p in state}
    module = load_torchscript(source_path)
    state = list(state) + [StatePair(input=b.replace(".", "_") + "_in", output=b.replace(".", "_") + "_out",
                                     shape=tuple(resolve_attribute(module, b).shape), buffer=b)
                           for b in found.tensors if b not in known]
    source = TorchScriptSource(source_path, [s.name for s in data_in], [s.name for s in outs if s.name not in state_names],
                               state)
    batch, where = sequence_steps(data_in, steps=steps, seed=seed, inputs=inputs, calibration=calibration)
    return verify_sequence(candidate, source, batch, precision, where)


def verify_entry(entry: CacheEntry, *, samples: int = 32, seed: int = 0, inputs: Path | None = None,
                 calibration: CalibrationBatches | None = None, reference: Path | None = None,
                 candidate: InferenceBackend | None = None, steps: int = MIN_SEQUENCE_STEPS) -> VerificationReport:
    """Run the cached engine against its reference: a TorchScript source in torch (a sequence of ``steps``), else
    the reference ONNX model (or ``reference``, an ONNX model or a TorchScript archive)."""
    from .onnxruntime_backend import OnnxRuntimeBackend

    assert entry.metadata is not None
    key = entry.metadata.key
    torch_source = Path(entry.metadata.source_model) if reference is None and key.source_format == "torchscript" else \
        reference if reference is not None and _is_torchscript_file(reference) else None
    if torch_source is not None:
        own = candidate is None
        cand = open_engine(entry) if candidate is None else candidate
        try:
            return verify_against_torchscript(cand, torch_source, entry_state_pairs(entry), precision=key.precision,
                                              steps=steps, seed=seed, inputs=inputs, calibration=calibration)
        finally:
            if own:
                cand.close()
    ref_path = reference or Path(entry.metadata.reference_model)
    ref = OnnxRuntimeBackend(ref_path, input_shapes={s.name: s.opt for s in key.shapes})
    own = candidate is None
    cand = open_engine(entry) if candidate is None else candidate
    try:
        specs, _ = ref.describe()
        batch, source = verification_samples(specs, samples=samples, seed=seed, inputs=inputs, calibration=calibration)
        report = verify_backends(cand, ref, batch, key.precision, source)
        report.compared_with = f"reference ONNX {ref_path.name}"
        return report
    finally:
        ref.close()
        if own:
            cand.close()


def _is_torchscript_file(path: Path) -> bool:
    return path.suffix.lower() in TORCHSCRIPT_SUFFIXES or is_torchscript(path)


@dataclass
class ResolvedBuild:
    """A request resolved on this machine: the checked ONNX model and the key its engine has."""

    source: Path
    onnx_path: Path
    checked: CheckedModel
    calibration: CalibrationBatches | None
    key: EngineKey
    stem: str
    platform: PlatformInfo
    backend_note: str | None
    notes: list[str]
    recurrent_state: list[StatePair] = field(default_factory=list)


def resolve_build(request: BuildRequest, cache: EngineCache, *, platform: PlatformInfo | None = None,
                  report: Reporter = _stderr) -> ResolvedBuild:
    """Steps 1-3 of :func:`provision_engine`: export, check, key. Raises ModelCheckError and friends."""
    source = Path(request.model).resolve()
    if not source.is_file():
        raise ModelCheckError(f"model file not found: {request.model}")
    backend_note: str | None = None
    if platform is None:
        chosen, backend_note = choose_backend(request.backend)
        if backend_note:
            report(backend_note)
        platform = detect_platform(chosen, request.dla_core)
    backend = platform.backend
    cache.ensure_writable()
    notes: list[str] = []

    torchscript = source.suffix.lower() in TORCHSCRIPT_SUFFIXES or is_torchscript(source)
    model_sha = sha256_files(model_files(source))
    if torchscript:
        # The output names are in the file name: they are the export's IO names (a change makes another export).
        names_tag = hashlib.sha256(",".join(request.output_names or ()).encode()).hexdigest()[:8]
        onnx_path = cache.subdir("exports") / (f"{_stem(source)}-{model_sha[:16]}-opset{request.export_opset}"
                                               f"-{EXPORT_VERSION}-{names_tag}.onnx")
        with cache.named_lock(f"export-{model_sha[:16]}"):
            if not onnx_path.is_file():
                notes += export_torchscript(source, onnx_path, request.shapes, opset=request.export_opset,
                                            output_names=request.output_names)
    else:
        onnx_path = source
    shapes = _default_dynamic_to_one(onnx_path, request.shapes) if request.dynamic_dims_default_one else request.shapes
    checked = check_onnx_model(onnx_path, shapes, for_tensorrt=backend == "tensorrt")
    notes += list(checked.warnings)
    missing_out = [t.name for t in checked.outputs if t.name not in checked.output_shapes]
    if missing_out:
        raise ModelCheckError(f"outputs {missing_out} have data-dependent shapes; engines here need fixed output shapes")

    calibration = None
    if request.precision == "int8":
        if request.calib_dir is None:
            raise ModelCheckError("--precision int8 needs --calib DIR: a folder of .npy/.npz batches of real inputs")
        dtypes = {t.name: t.dtype for t in checked.inputs}
        calibration = CalibrationBatches(request.calib_dir, {n: (s.opt, dtypes[n]) for n, s in checked.shapes.items()})
    elif request.calib_dir is not None:
        notes.append(f"--calib is used by int8 builds only; ignored for {request.precision}")

    trt_only = backend == "tensorrt"
    flags = BuilderFlags(workspace_mb=request.workspace_mb if trt_only else None,
                         gpu_fallback=request.dla_core is not None and trt_only,
                         optimization_level=request.optimization_level if trt_only else 3,
                         calibration_sha256=calibration.digest() if calibration is not None else None,
                         export_opset=request.export_opset if torchscript else None,
                         torchscript_export=EXPORT_VERSION if torchscript else None)
    if not trt_only and (request.workspace_mb is not None or request.dla_core is not None):
        notes.append("--workspace and --dla apply to TensorRT builds only; ignored for the ONNX Runtime plan")
    key = EngineKey.create(platform, precision=request.precision, model_sha256=model_sha, shapes=checked.shapes,
                           dla_core=request.dla_core if trt_only else None,
                           source_format="torchscript" if torchscript else "onnx", builder=flags)
    state = state_pairs_from_onnx(onnx_path)
    return ResolvedBuild(source=source, onnx_path=onnx_path, checked=checked, calibration=calibration, key=key,
                         stem=_stem(source), platform=platform, backend_note=backend_note, notes=notes,
                         recurrent_state=state)


def provision_engine(request: BuildRequest, cache: EngineCache, *, platform: PlatformInfo | None = None,
                     report: Reporter = _stderr, progress: BuildProgress | None = None) -> ProvisionResult:
    """Return a valid, verified cache entry for ``request``, building it if needed (see the module docstring)."""
    r = resolve_build(request, cache, platform=platform, report=report)
    source, onnx_path, checked, calibration, key, stem = r.source, r.onnx_path, r.checked, r.calibration, r.key, r.stem
    backend, backend_note, notes = r.platform.backend, r.backend_note, r.notes
    platform = r.platform

    with cache.key_lock(key.digest):
        entry = cache.lookup(key)
        reasons: list[str] = []
        if entry is not None and not request.force and entry.intact:
            action: Literal["reused", "built"] = "reused"
        else:
            action = "built"
            if entry is None:
                reasons.append("no cached engine for this key")
            elif request.force:
                reasons.append("rebuild forced")
            else:
                reasons.append(f"cached engine {entry.meta_path.name} is corrupt: {entry.problem}; rebuilding it")
                report(reasons[-1])
        stale = _stale_siblings(cache, key, source)
        for old, why in stale:
            report(f"cached engine {old.meta_path.name} is stale ({why}); "
                   f"{'replacing it' if action == 'built' else 'removing it'}")
            reasons.append(f"stale {old.meta_path.name}: {why}")

        verification = None
        if action == "built":
            t0 = time.monotonic()
            engine_bytes, build_notes = _build(backend, onnx_path, checked, request, cache, platform, calibration, progress)
            notes += build_notes
            ins = [TensorSpec(t.name, checked.shapes[t.name].opt, t.dtype) for t in checked.inputs]
            outs = [TensorSpec(t.name, checked.output_shapes[t.name], t.dtype) for t in checked.outputs]
            entry = cache.write(key, stem, engine_bytes, source_model=str(source), reference_model=str(onnx_path.resolve()),
                                inputs=_tensor_infos(ins), outputs=_tensor_infos(outs),
                                build_seconds=round(time.monotonic() - t0, 3), build_notes=notes,
                                recurrent_state=json.loads(state_pairs_to_json(r.recurrent_state)) if r.recurrent_state else None)
        assert entry is not None and entry.metadata is not None
        if not entry.metadata.verified:
            verification = verify_entry(entry, samples=request.verify_samples, seed=request.verify_seed,
                                        inputs=request.verify_inputs, calibration=calibration, steps=request.verify_steps)
            reference = verification.compared_with if verification.mode == "sequence" else \
                Path(entry.metadata.reference_model).name
            entry = cache.mark_verified(entry, verification.to_dict(), verification.passed)
            if not verification.passed:
                raise EngineVerificationError(
                    f"engine {entry.meta_path.name} failed verification against {reference}; "
                    f"it will not be activated:\n{verification.table()}", verification)

    removed = []
    for old, _ in stale:
        if cache.remove_under_lock(old) is not None:
            removed.append(old.meta_path.name)
    return ProvisionResult(entry=entry, action=action, backend_note=backend_note, reasons=reasons, notes=notes,
                           verification=verification, removed_stale=removed)


def _stale_siblings(cache: EngineCache, key: EngineKey, source: Path) -> list[tuple[CacheEntry, str]]:
    """Entries built from the same source file, backend and precision whose key is stale on this machine."""
    out = []
    platforms: dict[str, PlatformInfo | None] = {key.backend: key.platform()}
    hasher = model_hasher()
    for e in cache.entries(check=False):
        m = e.metadata
        if m is None or m.key_digest == key.digest or m.source_model != str(source):
            continue
        if m.key.backend != key.backend or m.key.precision != key.precision:
            continue
        state, why = cache.staleness(e, platforms, hasher)
        if state in ("stale", "orphaned"):
            out.append((e, why))
    return out


def _build(backend: str, onnx_path: Path, checked: CheckedModel, request: BuildRequest, cache: EngineCache,
           platform: PlatformInfo, calibration: CalibrationBatches | None,
           progress: BuildProgress | None) -> tuple[bytes, list[str]]:
    if backend == "onnxruntime":
        from .onnxruntime_plan import build_onnxruntime_plan

        return build_onnxruntime_plan(onnx_path, request.precision, calibration)
    from .cuda_device import CudaDeviceCopy
    from .tensorrt_builder import TensorRTBuildOptions, build_tensorrt_engine

    device_tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{platform.device}-sm{platform.compute_capability}-trt{platform.runtime_version}")
    timing = cache.subdir("timing") / f"{device_tag}.cache"
    feed = None
    device = None
    if calibration is not None:
        device = CudaDeviceCopy()
        calib_cache = cache.subdir("calibration") / f"{checked.path.stem}-{calibration.digest()[:16]}-{device_tag}.cache"
        feed = CalibratorFeed(calibration, device, calib_cache)
    try:
        return build_tensorrt_engine(
            onnx_path, checked.shapes,
            TensorRTBuildOptions(precision=request.precision, workspace_mb=request.workspace_mb, dla_core=request.dla_core,
                                 optimization_level=request.optimization_level),
            timing_cache=timing, timing_cache_lock=lambda: cache.named_lock(f"timing-{device_tag}"),
            calibration=feed, progress=progress if progress is not None else BuildProgress())
    finally:
        if device is not None:
            device.free()
