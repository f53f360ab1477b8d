"""Checks an ONNX model must pass before an engine is built from it.

Opset in the range the engine builders parse, a model the ONNX checker
accepts, shape inference that succeeds at the shapes the engine will run,
named inputs and outputs, and no dynamic dimension left without a shape
(TensorRT needs an optimisation profile for every dynamic input dimension;
the daemon needs one concrete shape to preallocate its buffers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .shape_profile import Dims, InputShape, format_dims

# The oldest opset TensorRT's ONNX parser supports (backward support to 9);
# onnxruntime accepts older ones but an engine must build on the robot.
MIN_OPSET = 9
# TensorRT 10.0 parses opsets 9..20 (onnx-tensorrt docs/operators.md); later 10.x
# releases parse newer ones, so above this it is a warning, not an error.
TENSORRT10_TESTED_MAX_OPSET = 20

Dim = int | str | None  # int: fixed size; str: symbolic name (dim_param); None: unknown


class ModelCheckError(ValueError):
    """The model cannot be built into an engine; the message names what is wrong and how to fix it."""


@dataclass(frozen=True)
class ModelTensor:
    """A graph input or output as the model declares it (dims may be symbolic)."""

    name: str
    dims: tuple[Dim, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.dims)
        return f"{self.name} {self.dtype} [{dims}]"


@dataclass(frozen=True)
class CheckedModel:
    """An ONNX model that passed every check, with the concrete shapes an engine will be built for."""

    path: Path
    opset: int
    ir_version: int
    producer: str
    inputs: tuple[ModelTensor, ...]
    outputs: tuple[ModelTensor, ...]
    shapes: dict[str, InputShape]
    output_shapes: dict[str, Dims]
    files: tuple[Path, ...]  # the model file and any external-data files, for hashing
    warnings: tuple[str, ...] = field(default=())


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ModelCheckError("the 'onnx' package is needed to check models: pip install 'edgepilot[tensorrt]' (or onnx)") from None
    return onnx


def _tensor(onnx: Any, vi: Any, where: str) -> ModelTensor:
    t = vi.type
    if t.WhichOneof("value") != "tensor_type":
        raise ModelCheckError(f"{where} {vi.name!r} is a {t.WhichOneof('value')}, not a tensor; engines take tensors only")
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type))
    except Exception:
        raise ModelCheckError(f"{where} {vi.name!r} has element type {t.tensor_type.elem_type}, which has no numpy equivalent") from None
    dims: list[Dim] = []
    if not t.tensor_type.HasField("shape"):
        raise ModelCheckError(f"{where} {vi.name!r} has no shape (not even its rank); re-export the model with shapes")
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return ModelTensor(vi.name, tuple(dims), dtype)


def _default_opset(model: Any) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ModelCheckError("the model imports no default-domain (ai.onnx) opset; re-export it with an opset_version, e.g. 17")


def external_data_files(onnx: Any, model: Any, base: Path) -> list[Path]:
    files: set[Path] = set()
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            for kv in init.external_data:
                if kv.key == "location":
                    files.add((base / kv.value).resolve())
    return sorted(files)


def _resolve_shapes(inputs: tuple[ModelTensor, ...], given: Mapping[str, InputShape]) -> dict[str, InputShape]:
    names = [t.name for t in inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ModelCheckError(f"--shape names {unknown}, which the model does not have as inputs; its inputs are {names}")
    resolved: dict[str, InputShape] = {}
    unresolved: list[str] = []
    for t in inputs:
        g = given.get(t.name)
        if g is None:
            if all(isinstance(d, int) for d in t.dims):
                resolved[t.name] = InputShape.fixed(t.name, [int(d) for d in t.dims])  # type: ignore[arg-type]
                continue
            dyn = ", ".join(f"dim {i} ({'?' if d is None else repr(d)})" for i, d in enumerate(t.dims) if not isinstance(d, int))
            example = format_dims(tuple(d if isinstance(d, int) else 1 for d in t.dims))
            unresolved.append(f"input {t.name!r} [{'x'.join('?' if d is None else str(d) for d in t.dims)}] has dynamic {dyn}: "
                              f"give --shape {t.name}:{example} (fixed) or --shape {t.name}:MIN,OPT,MAX (an optimisation profile)")
            continue
        if len(g.opt) != len(t.dims):
            raise ModelCheckError(f"--shape for {t.name!r} has rank {len(g.opt)} but the model's input has rank {len(t.dims)} "
                                  f"[{'x'.join('?' if d is None else str(d) for d in t.dims)}]")
        for i, d in enumerate(t.dims):
            if isinstance(d, int) and not (g.min[i] == g.opt[i] == g.max[i] == d):
                raise ModelCheckError(f"--shape for {t.name!r}: dim {i} is fixed to {d} in the model; "
                                      f"min/opt/max must all be {d} there")
        resolved[t.name] = g
    if unresolved:
        raise ModelCheckError("dynamic dimensions without a shape:\n  " + "\n  ".join(unresolved))
    return resolved


def check_onnx_model(path: str | Path, shapes: Mapping[str, InputShape] | None = None, *,
                     for_tensorrt: bool = False) -> CheckedModel:
    """Run every check; return the model's IO and the concrete shapes, or raise ModelCheckError saying what to fix.

    ``shapes`` resolves dynamic input dimensions (from ``--shape``); inputs
    whose dims are all fixed need no entry. ``for_tensorrt`` adds the warning
    about opsets newer than TensorRT 10.0 parses.
    """
    onnx = _onnx()
    path = Path(path)
    model = _load(onnx, path)
    warnings: list[str] = []
    opset = _check_opset(onnx, model, for_tensorrt, warnings)
    try:
        onnx.checker.check_model(str(path))  # by path so models with external data (>2 GB) are checked too
    except Exception as err:
        raise ModelCheckError(f"the ONNX checker rejects {path.name}: {err}") from None
    inputs, outputs = _check_io(onnx, model)
    resolved = _resolve_shapes(inputs, shapes or {})
    output_shapes = _infer_output_shapes(onnx, model, resolved, warnings)
    files = (path.resolve(), *external_data_files(onnx, model, path.resolve().parent))
    producer = f"{model.producer_name} {model.producer_version}".strip()
    return CheckedModel(path=path, opset=opset, ir_version=int(model.ir_version), producer=producer, inputs=inputs,
                        outputs=outputs, shapes=resolved, output_shapes=output_shapes, files=files, warnings=tuple(warnings))


def _load(onnx: Any, path: Path) -> Any:
    if not path.is_file():
        raise ModelCheckError(f"model file not found: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise ModelCheckError(f"{path} is not a readable ONNX model ({type(err).__name__}: {err}); "
                              "TorchScript models (.pt/.ts) are converted by 'edgepilot engine build' first") from None


def _check_opset(onnx: Any, model: Any, for_tensorrt: bool, warnings: list[str]) -> int:
    opset = _default_opset(model)
    newest = int(onnx.defs.onnx_opset_version())
    if opset < MIN_OPSET:
        raise ModelCheckError(f"opset {opset} is older than {MIN_OPSET}, the oldest TensorRT parses; "
                              "re-export with opset_version=17 (torch.onnx.export) or convert with onnx.version_converter")
    if opset > newest:
        raise ModelCheckError(f"opset {opset} is newer than this onnx package knows ({newest}); "
                              f"re-export with opset_version<={newest} or upgrade onnx")
    if for_tensorrt and opset > TENSORRT10_TESTED_MAX_OPSET:
        warnings.append(f"opset {opset} is newer than TensorRT 10.0 parses ({TENSORRT10_TESTED_MAX_OPSET}); if the TensorRT "
                        "parser rejects a node, re-export with opset_version=17")
    return opset


def _check_io(onnx: Any, model: Any) -> tuple[tuple[ModelTensor, ...], tuple[ModelTensor, ...]]:
    """The graph's inputs (initialisers excluded) and outputs: at least one each, every name present and unique."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(_tensor(onnx, vi, "input") for vi in model.graph.input if vi.name not in initializers)
    outputs = tuple(_tensor(onnx, vi, "output") for vi in model.graph.output)
    if not inputs or not outputs:
        raise ModelCheckError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs; it needs at least one of each")
    names = [t.name for t in inputs + outputs]
    if any(not n for n in names):
        raise ModelCheckError("an input or output has an empty name; the daemon binds tensors by name: "
                              "re-export with input_names=[...] and output_names=[...]")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ModelCheckError(f"tensor names {dup} are used twice among inputs and outputs; give each a unique name")
    return inputs, outputs


def _infer_output_shapes(onnx: Any, model: Any, resolved: Mapping[str, InputShape], warnings: list[str]) -> dict[str, Dims]:
    """Output shapes inferred at the shape the engine runs (opt): a profile that fits the declared dims can still
    break a Reshape or a Conv deeper in the graph."""
    concrete = onnx.ModelProto()
    concrete.CopyFrom(model)
    for vi in concrete.graph.input:
        s = resolved.get(vi.name)
        if s is None:
            continue
        dims = vi.type.tensor_type.shape.dim
        for i, d in enumerate(s.opt):
            dims[i].Clear()
            dims[i].dim_value = d
    try:
        inferred = onnx.shape_inference.infer_shapes(concrete, check_type=True, strict_mode=True, data_prop=True)
    except Exception as err:
        shown = ", ".join(f"{n}:{format_dims(s.opt)}" for n, s in resolved.items())
        raise ModelCheckError(f"shape inference fails at input shapes {shown}: {err}") from None
    output_shapes: dict[str, Dims] = {}
    for vi in inferred.graph.output:
        t = _tensor(onnx, vi, "output")
        if all(isinstance(d, int) for d in t.dims):
            output_shapes[t.name] = tuple(int(d) for d in t.dims)  # type: ignore[arg-type]
        else:
            warnings.append(f"output {t.name!r} shape [{'x'.join('?' if d is None else str(d) for d in t.dims)}] "
                            "depends on data; its buffer is sized by the first run")
    return output_shapes


def model_files(path: Path) -> list[Path]:
    """The files whose bytes make up a model: the file itself plus an ONNX model's external-data files.

    TorchScript archives are single files. An unreadable ONNX file hashes as its
    bytes alone (the checks report what is wrong with it).
    """
    if path.suffix.lower() != ".onnx":
        return [path]
    onnx = _onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception:
        return [path]
    return [path.resolve(), *external_data_files(onnx, model, path.resolve().parent)]


def declared_inputs(path: str | Path) -> tuple[ModelTensor, ...]:
    """The model's graph inputs (initializers excluded) as declared, dims possibly symbolic; no checks run."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise ModelCheckError(f"{path} is not a readable ONNX model ({type(err).__name__}: {err})") from None
    init = {i.name for i in model.graph.initializer}
    return tuple(_tensor(onnx, vi, "input") for vi in model.graph.input if vi.name not in init)
