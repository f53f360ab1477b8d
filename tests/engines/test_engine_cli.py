"""`edgepilot engine build|inspect|verify|list|prune` end to end, as real processes, on the example policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .onnx_models import EXAMPLE_POLICY, cnn, mlp


def engine(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepilot", "engine", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "EDGEPILOT_CACHE_DIR": str(cache)})


def jrun(cache: Path, *args: str) -> dict:  # type: ignore[type-arg]
    r = engine(cache, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_build_inspect_verify_list_prune(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = engine(cache, "build", str(EXAMPLE_POLICY))
    assert r.returncode == 0, r.stderr
    assert "TensorRT is not installed here" in r.stderr and "Building the ONNX Runtime plan instead" in r.stderr
    assert "built ONNX Runtime plan (fp32)" in r.stdout and "32 samples (random, seed 0), precision fp32: PASSED" in r.stdout
    engine_file = next(cache.glob("diffbot_policy-*.ort.onnx"))

    again = jrun(cache, "build", str(EXAMPLE_POLICY))
    assert again["action"] == "reused" and again["verified"] is True and again["engine"] == str(engine_file)

    model = jrun(cache, "inspect", str(EXAMPLE_POLICY))
    assert model["opset"] == 17 and model["inputs"][0]["name"] == "obs" and model["outputs"][0]["shape"] == [1, 2]
    (sidecar,) = cache.glob("diffbot_policy-*.json")
    assert model["cached_engines"] == [str(sidecar)]
    # Engine files carry their own content digest, so a rebuild never overwrites the engine a sidecar names.
    assert engine_file.name == sidecar.stem + "." + json.loads(sidecar.read_text())["engine_sha256"][:12] + ".ort.onnx"

    info = jrun(cache, "inspect", str(engine_file))
    assert info["state"] == "valid" and info["key"]["precision"] == "fp32" and info["key"]["backend"] == "onnxruntime"
    assert info["inputs"] == [{"name": "obs", "shape": [1, 5], "dtype": "float32"}]
    by_digest = jrun(cache, "inspect", info["key_digest"][:12])
    assert by_digest["engine"] == str(engine_file)
    text = engine(cache, "inspect", str(engine_file)).stdout
    assert "precision fp32" in text and f"key      {info['key_digest']}" in text

    ok = engine(cache, "verify", str(engine_file), "--reference", str(EXAMPLE_POLICY), "--samples", "8")
    assert ok.returncode == 0, ok.stderr
    assert "8 samples (random, seed 0), precision fp32: PASSED" in ok.stdout and "recorded in" in ok.stdout

    other = mlp(tmp_path / "retrained.onnx")  # same IO, other weights
    bad = engine(cache, "verify", str(engine_file), "--reference", str(other), "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    report = json.loads(bad.stdout)
    assert report["passed"] is False and report["outputs"][0]["max_abs"] > 0.01
    assert report["recorded"].startswith("not recorded: --reference is not the model")

    listed = jrun(cache, "list")
    assert [(e["state"], Path(e["engine"]).name) for e in listed["entries"]] == [("valid", engine_file.name)]

    data = bytearray(engine_file.read_bytes())
    data[-10] ^= 0xFF
    engine_file.write_bytes(bytes(data))
    listed = jrun(cache, "list")
    assert listed["entries"][0]["state"] == "corrupt" and "SHA-256" in listed["entries"][0]["detail"]
    v = engine(cache, "verify", str(engine_file), "--reference", str(EXAMPLE_POLICY))
    assert v.returncode == 2 and "is corrupt" in v.stderr  # never loaded blindly
    dry = jrun(cache, "prune", "--dry-run")
    assert dry["removed"][0]["state"] == "corrupt" and engine_file.exists()
    pruned = jrun(cache, "prune")
    assert pruned["removed"][0]["state"] == "corrupt" and not engine_file.exists()
    assert jrun(cache, "list")["entries"] == []


def test_cnn_with_profile_and_bad_inputs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    model = cnn(tmp_path / "cnn.onnx", batch="N")
    missing = engine(cache, "build", str(model))
    assert missing.returncode == 2 and "give --shape image:1x3x48x64" in missing.stderr
    badspec = engine(cache, "build", str(model), "--shape", "image:1x3x48")
    assert badspec.returncode == 2 and "rank 3" in badspec.stderr
    built = jrun(cache, "build", str(model), "--shape", "image:1x3x48x64,2x3x48x64,4x3x48x64", "--samples", "4")
    assert built["action"] == "built" and built["verification"]["passed"] is True
    trt = engine(cache, "build", str(EXAMPLE_POLICY), "--backend", "tensorrt")
    if trt.returncode == 0:
        pytest.skip("TensorRT is installed here")
    assert trt.returncode == 2 and "TensorRT is not installed here" in trt.stderr
    nomodel = engine(cache, "build", str(tmp_path / "nope.onnx"))
    assert nomodel.returncode == 2 and "model file not found" in nomodel.stderr
