"""The key of a cached engine: everything whose change makes an engine invalid, with a stable digest.

An engine is only valid for the exact model bytes, inference runtime version
(TensorRT or ONNX Runtime), device (GPU name and compute capability, or the
DLA core; the CPU model and its vector extensions for ONNX Runtime plans),
precision, input shapes/profiles and builder flags it was built with. Two keys
with the same fields have the same digest on every machine and Python version:
the digest is SHA-256 over canonical JSON (sorted keys, no whitespace).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .shape_profile import InputShape, format_shape

# Bump when the cache layout or the meaning of a key field changes: every entry
# written by an older edgepilot then reads as stale and is rebuilt.
CACHE_FORMAT_VERSION = 1

Precision = Literal["fp32", "fp16", "int8"]
EngineBackend = Literal["tensorrt", "onnxruntime"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlatformInfo(_Frozen):
    """What the machine contributes to an engine's key: the runtime and the device it runs on.

    Injectable: ``detect_platform`` reads the real one; tests pass another to
    simulate a runtime upgrade (a JetPack upgrade changes ``runtime_version``).
    """

    backend: EngineBackend
    runtime_version: str = Field(description="TensorRT version (tensorrt.__version__) or ONNX Runtime version.")
    device: str = Field(description="GPU name, e.g. 'Orin (nvgpu)'; CPU model for ONNX Runtime plans.")
    compute_capability: str = Field(description="GPU compute capability 'major.minor' (8.7 for Orin); 'cpu:<isa flags>' for CPU.")


class BuilderFlags(_Frozen):
    """Builder settings that change the engine produced.

    ``workspace_mb``: TensorRT workspace memory pool limit, MiB (None: TensorRT's
    default, the device's memory). ``gpu_fallback``: layers DLA cannot run go to
    the GPU. ``optimization_level``: TensorRT builder optimisation level 0-5.
    ``calibration_sha256``: int8 only, digest of the calibration batches.
    ``export_opset``: TorchScript sources only, the opset they were exported with.
    ``torchscript_export``: TorchScript sources only, the export's version
    (:data:`~.torchscript_export.EXPORT_VERSION`): engines built by an export that
    froze recurrent state into constants have none, so they are never reused.
    Left out of the digest when None, so ONNX-source keys keep their digests.
    """

    workspace_mb: int | None = None
    gpu_fallback: bool = False
    optimization_level: int = 3
    calibration_sha256: str | None = None
    export_opset: int | None = None
    torchscript_export: str | None = None


class EngineKey(_Frozen):
    """Identity of one built engine. Field order is irrelevant to the digest; values are not."""

    format_version: int = CACHE_FORMAT_VERSION
    backend: EngineBackend
    runtime_version: str
    device: str
    compute_capability: str
    dla_core: int | None = Field(default=None, description="DLA core the engine runs on; None: GPU (or CPU).")
    precision: Precision
    model_sha256: str = Field(description="SHA-256 of the source model's bytes (with its external-data files).")
    source_format: Literal["onnx", "torchscript"] = "onnx"
    shapes: tuple[InputShape, ...] = Field(description="Input shapes/profiles, sorted by input name.")
    builder: BuilderFlags = BuilderFlags()

    @classmethod
    def create(cls, platform: PlatformInfo, *, precision: Precision, model_sha256: str,
               shapes: Mapping[str, InputShape] | Iterable[InputShape], dla_core: int | None = None,
               source_format: Literal["onnx", "torchscript"] = "onnx", builder: BuilderFlags | None = None) -> "EngineKey":
        items = shapes.values() if isinstance(shapes, Mapping) else shapes
        return cls(backend=platform.backend, runtime_version=platform.runtime_version, device=platform.device,
                   compute_capability=platform.compute_capability, dla_core=dla_core, precision=precision,
                   model_sha256=model_sha256, source_format=source_format,
                   shapes=tuple(sorted(items, key=lambda s: s.name)), builder=builder or BuilderFlags())

    def canonical_json(self) -> str:
        data = self.model_dump(mode="json")
        if data["builder"].get("torchscript_export") is None:
            del data["builder"]["torchscript_export"]  # added later: keys without it keep the digest they had
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def platform(self) -> PlatformInfo:
        return PlatformInfo(backend=self.backend, runtime_version=self.runtime_version, device=self.device,
                            compute_capability=self.compute_capability)

    def differences(self, other: "EngineKey") -> list[str]:
        """Human-readable field changes from ``self`` (old) to ``other`` (new), e.g. "runtime_version 10.3.0 -> 10.7.0"."""
        out: list[str] = []
        a, b = self.model_dump(mode="json"), other.model_dump(mode="json")
        for name in type(self).model_fields:
            if a[name] == b[name]:
                continue
            if name == "shapes":
                out.append(f"shapes {[format_shape(s) for s in self.shapes]} -> {[format_shape(s) for s in other.shapes]}")
            elif name == "builder":
                for f in BuilderFlags.model_fields:
                    if a[name][f] != b[name][f]:
                        out.append(f"builder.{f} {a[name][f]!r} -> {b[name][f]!r}")
            elif name == "model_sha256":
                out.append(f"model_sha256 {str(a[name])[:12]}... -> {str(b[name])[:12]}... (the model changed)")
            else:
                out.append(f"{name} {a[name]!r} -> {b[name]!r}")
        return out


def sha256_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' bytes in the given order (a model and its external-data files)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_files([path])


def sha256_calibration_dir(files: Iterable[Path]) -> str:
    """Digest of calibration batches: names (order matters to the calibrator) and contents."""
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0")
        h.update(sha256_file(p).encode())
    return h.hexdigest()
