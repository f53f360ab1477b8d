"""The engine key: every component changes the digest; equal keys have equal digests everywhere."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from edgepilot.engines.cache_key import BuilderFlags, EngineKey, PlatformInfo
from edgepilot.engines.shape_profile import InputShape

# A simulated Jetson Orin: the platform object is injectable so the key logic is tested without the GPU.
ORIN = PlatformInfo(backend="tensorrt", runtime_version="10.3.0", device="Orin (nvgpu)", compute_capability="8.7")


def key(**changes: object) -> EngineKey:
    base = dict(platform=ORIN, precision="fp16", model_sha256="ab" * 32,
                shapes=[InputShape.fixed("obs", (1, 5))], dla_core=None, source_format="onnx",
                builder=BuilderFlags(workspace_mb=256))
    platform_fields = {k: changes.pop(k) for k in list(changes) if k in PlatformInfo.model_fields}
    if platform_fields:
        base["platform"] = ORIN.model_copy(update=platform_fields)
    base.update(changes)
    return EngineKey.create(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("change, field", [
    ({"model_sha256": "cd" * 32}, "model_sha256"),
    ({"runtime_version": "10.7.0"}, "runtime_version"),  # a JetPack upgrade
    ({"device": "NVIDIA GeForce RTX 4090"}, "device"),
    ({"compute_capability": "8.9"}, "compute_capability"),
    ({"dla_core": 0}, "dla_core"),
    ({"precision": "int8"}, "precision"),
    ({"shapes": [InputShape.fixed("obs", (2, 5))]}, "shapes"),
    ({"shapes": [InputShape(name="obs", min=(1, 5), opt=(4, 5), max=(8, 5))]}, "shapes"),
    ({"builder": BuilderFlags(workspace_mb=512)}, "builder.workspace_mb"),
    ({"builder": BuilderFlags(workspace_mb=256, optimization_level=5)}, "builder.optimization_level"),
    ({"builder": BuilderFlags(workspace_mb=256, gpu_fallback=True)}, "builder.gpu_fallback"),
    ({"builder": BuilderFlags(workspace_mb=256, calibration_sha256="ee" * 32)}, "builder.calibration_sha256"),
    ({"source_format": "torchscript"}, "source_format"),
    ({"backend": "onnxruntime"}, "backend"),
])
def test_each_component_changes_the_digest(change: dict[str, object], field: str) -> None:
    a, b = key(), key(**change)
    assert a.digest != b.digest
    diff = a.differences(b)
    assert len(diff) == 1 and diff[0].startswith(field), diff


def test_equal_fields_equal_digest_regardless_of_order() -> None:
    shapes = [InputShape.fixed("b", (1, 2)), InputShape.fixed("a", (1, 3))]
    k1 = key(shapes=shapes)
    k2 = key(shapes=list(reversed(shapes)))
    assert k1 == k2 and k1.digest == k2.digest
    assert k1.digest == hashlib.sha256(json.dumps(json.loads(k1.canonical_json()), sort_keys=True,
                                                  separators=(",", ":")).encode()).hexdigest()


def test_digest_is_stable_across_processes() -> None:
    # Python's hash() is salted per process; the digest must not be.
    code = ("from edgepilot.engines.cache_key import *; from edgepilot.engines.shape_profile import InputShape; "
            "p = PlatformInfo(backend='tensorrt', runtime_version='10.3.0', device='Orin (nvgpu)', compute_capability='8.7'); "
            "print(EngineKey.create(p, precision='fp16', model_sha256='ab'*32, shapes=[InputShape.fixed('obs', (1, 5))], "
            "builder=BuilderFlags(workspace_mb=256)).digest)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123"}).stdout.strip()
    assert out == key().digest


def test_differences_read_as_a_report() -> None:
    old, new = key(), key(runtime_version="10.7.0", model_sha256="cd" * 32)
    assert old.differences(new) == ["runtime_version '10.3.0' -> '10.7.0'",
                                    "model_sha256 abababababab... -> cdcdcdcdcdcd... (the model changed)"]
    assert old.platform() == ORIN


def test_torchscript_export_version_keys_apart_without_moving_onnx_digests() -> None:
    """Engines of the state-freezing TorchScript export (no version) are never reused; ONNX keys keep their digest."""
    onnx_key = EngineKey.create(ORIN, precision="fp32", model_sha256="a" * 64, shapes=[])
    assert "torchscript_export" not in onnx_key.canonical_json()
    old = EngineKey.create(ORIN, precision="fp32", model_sha256="a" * 64, shapes=[], source_format="torchscript",
                           builder=BuilderFlags(export_opset=17))
    new = old.model_copy(update={"builder": BuilderFlags(export_opset=17, torchscript_export="explicit-state-1")})
    assert old.digest != new.digest
