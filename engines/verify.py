"""Verification: an engine and its reference ONNX model run on the same inputs; their outputs must agree.

Per output, over all samples and elements (``c`` engine, ``r`` reference):

* ``max_abs`` = max |c - r|
* ``max_rel`` = max |c - r| / |r| over the elements with |r| > atol (relative
  error is meaningless next to zero; those elements are held to atol alone)
* pass iff every element has |c - r| <= atol + rtol * |r| (numpy.isclose) and
  the engine produced no NaN/Inf where the reference is finite.

Tolerances by precision (:data:`TOLERANCES`): fp32 atol 1e-4, rtol 1e-3 (kernel
choice and fused operations reorder float sums); fp16 atol 1e-2, rtol 1e-2 (a
half has an 11-bit mantissa, ~5e-4 relative per rounding, accumulated over
layers); int8 atol 1e-1, rtol 1e-1 (8-bit activations: 1/127 of each tensor's
calibrated range per rounding). Inputs: ``samples`` seeded random draws
(standard normal for floats, the full range for uint8, 0..9 for other ints) or
real inputs from an .npz file; int8 engines are verified on their calibration
batches unless given inputs, since their error is only bounded in-distribution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .backend import InferenceBackend, TensorSpec
from .cache_key import Precision


@dataclass(frozen=True)
class Tolerance:
    """Allowed error: |engine - reference| <= atol + rtol * |reference|, elementwise."""

    atol: float
    rtol: float


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2),
    "int8": Tolerance(atol=1e-1, rtol=1e-1),
}


class VerificationInputError(ValueError):
    """Inputs given for verification do not fit the model; the message names the array and the expected shape."""


@dataclass(frozen=True)
class OutputComparison:
    name: str
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...]  # (sample, *element index): the largest error if all pass, else the furthest past its tolerance
    nonfinite: int  # elements where the engine gave NaN/Inf and the reference did not
    atol: float
    rtol: float
    passed: bool


@dataclass
class VerificationReport:
    precision: str
    samples: int
    inputs_source: str
    outputs: list[OutputComparison] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["outputs"] = [{**asdict(o), "worst_index": list(o.worst_index)} for o in self.outputs]
        return d

    def table(self) -> str:
        rows = [f"{'output':<20} {'max abs err':>12} {'max rel err':>12} {'atol':>8} {'rtol':>8}  result"]
        for o in self.outputs:
            verdict = "ok" if o.passed else f"FAIL at {list(o.worst_index)}" + (f", {o.nonfinite} non-finite" if o.nonfinite else "")
            rows.append(f"{o.name:<20} {o.max_abs:>12.3e} {o.max_rel:>12.3e} {o.atol:>8.0e} {o.rtol:>8.0e}  {verdict}")
        rows.append(f"{self.samples} samples ({self.inputs_source}), precision {self.precision}: "
                    f"{'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(rows)


def compare_output(name: str, reference: np.ndarray, candidate: np.ndarray, tol: Tolerance) -> OutputComparison:
    """Compare one output stacked over samples (shape (samples, *output shape))."""
    if reference.shape != candidate.shape:
        raise ValueError(f"output {name!r}: engine shape {candidate.shape} differs from reference {reference.shape}")
    r = reference.astype(np.float64)
    c = candidate.astype(np.float64)
    ref_finite = np.isfinite(r)
    nonfinite = int(np.count_nonzero(ref_finite & ~np.isfinite(c)))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(c - r)
    diff = np.where(ref_finite & np.isfinite(c), diff, np.where(ref_finite | np.isfinite(c), np.inf, 0.0))
    scale = np.abs(np.where(ref_finite, r, 0.0))
    ok = diff <= tol.atol + tol.rtol * scale
    big = scale > tol.atol
    rel = np.where(big, diff / np.where(big, scale, 1.0), 0.0)
    excess = diff - (tol.atol + tol.rtol * scale)
    pointer = diff if bool(ok.all()) else excess
    worst = np.unravel_index(int(np.argmax(pointer)), pointer.shape) if pointer.size else ()
    return OutputComparison(
        name=name,
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        worst_index=tuple(int(i) for i in worst),
        nonfinite=nonfinite,
        atol=tol.atol,
        rtol=tol.rtol,
        passed=bool(ok.all()) and nonfinite == 0,
    )


def random_inputs(specs: Sequence[TensorSpec], samples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``samples`` seeded random input sets, one array per input in its shape and dtype."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        one: dict[str, np.ndarray] = {}
        for s in specs:
            dt = np.dtype(s.dtype)
            if dt.kind == "f":
                one[s.name] = rng.standard_normal(s.shape).astype(dt)
            elif dt == np.uint8:
                one[s.name] = rng.integers(0, 256, s.shape, dtype=np.uint8)
            elif dt.kind == "b":
                one[s.name] = rng.integers(0, 2, s.shape).astype(bool)
            else:
                one[s.name] = rng.integers(0, 10, s.shape).astype(dt)
        out.append(one)
    return out


def inputs_from_file(path: str | Path, specs: Sequence[TensorSpec]) -> list[dict[str, np.ndarray]]:
    """Input sets from an .npz keyed by input name; each array is one sample (the input's shape) or N stacked on axis 0."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise VerificationInputError(f"--inputs {path}: not a readable .npz file ({err})") from None
    names = [s.name for s in specs]
    if sorted(arrays) != sorted(names):
        raise VerificationInputError(f"--inputs {path.name} holds arrays {sorted(arrays)}; the model's inputs are {sorted(names)}")
    stacked: dict[str, np.ndarray] = {}
    for s in specs:
        a = arrays[s.name]
        if a.shape == tuple(s.shape):
            a = a[None]
        elif a.shape[1:] != tuple(s.shape):
            raise VerificationInputError(f"--inputs {path.name}[{s.name}] has shape {a.shape}; input {s.name!r} takes "
                                         f"{tuple(s.shape)}, or (N, {', '.join(map(str, s.shape))}) for N samples")
        if not np.can_cast(a.dtype, s.dtype, casting="same_kind"):
            raise VerificationInputError(f"--inputs {path.name}[{s.name}] is {a.dtype}; input {s.name!r} is {s.dtype}")
        stacked[s.name] = a.astype(s.dtype, copy=False)
    counts = {n: len(a) for n, a in stacked.items()}
    if len(set(counts.values())) != 1:
        raise VerificationInputError(f"--inputs {path.name}: inputs hold different numbers of samples {counts}")
    n = next(iter(counts.values()))
    return [{k: a[i] for k, a in stacked.items()} for i in range(n)]


def _run_all(backend: InferenceBackend, samples: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    results: dict[str, list[np.ndarray]] = {name: [] for name in backend.outputs}
    for sample in samples:
        for name, buf in backend.inputs.items():
            buf[...] = sample[name]
        backend.run()
        for name, buf in backend.outputs.items():
            results[name].append(buf.copy())
    return {name: np.stack(v) for name, v in results.items()}


def verify_backends(candidate: InferenceBackend, reference: InferenceBackend, samples: Sequence[Mapping[str, np.ndarray]],
                    precision: Precision | str, inputs_source: str) -> VerificationReport:
    """Run both backends on every sample; compare each output with the precision's tolerance."""
    if sorted(candidate.inputs) != sorted(reference.inputs) or sorted(candidate.outputs) != sorted(reference.outputs):
        raise ValueError(f"engine IO {sorted(candidate.inputs)} -> {sorted(candidate.outputs)} differs from the reference model's "
                         f"{sorted(reference.inputs)} -> {sorted(reference.outputs)}")
    for name, buf in candidate.inputs.items():
        if buf.shape != reference.inputs[name].shape:
            raise ValueError(f"input {name!r}: engine shape {buf.shape} differs from the reference's {reference.inputs[name].shape}")
    tol = TOLERANCES[precision]
    got = _run_all(candidate, samples)
    want = _run_all(reference, samples)
    report = VerificationReport(precision=str(precision), samples=len(samples), inputs_source=inputs_source)
    for name in reference.outputs:
        report.outputs.append(compare_output(name, want[name], got[name], tol))
    return report
