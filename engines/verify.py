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

Two modes:

* **samples** (:func:`verify_backends`, ONNX sources): the engine and the
  reference ONNX model run on independent input sets.
* **sequence** (:func:`verify_sequence`, TorchScript sources): the *source
  model itself*, run in torch, and the engine step through one sequence of
  inputs (at least :data:`MIN_SEQUENCE_STEPS`). A recurrent source keeps its own
  state in its buffers, as it did in training; the engine's state outputs are
  fed back into its state inputs (the pairing recorded at export, see
  :mod:`.torchscript_export`). Every output (state outputs included) is compared
  at every step; ``first_divergent_step`` is the first step past tolerance.
  The ONNX file exported from the TorchScript archive is never the reference
  here: comparing an engine with its own export cannot catch an export that
  froze the policy's state into constants (issue 16).

Why not Polygraphy (PyPI ``polygraphy``: ``polygraphy run --onnxrt --trt``, its
``Comparator`` and runners), looked at for issue 16: ``Comparator.run`` feeds
every runner the same input iterations from one data loader (cached, so all
runners see identical feeds), so a plan's own state outputs cannot be fed back
into its next step's inputs, which the recurrent check above is about; its
backends are ONNX Runtime, TensorRT, TensorFlow and a plugin reference, with no
PyTorch/TorchScript runner that keeps the module's own buffer state, so the
source side would be hand-written anyway; and its ``CompareFunc.simple``
would replace a small tested comparison (:func:`compare_output`) whose figures
(max abs/rel error, first divergent step) the cache sidecar records. Its
TensorRT build/inspect tools wrap the same ``tensorrt`` builder API that
:mod:`.tensorrt_builder` calls directly. So it is not a dependency;
``polygraphy run model.onnx --onnxrt --trt`` and ``polygraphy inspect model``
stay useful manual cross-checks on the Jetson.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

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


# A recurrent policy's error compounds through its state: a short sequence can hide a state that drifts.
MIN_SEQUENCE_STEPS = 200


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
    first_divergent_step: int | None = None  # first sample/step with an element past tolerance; None if none


@dataclass
class VerificationReport:
    precision: str
    samples: int  # input sets (samples mode) or steps (sequence mode)
    inputs_source: str
    outputs: list[OutputComparison] = field(default_factory=list)
    compared_with: str = "reference ONNX model"  # what the engine was compared with, e.g. "source: torch TorchScript policy.pt"
    mode: str = "samples"  # "samples" (independent inputs) or "sequence" (steps, recurrent state fed back)
    recurrent_state: list[str] = field(default_factory=list)  # "input <- output" pairs fed back (sequence mode)
    problems: list[str] = field(default_factory=list)  # structural mismatches that fail the verification outright

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs) and not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["outputs"] = [{**asdict(o), "worst_index": list(o.worst_index)} for o in self.outputs]
        return d

    def table(self) -> str:
        rows = [f"{'output':<20} {'max abs err':>12} {'max rel err':>12} {'atol':>8} {'rtol':>8}  result"]
        unit = "step" if self.mode == "sequence" else "sample"
        for o in self.outputs:
            verdict = "ok" if o.passed else f"FAIL at {list(o.worst_index)}" + (f", {o.nonfinite} non-finite" if o.nonfinite else "")
            if not o.passed and o.first_divergent_step is not None:
                verdict += f", first diverges at {unit} {o.first_divergent_step}"
            rows.append(f"{o.name:<20} {o.max_abs:>12.3e} {o.max_rel:>12.3e} {o.atol:>8.0e} {o.rtol:>8.0e}  {verdict}")
        rows += [f"problem: {p}" for p in self.problems]
        if self.mode == "sequence":
            fed = f", state fed back ({', '.join(self.recurrent_state)})" if self.recurrent_state else ""
            rows.append(f"{self.samples} steps ({self.inputs_source}) against {self.compared_with}{fed}, "
                        f"precision {self.precision}: {'PASSED' if self.passed else 'FAILED'}")
        else:
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
    bad_rows = np.flatnonzero(~ok.reshape(len(ok), -1).all(axis=1)) if ok.ndim and len(ok) else np.array([], int)
    return OutputComparison(
        name=name,
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        worst_index=tuple(int(i) for i in worst),
        nonfinite=nonfinite,
        atol=tol.atol,
        rtol=tol.rtol,
        passed=bool(ok.all()) and nonfinite == 0,
        first_divergent_step=int(bad_rows[0]) if bad_rows.size else None,
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


# ----------------------------------------------------------------------------- sequence mode (source framework)

@dataclass(frozen=True)
class StatePair:
    """One recurrent state: fed into ``input``, produced by ``output``; ``initial`` at the first step (0: zeros)."""

    input: str
    output: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    initial: float | list[Any] = 0.0
    buffer: str = ""  # the TorchScript buffer (attribute path) the state lived in, if it came from one

    def initial_array(self) -> np.ndarray:
        out: np.ndarray = np.broadcast_to(np.asarray(self.initial, dtype=self.dtype), self.shape).copy()
        return out


class SourceModel(Protocol):
    """The model in its own framework, stepped once per call; it keeps its own recurrent state between calls.

    ``step`` returns every output by name: the model's outputs (``output_names``) and, for each
    :class:`StatePair` in ``state``, the state after the step under the pair's ``output`` name."""

    description: str
    input_names: list[str]
    output_names: list[str]
    state: list[StatePair]

    def reset(self) -> None: ...

    def step(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def _as_shape(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if a.shape == tuple(shape):
        return a
    if tuple(d for d in a.shape if d != 1) == tuple(d for d in shape if d != 1):
        return a.reshape(shape)  # only unit dims differ
    raise ValueError(f"output {name!r}: the source gives shape {a.shape}, the engine {tuple(shape)}")


def verify_sequence(candidate: InferenceBackend, source: SourceModel, steps: Sequence[Mapping[str, np.ndarray]],
                    precision: Precision | str, inputs_source: str) -> VerificationReport:
    """Step the source model and the engine through ``steps`` side by side; compare every output at every step.

    The engine's state inputs start at each pair's initial value and are then fed its own state outputs of
    the previous step (as the daemon will); the source keeps its state as it always does. A source state the
    engine has no input/output for (the state frozen into constants) fails the report outright, besides the
    divergence it causes."""
    tol = TOLERANCES[precision]
    report = VerificationReport(precision=str(precision), samples=len(steps), inputs_source=inputs_source,
                                compared_with=source.description, mode="sequence")
    fed = [p for p in source.state if p.input in candidate.inputs and p.output in candidate.outputs]
    report.recurrent_state = [f"{p.input} <- {p.output}" for p in fed]
    for p in source.state:
        if p not in fed:
            report.problems.append(f"the engine has no state input {p.input!r} / output {p.output!r} for the source's "
                                   f"recurrent state {p.buffer or p.input!r}: it was frozen or dropped at export")
    state_names = {p.input for p in fed} | {p.output for p in fed}
    extra_in = sorted(set(candidate.inputs) - set(source.input_names) - state_names)
    missing_in = sorted(set(source.input_names) - set(candidate.inputs))
    if extra_in or missing_in:
        raise ValueError(f"engine inputs {sorted(candidate.inputs)} do not match the source's {source.input_names}"
                         f"{' + state ' + str(sorted(p.input for p in fed)) if fed else ''}")
    compared = [n for n in source.output_names if n in candidate.outputs] + [p.output for p in fed]
    missing_out = [n for n in source.output_names if n not in candidate.outputs]
    if missing_out:
        raise ValueError(f"the engine has no outputs {missing_out} of the source's {source.output_names}")
    for p in fed:
        if tuple(candidate.inputs[p.input].shape) != tuple(p.shape):
            raise ValueError(f"state input {p.input!r}: engine shape {candidate.inputs[p.input].shape}, the source's state "
                             f"{p.buffer or p.input!r} has {p.shape}")
    source.reset()
    for p in fed:
        candidate.inputs[p.input][...] = p.initial_array()
    got: dict[str, list[np.ndarray]] = {n: [] for n in compared}
    want: dict[str, list[np.ndarray]] = {n: [] for n in compared}
    for feed in steps:
        for name in source.input_names:
            candidate.inputs[name][...] = feed[name]
        candidate.run()
        ref = source.step({n: feed[n] for n in source.input_names})
        for n in compared:
            got[n].append(candidate.outputs[n].copy())
            want[n].append(_as_shape(n, np.asarray(ref[n]), candidate.outputs[n].shape))
        for p in fed:
            candidate.inputs[p.input][...] = candidate.outputs[p.output]
    for n in compared:
        report.outputs.append(compare_output(n, np.stack(want[n]), np.stack(got[n]), tol))
    return report
