"""Verification maths: known perturbations give known errors; thresholds by precision decide pass or fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.engines.backend import TensorSpec
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from edgepilot.engines.verify import (
    TOLERANCES,
    Tolerance,
    VerificationInputError,
    compare_output,
    inputs_from_file,
    random_inputs,
    verify_backends,
)

from .onnx_models import EXAMPLE_POLICY, mlp

FP32 = TOLERANCES["fp32"]


def test_documented_tolerances() -> None:
    assert TOLERANCES == {"fp32": Tolerance(1e-4, 1e-3), "fp16": Tolerance(1e-2, 1e-2), "int8": Tolerance(1e-1, 1e-1)}


def test_known_perturbation_gives_known_error() -> None:
    ref = np.array([[[0.5, -2.0, 0.0]], [[1.0, 4.0, -0.25]]], np.float32)  # (samples=2, 1, 3)
    cand = ref.copy()
    cand[1, 0, 1] += 0.002  # at a reference value of 4.0
    r = compare_output("a", ref, cand, FP32)
    assert r.max_abs == pytest.approx(0.002, rel=1e-3)
    assert r.max_rel == pytest.approx(0.002 / 4.0, rel=1e-3)
    assert r.worst_index == (1, 0, 1)
    # 0.002 <= 1e-4 + 1e-3 * 4.0 = 0.0041: passes at fp32
    assert r.passed
    cand[1, 0, 1] = ref[1, 0, 1] + 0.005  # past 0.0041
    r = compare_output("a", ref, cand, FP32)
    assert not r.passed and r.worst_index == (1, 0, 1)


def test_relative_error_ignores_near_zero_references() -> None:
    ref = np.array([[0.0, 1.0]], np.float32)
    cand = np.array([[5e-5, 1.0005]], np.float32)
    r = compare_output("a", ref, cand, FP32)
    assert r.max_abs == pytest.approx(5e-4, rel=1e-3)
    assert r.max_rel == pytest.approx(5e-4, rel=1e-2)  # from the 1.0 element only; 5e-5/0 would be infinite
    assert r.passed


@pytest.mark.parametrize("precision, error, passes", [
    ("fp32", 5e-5, True), ("fp32", 5e-3, False),
    ("fp16", 5e-3, True), ("fp16", 5e-2, False),
    ("int8", 5e-2, True), ("int8", 3e-1, False),
])
def test_thresholds_by_precision(precision: str, error: float, passes: bool) -> None:
    ref = np.zeros((4, 1, 2), np.float32)
    cand = ref + np.float32(error)
    assert compare_output("a", ref, cand, TOLERANCES[precision]).passed is passes


def test_non_finite_engine_output_fails() -> None:
    ref = np.zeros((1, 3), np.float32)
    cand = np.array([[0.0, np.nan, 0.0]], np.float32)
    r = compare_output("a", ref, cand, TOLERANCES["int8"])
    assert not r.passed and r.nonfinite == 1 and r.max_abs == np.inf


def test_random_inputs_are_seeded_and_typed() -> None:
    specs = [TensorSpec("obs", (1, 5), np.dtype(np.float32)), TensorSpec("image", (1, 4, 4, 3), np.dtype(np.uint8))]
    a, b = random_inputs(specs, 3, seed=7), random_inputs(specs, 3, seed=7)
    assert len(a) == 3 and all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in x)
    assert a[0]["obs"].dtype == np.float32 and a[0]["image"].dtype == np.uint8 and a[0]["obs"].shape == (1, 5)
    assert not np.array_equal(a[0]["obs"], random_inputs(specs, 1, seed=8)[0]["obs"])


def test_inputs_file(tmp_path: Path) -> None:
    specs = [TensorSpec("obs", (1, 5), np.dtype(np.float32))]
    np.savez(tmp_path / "one.npz", obs=np.ones((1, 5)))
    assert len(inputs_from_file(tmp_path / "one.npz", specs)) == 1
    np.savez(tmp_path / "many.npz", obs=np.ones((7, 1, 5), np.float32))
    got = inputs_from_file(tmp_path / "many.npz", specs)
    assert len(got) == 7 and got[0]["obs"].shape == (1, 5)
    np.savez(tmp_path / "bad.npz", obs=np.ones((7, 5), np.float32))
    with pytest.raises(VerificationInputError, match=r"takes \(1, 5\), or \(N, 1, 5\)"):
        inputs_from_file(tmp_path / "bad.npz", specs)
    np.savez(tmp_path / "wrong.npz", observation=np.ones((1, 5), np.float32))
    with pytest.raises(VerificationInputError, match=r"the model's inputs are \['obs'\]"):
        inputs_from_file(tmp_path / "wrong.npz", specs)


def test_verify_real_backends(tmp_path: Path) -> None:
    """The example policy against itself passes; against a retrained one (same IO, other weights) it fails."""
    same = OnnxRuntimeBackend(EXAMPLE_POLICY)
    ref = OnnxRuntimeBackend(EXAMPLE_POLICY)
    samples = random_inputs(ref.describe()[0], 16, seed=0)
    ok = verify_backends(same, ref, samples, "fp32", "random, seed 0")
    assert ok.passed and ok.outputs[0].max_abs == 0.0 and ok.samples == 16
    other = OnnxRuntimeBackend(mlp(tmp_path / "other.onnx"))
    bad = verify_backends(other, ref, samples, "int8", "random, seed 0")
    assert not bad.passed and bad.outputs[0].max_abs > 0.1
    assert "FAILED" in bad.table() and bad.to_dict()["passed"] is False


def test_first_divergent_step() -> None:
    ref = np.zeros((10, 1, 2), np.float32)
    cand = ref.copy()
    cand[6, 0, 1] = 0.5
    cand[8, 0, 0] = 2.0
    r = compare_output("a", ref, cand, FP32)
    assert not r.passed and r.first_divergent_step == 6 and r.worst_index == (8, 0, 0)
    assert compare_output("a", ref, ref, FP32).first_divergent_step is None
