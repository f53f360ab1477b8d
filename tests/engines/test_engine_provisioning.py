"""Model to verified cached engine, on real models: the example policy, a TorchScript MLP, a small CNN.

Where TensorRT is absent (here) the engine is the ONNX Runtime plan; the same
key, cache, verification and activation rules apply.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.engines.platform_detect import int8_u8s8_saturates
from edgepilot.engines.backend import BackendError
from edgepilot.engines.cache_key import sha256_file
from edgepilot.engines.daemon_engine import load_engine_at_start
from edgepilot.engines.engine_cache import EngineCache
from edgepilot.engines.engine_provisioning import (
    BuildRequest,
    EngineVerificationError,
    open_engine,
    provision_engine,
    resolve_build,
)
from edgepilot.engines.model_check import ModelCheckError
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from edgepilot.engines.shape_profile import parse_shape_specs

from .onnx_models import EXAMPLE_POLICY, cnn, mlp

QUIET = lambda msg: None  # noqa: E731


def test_build_then_reuse_example_policy(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    first = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, report=QUIET)
    assert first.action == "built" and first.verification is not None and first.verification.passed
    assert first.verification.samples == 32
    again = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, report=QUIET)
    assert again.action == "reused" and again.verification is None and again.entry.meta_path == first.entry.meta_path
    forced = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime", force=True), cache, report=QUIET)
    assert forced.action == "built" and forced.reasons == ["rebuild forced"]
    # The activated engine computes what the model computes.
    eng, ref = open_engine(forced.entry), OnnxRuntimeBackend(EXAMPLE_POLICY)
    for b in (eng, ref):
        b.inputs["obs"][...] = np.array([[0.3, -0.2, 0.1, 0.8, -0.5]], np.float32)
        b.run()
    np.testing.assert_allclose(eng.outputs["action"], ref.outputs["action"], atol=1e-6)


def test_auto_without_tensorrt_says_so(tmp_path: Path) -> None:
    reports: list[str] = []
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="auto"), EngineCache(tmp_path), report=reports.append)
    assert r.entry.metadata is not None and r.entry.metadata.key.backend == "onnxruntime"
    assert r.backend_note is not None and "TensorRT is not installed here" in r.backend_note
    assert "Building the ONNX Runtime plan instead" in reports[0]


def test_tensorrt_required_but_absent(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="TensorRT is not installed here"):
        provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="tensorrt"), EngineCache(tmp_path), report=QUIET)


def test_engine_failing_verification_is_never_activated(tmp_path: Path) -> None:
    """An intact entry whose engine computes something else (a wrong plan under the right key) fails verification."""
    cache = EngineCache(tmp_path / "cache")
    model = mlp(tmp_path / "policy.onnx")
    resolved = resolve_build(BuildRequest(model=model, backend="onnxruntime"), cache, report=QUIET)
    wrong = mlp(tmp_path / "retrained.onnx", scale=3.0)
    from edgepilot.engines.engine_cache import TensorInfo

    io = dict(inputs=[TensorInfo(name="obs", shape=(1, 5), dtype="float32")],
              outputs=[TensorInfo(name="action", shape=(1, 2), dtype="float32")])
    with cache.key_lock(resolved.key.digest):
        cache.write(resolved.key, resolved.stem, wrong.read_bytes(), source_model=str(model.resolve()),
                    reference_model=str(model.resolve()), build_seconds=0.0, **io)  # type: ignore[arg-type]
    with pytest.raises(EngineVerificationError) as err:
        provision_engine(BuildRequest(model=model, backend="onnxruntime"), cache, report=QUIET)
    assert "will not be activated" in str(err.value) and not err.value.report.passed
    (entry,) = cache.entries()
    assert entry.intact and entry.metadata is not None
    assert entry.metadata.verified is False and entry.metadata.verification is not None
    assert entry.metadata.verification["passed"] is False
    # The daemon refuses to start on it (BackendError -> exit 2 in `edgepilot run`).
    with pytest.raises(BackendError, match="failed verification"):
        load_engine_at_start(model, backend="onnxruntime", precision="fp32", base_dir=tmp_path, cache_dir=str(cache.root),
                             report=QUIET)
    # A forced rebuild replaces it with a correct, verified engine.
    r = provision_engine(BuildRequest(model=model, backend="onnxruntime", force=True), cache, report=QUIET)
    assert r.entry.metadata is not None and r.entry.metadata.verified


def test_unverified_entry_is_verified_before_use(tmp_path: Path) -> None:
    """A build that crashed between writing the engine and recording verification: verified on next use."""
    cache = EngineCache(tmp_path)
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, report=QUIET)
    meta = r.entry.meta_path
    meta.write_text(meta.read_text().replace('"verified": true', '"verified": false'))
    again = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, report=QUIET)
    assert again.action == "reused" and again.verification is not None and again.verification.passed
    assert '"verified": true' in meta.read_text()


def test_int8_plan_calibrated_from_batches(tmp_path: Path) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        np.save(calib / f"{i:03d}.npy", rng.standard_normal((16, 5)).astype(np.float32))
    cache = EngineCache(tmp_path / "cache")
    # Moderate pre-activations, as int8 needs (the example policy's hidden layer spans so wide a range that
    # per-tensor int8 costs it ~0.16 in action units: over the int8 tolerance, so it would not be activated).
    model = mlp(tmp_path / "policy.onnx")
    with pytest.raises(ModelCheckError, match="needs --calib"):
        provision_engine(BuildRequest(model=model, backend="onnxruntime", precision="int8"), cache, report=QUIET)
    r = provision_engine(BuildRequest(model=model, backend="onnxruntime", precision="int8", calib_dir=calib),
                         cache, report=QUIET)
    m = r.entry.metadata
    assert m is not None and m.key.precision == "int8" and m.key.builder.calibration_sha256
    assert any("calibrated on 64 batches" in n for n in r.notes)
    # On an x86-64 CPU without VNNI the weights take 7 bits (engines/platform_detect.py: int8_u8s8_saturates); with
    # 8 this plan was 0.41 off fp32 there, over the tolerance below.
    assert any("7-bit weights" in n for n in r.notes) == int8_u8s8_saturates(), r.notes
    assert r.verification is not None and r.verification.passed
    assert r.verification.inputs_source == "calibration batches from calib"
    assert r.verification.outputs[0].max_abs > 1e-4  # really quantised, not the fp32 model
    assert r.entry.engine_path is not None and b"QuantizeLinear" in r.entry.engine_path.read_bytes()
    # New calibration data is a new key.
    np.save(calib / "004.npy", rng.standard_normal((16, 5)).astype(np.float32))
    r2 = provision_engine(BuildRequest(model=model, backend="onnxruntime", precision="int8", calib_dir=calib),
                          cache, report=QUIET)
    assert r2.action == "built" and r2.entry.meta_path != r.entry.meta_path


def test_fp16_plan(tmp_path: Path) -> None:
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime", precision="fp16"),
                         EngineCache(tmp_path), report=QUIET)
    assert r.verification is not None and r.verification.passed and r.verification.precision == "fp16"


def test_small_cnn_with_image_input_and_profile(tmp_path: Path) -> None:
    model = cnn(tmp_path / "cnn.onnx", batch="N")
    cache = EngineCache(tmp_path / "cache")
    with pytest.raises(ModelCheckError, match="--shape image:1x3x48x64"):
        provision_engine(BuildRequest(model=model, backend="onnxruntime"), cache, report=QUIET)
    shapes = parse_shape_specs(["image:1x3x48x64,2x3x48x64,4x3x48x64"])
    r = provision_engine(BuildRequest(model=model, backend="onnxruntime", shapes=shapes, verify_samples=4), cache,
                         report=QUIET)
    m = r.entry.metadata
    assert m is not None and r.verification is not None and r.verification.passed
    assert [(t.name, t.shape) for t in m.inputs] == [("image", (2, 3, 48, 64))]  # runs at the profile's opt shape
    assert [(t.name, t.shape) for t in m.outputs] == [("action", (2, 2))]
    backend = open_engine(r.entry)
    assert backend.inputs["image"].shape == (2, 3, 48, 64)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_mlp_exported_by_the_test(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="TorchScript export needs the 'torch' extra (pip install 'edgepilot[torch]')")

    class Policy(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.l1 = torch.nn.Linear(5, 32)
            self.l2 = torch.nn.Linear(32, 2)

        def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            return torch.tanh(self.l2(torch.tanh(self.l1(obs))))

    torch.manual_seed(0)
    path = tmp_path / "policy.pt"
    policy = Policy().eval()
    torch.jit.script(policy).save(str(path))
    cache = EngineCache(tmp_path / "cache")
    with pytest.raises(ModelCheckError, match=r"forward\(\) argument \['obs'\], e.g. --shape obs:1x5"):
        provision_engine(BuildRequest(model=path, backend="onnxruntime"), cache, report=QUIET)
    r = provision_engine(BuildRequest(model=path, backend="onnxruntime", shapes=parse_shape_specs(["obs:1x5"]),
                                      output_names=("action",)), cache, report=QUIET)
    m = r.entry.metadata
    assert m is not None and m.key.source_format == "torchscript" and m.key.builder.export_opset == 17
    assert m.key.model_sha256 == sha256_file(path)
    assert Path(m.reference_model).parent == cache.root / "exports"
    assert r.verification is not None and r.verification.passed
    backend = open_engine(r.entry)
    x = np.array([[0.1, -0.4, 0.9, 0.0, 0.3]], np.float32)
    backend.inputs["obs"][...] = x
    backend.run()
    with torch.no_grad():
        want = policy(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(backend.outputs["action"], want, atol=1e-5)  # the engine computes the torch policy
    assert provision_engine(BuildRequest(model=path, backend="onnxruntime", shapes=parse_shape_specs(["obs:1x5"]),
                                         output_names=("action",)), cache, report=QUIET).action == "reused"


def test_daemon_start_path(tmp_path: Path) -> None:
    """load_engine_at_start: builds once (reported), then reuses; relative cache_dir resolves against the profile."""
    reports: list[str] = []
    model = mlp(tmp_path / "policy.onnx", batch="N")  # dynamic batch: the daemon runs batch 1
    b = load_engine_at_start(model, backend="auto", precision="fp32", base_dir=tmp_path, cache_dir="engines",
                             report=reports.append)
    assert b.inputs["obs"].shape == (1, 5) and b.outputs["action"].shape == (1, 2)
    b.run()
    b.close()
    assert any(r.startswith("built and verified ONNX Runtime plan") for r in reports), reports
    assert (tmp_path / "engines").is_dir()
    reports.clear()
    load_engine_at_start(model, backend="auto", precision="fp32", base_dir=tmp_path, cache_dir="engines",
                         report=reports.append).close()
    assert any(r.startswith("using cached verified ONNX Runtime plan") for r in reports), reports
    reports.clear()
    load_engine_at_start(model, backend="auto", precision="fp32", base_dir=tmp_path, cache_dir="engines",
                         force_rebuild=True, report=reports.append).close()
    assert any("rebuild forced" in r for r in reports), reports
