"""TorchScript to ONNX, the first step of building an engine from a TorchScript policy, without freezing its state.

PyTorch is an optional extra (``pip install 'edgepilot[torch]'``), needed for
this step only; it is imported here, lazily. TorchScript archives keep no
input shapes, so every ``forward`` argument needs a ``--shape`` (named as
``forward`` names it: ``edgepilot engine inspect policy.pt`` lists them); a
dimension whose min and max differ is exported as a dynamic axis. Inputs are
float32. The export uses PyTorch's TorchScript-based exporter (``dynamo=False``):
the newer torch.export-based one takes ``nn.Module`` source, not a compiled
TorchScript archive.

**Recurrent state kept in the module.** rsl_rl's and legged_gym's exporters
write recurrent policies whose ``forward(x)`` reads ``self.hidden_state`` /
``self.cell_state`` buffers and writes them back in place
(``self.hidden_state[:] = h``). Exported as it is, the ONNX exporter turns those
buffers into constants (their values after whatever passes ran before the
export) and drops the writes: a policy with no memory that still verifies
against its own export (issue 16). So before exporting, :func:`find_module_state`
looks for state two ways:

* statically, in ``forward``'s inlined TorchScript graph: ``prim::SetAttr`` on
  the module or a submodule, and in-place ops (``aten::copy_``, ``aten::add_``,
  ... any ``aten::*_``) whose target is an attribute or a view of one
  (``aten::slice``, ``select``, ``view``, ...);
* dynamically: ``forward`` runs twice on the same seeded input; a buffer that
  changed, or outputs that differ between the two calls, mean state.

A module with tensor state is **exported with the state as explicit inputs and
outputs** (chosen over refusing: the user's archive then builds as it is, and
its behaviour is pinned by the sequence check below, so the wrapper cannot
silently be wrong). The wrapper, compiled with ``torch.jit.script``, is::

    forward(<forward's args>, <buffer>_in, ...):
        self.inner.<buffer>.copy_(<buffer>_in)   # for each state buffer
        out = self.inner(<forward's args>)       # the user's scripted forward, unchanged
        return (*out, self.inner.<buffer>.clone(), ...)

Its ONNX inputs are ``forward``'s arguments then ``<buffer>_in`` per state; its
outputs are the module's outputs then ``<buffer>_out`` (dots in nested buffer
names become ``_``). Right after the export the ONNX file is stepped against the
TorchScript module over :data:`~.verify.MIN_SEQUENCE_STEPS` steps with its state
fed back; if they differ, or the state is not a tensor (a Python int step
counter, say), or ``forward`` is not a function of its inputs and tensor state
(random ops), the export is refused with an error saying why and how to export
the policy correctly. Mutable state is never baked into constants.

**Metadata for the daemon.** The pairing is recorded in the ONNX model's
``metadata_props`` under :data:`RECURRENT_STATE_KEY`, a JSON list in state order::

    edgepilot.recurrent_state = [{"input": "hidden_state_in", "output": "hidden_state_out",
                                  "shape": [1, 1, 64], "dtype": "float32", "initial": 0,
                                  "buffer": "hidden_state"}, ...]

``initial`` is the buffer's value in the archive: ``0`` when all zeros (rsl_rl's
reset value), else the nested list of values. At each tick the daemon feeds
``output`` of the previous tick into ``input``; at activation (and after a
reset) it feeds ``initial``. The same list is copied into the engine cache
sidecar (``EngineMetadata.recurrent_state``), which TensorRT engines need since
they keep no ONNX metadata. :func:`state_pairs_from_onnx` reads it back.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.common.atomic_file import commit_temp, temp_path_for
from .model_check import ModelCheckError
from .shape_profile import InputShape
from .torchscript_module import TORCHSCRIPT_SUFFIXES as TORCHSCRIPT_SUFFIXES  # re-exported: the CLI's and extras' name
from .torchscript_module import (ModuleState, _flat, find_module_state, forward_argument_names, import_torch,
                                 load_torchscript, resolve_attribute)
from .torchscript_module import is_torchscript as is_torchscript  # re-exported
from .verify import MIN_SEQUENCE_STEPS, TOLERANCES, StatePair, random_inputs, verify_sequence

DEFAULT_EXPORT_OPSET = 17
RECURRENT_STATE_KEY = "edgepilot.recurrent_state"
# Bumped when the export changes what it produces for the same archive (it is part of the engine key, so engines
# built by an older export, such as the state-freezing one before issue 16, are rebuilt, never reused).
EXPORT_VERSION = "explicit-state-1"



def _how_to_export(path: Path, state: Sequence[str]) -> str:
    short = [s.split(".")[-1] for s in state] or ["h", "c"]
    return (f"Export {path.name} with its state as tensor inputs and outputs instead, forward(obs, {', '.join(short)}) "
            f"-> (action, new {', '.join(short)}), and build that: rsl_rl's export_policy_as_onnx does this for LSTM/GRU "
            "actors (inputs obs, h_in, c_in; outputs actions, h_out, c_out); for legged_gym/Isaac Lab or your own "
            "nn.Module, torch.onnx.export it with the state as arguments and return values")


# ----------------------------------------------------------------------------- the torch source, stepped

class TorchScriptSource:
    """The TorchScript archive run in torch, one step per call, keeping its own buffers (:class:`~.verify.SourceModel`).

    ``output_names`` name the module's outputs in order; ``state`` the buffers it keeps (their values after
    each step are returned under each pair's output name)."""

    def __init__(self, path: Path, input_names: Sequence[str], output_names: Sequence[str],
                 state: Sequence[StatePair] = ()) -> None:
        self.path = Path(path)
        self.description = f"source: torch TorchScript {self.path.name}"
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.state = list(state)
        self._torch = import_torch()
        self._module: Any = None
        self.reset()

    def reset(self) -> None:
        """Reload the archive: the buffers as saved, exactly as a fresh process loading the policy has them."""
        self._module = load_torchscript(self.path)
        names = forward_argument_names(self._module)
        if names != self.input_names:
            raise ValueError(f"{self.path.name}: forward() takes {names}; the engine's inputs (less state) are {self.input_names}")

    def step(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])) for n in self.input_names]
        with torch.no_grad():
            out = _flat(self._module(*args))
        if len(out) != len(self.output_names):
            raise ValueError(f"{self.path.name} returns {len(out)} tensors; the engine has outputs {self.output_names}")
        result = {n: t.detach().cpu().numpy() for n, t in zip(self.output_names, out)}
        for p in self.state:
            result[p.output] = resolve_attribute(self._module, p.buffer).detach().cpu().numpy().copy()
        return result


# ----------------------------------------------------------------------------- metadata

def state_pairs_to_json(pairs: Sequence[StatePair]) -> str:
    return json.dumps([{**asdict(p), "shape": list(p.shape)} for p in pairs])


def state_pairs_from_json(text: str) -> list[StatePair]:
    return [StatePair(input=d["input"], output=d["output"], shape=tuple(int(v) for v in d["shape"]),
                      dtype=d.get("dtype", "float32"), initial=d.get("initial", 0), buffer=d.get("buffer", ""))
            for d in json.loads(text)]


def state_pairs_from_onnx(path: Path) -> list[StatePair]:
    """The recurrent state pairing recorded in an ONNX model's metadata (empty: stateless, or not exported here)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == RECURRENT_STATE_KEY:
            return state_pairs_from_json(prop.value)
    return []


def _set_metadata(path: Path, pairs: Sequence[StatePair]) -> None:
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = RECURRENT_STATE_KEY, state_pairs_to_json(pairs)
    onnx.save(model, str(path))


# ----------------------------------------------------------------------------- export

_WRAPPER = '''
from typing import Tuple
import torch


class ExplicitState(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, {args}) -> Tuple[{ret_types}]:
{sets}
        out = self.inner({call})
        return ({rets},)
'''


@contextmanager
def _explicit_state_module(module: Any, n_args: int, n_out: int, tuple_out: bool, buffers: Sequence[str]) -> Iterator[Any]:
    """The scripted wrapper (see the module docstring). TorchScript compiles from source files, so it is written to
    a temporary one and imported from there."""
    torch = import_torch()
    args = [f"i{k}: torch.Tensor" for k in range(n_args)] + [f"s{k}: torch.Tensor" for k in range(len(buffers))]
    sets = "\n".join(f"        self.inner.{b}.copy_(s{k})" for k, b in enumerate(buffers))
    outs = [f"out[{k}]" for k in range(n_out)] if tuple_out else ["out"]
    rets = outs + [f"self.inner.{b}.clone()" for b in buffers]
    src = _WRAPPER.format(args=", ".join(args), ret_types=", ".join(["torch.Tensor"] * len(rets)), sets=sets,
                          call=", ".join(f"i{k}" for k in range(n_args)), rets=", ".join(rets))
    with tempfile.TemporaryDirectory(prefix="edgepilot-export-") as tmp:
        file = Path(tmp) / "edgepilot_explicit_state.py"
        file.write_text(src)
        spec = importlib.util.spec_from_file_location("edgepilot_explicit_state", file)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                yield torch.jit.script(mod.ExplicitState(module))
            finally:
                sys.modules.pop("edgepilot_explicit_state", None)


def _returns(module: Any) -> tuple[int, bool] | None:
    """(number of tensors, returned as a tuple) from forward's schema; None if it returns anything but tensors."""
    t = module.forward.schema.returns[0].type
    if t.kind() == "TensorType":
        return 1, False
    if t.kind() == "TupleType" and all(e.kind() == "TensorType" for e in t.elements()):
        return len(t.elements()), True
    return None


def export_torchscript(path: Path, onnx_out: Path, shapes: Mapping[str, InputShape], *, opset: int = DEFAULT_EXPORT_OPSET,
                       output_names: Sequence[str] | None = None) -> list[str]:
    """Export the TorchScript archive at ``path`` to ONNX at ``onnx_out`` (written atomically); return notes.

    Recurrent state kept in the module becomes explicit inputs/outputs, checked against torch over a sequence
    (module docstring); a module whose state cannot be made explicit is refused (ModelCheckError)."""
    torch = import_torch()
    module = load_torchscript(path)
    names = forward_argument_names(module)
    _check_shape_names(path, names, shapes)
    state = find_module_state(path, names, shapes)
    pairs = _state_pairs(path, module, state, names, shapes)
    returns = _returns(module)
    if returns is None and pairs:
        raise ModelCheckError(f"{path.name}: forward() returns {module.forward.schema.returns[0].type}, not tensors; "
                              f"{_how_to_export(path, state.tensors)}")
    args = tuple(torch.zeros(shapes[n].opt, dtype=torch.float32) for n in names)
    output_names = _output_names(module, args, names, pairs, output_names)
    tmp = temp_path_for(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    fresh = load_torchscript(path)  # the export runs on a fresh copy: counting the outputs ran forward() once
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated for nn.Modules, and the only one that takes TorchScript archives.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            export = dict(opset_version=opset, dynamic_axes=_dynamic_axes(names, shapes) or None, dynamo=False)
            if pairs:
                assert returns is not None
                with _explicit_state_module(fresh, len(names), returns[0], returns[1], state.tensors) as wrapper:
                    state_args = tuple(torch.from_numpy(p.initial_array()) for p in pairs)
                    torch.onnx.export(wrapper, args + state_args, str(tmp), input_names=names + [p.input for p in pairs],
                                      output_names=list(output_names) + [p.output for p in pairs], **export)
                _set_metadata(tmp, pairs)
                _check_against_torch(path, tmp, names, list(output_names), pairs, shapes, state)
            else:
                torch.onnx.export(fresh, args, str(tmp), input_names=names, output_names=list(output_names), **export)
        commit_temp(tmp, onnx_out)
    except ModelCheckError:
        raise
    except Exception as err:
        raise ModelCheckError(f"exporting {path.name} to ONNX failed: {type(err).__name__}: {err}"
                              + (f"; {_how_to_export(path, state.tensors)}" if pairs else "")) from None
    finally:
        tmp.unlink(missing_ok=True)
    return _export_notes(path, opset, names, list(output_names), pairs, state)


def _check_shape_names(path: Path, names: list[str], shapes: Mapping[str, InputShape]) -> None:
    """Every forward() argument needs a --shape; a single misnamed one is named with its fix."""
    missing = [n for n in names if n not in shapes]
    extra = sorted(set(shapes) - set(names))
    if missing and extra and len(missing) == len(extra) == 1:
        raise ModelCheckError(f"--shape names {extra[0]!r}, but {path.name}'s forward() calls that input {missing[0]!r}: "
                              f"write --shape {missing[0]}:{'x'.join(map(str, shapes[extra[0]].opt))} (in a robot profile: "
                              f"observation.input_name: {missing[0]})")
    if missing:
        raise ModelCheckError(f"TorchScript keeps no input shapes: give one for each forward() argument {names}, e.g. "
                              + " ".join(f"--shape {n}:1x5" for n in missing))


def _state_pairs(path: Path, module: Any, state: ModuleState, names: list[str],
                 shapes: Mapping[str, InputShape]) -> list[StatePair]:
    """The explicit state inputs/outputs for the module's tensor state, or ModelCheckError for state that cannot be."""
    if state.others or state.impure:
        what = (f"forward() assigns non-tensor attributes {state.others}" if state.others else
                "forward() returns different outputs for the same input twice, and no tensor state explains it "
                "(random ops, or state edgepilot cannot see)")
        raise ModelCheckError(f"{path.name}: {what}; edgepilot cannot export that state as explicit inputs and outputs, "
                              f"and will not freeze it into constants. {_how_to_export(path, state.others)}")
    bad = [b for b in state.tensors if not all(part.isidentifier() for part in b.split("."))]
    if bad:
        raise ModelCheckError(f"{path.name} keeps recurrent state in {bad}, which edgepilot cannot address by name; "
                              f"{_how_to_export(path, bad)}")
    pairs = [StatePair(input=b.replace(".", "_") + "_in", output=b.replace(".", "_") + "_out",
                       shape=tuple(resolve_attribute(module, b).shape), dtype=str(resolve_attribute(module, b).dtype).removeprefix("torch."),
                       initial=_initial(resolve_attribute(module, b)), buffer=b) for b in state.tensors]
    allowed_extra = {p.input for p in pairs}
    extra = [n for n in sorted(set(shapes) - set(names)) if n not in allowed_extra]
    if extra:
        raise ModelCheckError(f"--shape names {extra}, which forward() does not take; its arguments are {names}")
    for p in pairs:
        if p.input in shapes and shapes[p.input].opt != p.shape:
            raise ModelCheckError(f"--shape {p.input}: the state buffer {p.buffer} has shape {list(p.shape)}")
        if p.dtype != "float32":
            raise ModelCheckError(f"{path.name} keeps recurrent state {p.buffer} as {p.dtype}; engines here take float32 "
                                  f"state. {_how_to_export(path, [p.buffer])}")
    return pairs


def _output_names(module: Any, args: tuple[Any, ...], names: list[str], pairs: list[StatePair],
                  given: Sequence[str] | None) -> Sequence[str]:
    """The graph's output names: the given ones (one per returned tensor), else output / output_<i>."""
    torch = import_torch()
    with torch.no_grad():
        n_out = len(_flat(module(*args)))  # on this copy only: the export uses a fresh one
    if given is None:
        given = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    elif len(given) != n_out:
        raise ModelCheckError(f"--output-names (a profile's engine.torchscript_outputs) gives {len(given)} names; the model "
                              f"returns {n_out} tensors: name each, in order")
    clash = sorted(set(given) & {n for p in pairs for n in (p.input, p.output)} | set(given) & set(names))
    if clash:
        raise ModelCheckError(f"output names {clash} clash with input or state names; choose others with --output-names")
    return given


def _dynamic_axes(names: list[str], shapes: Mapping[str, InputShape]) -> dict[str, dict[int, str]]:
    dynamic_axes: dict[str, dict[int, str]] = {}
    for n in names:
        s = shapes[n]
        axes = {i: f"{n}_dim{i}" for i in range(len(s.opt)) if s.min[i] != s.max[i]}
        if axes:
            dynamic_axes[n] = axes
    return dynamic_axes


def _export_notes(path: Path, opset: int, names: list[str], output_names: list[str], pairs: list[StatePair],
                  state: ModuleState) -> list[str]:
    notes = [f"exported TorchScript {path.name} to ONNX opset {opset} (inputs {names}, outputs {output_names})"]
    if pairs:
        notes.append(f"{path.name} keeps recurrent state in {', '.join(f'{p.buffer} ({state.how[p.buffer]})' for p in pairs)}: "
                     f"exported as explicit state inputs/outputs "
                     f"{', '.join(f'{p.input} <- {p.output}' for p in pairs)} (recorded in the model's metadata, "
                     f"{RECURRENT_STATE_KEY}) and checked against torch over {MIN_SEQUENCE_STEPS} steps")
    return notes


def _initial(t: Any) -> float | list[Any]:
    return 0 if not bool(t.detach().ne(0).any()) else t.detach().cpu().tolist()


def _check_against_torch(path: Path, onnx_path: Path, names: list[str], output_names: list[str], pairs: list[StatePair],
                         shapes: Mapping[str, InputShape], state: ModuleState) -> None:
    """The explicit-state export, stepped against the archive in torch: refuse it if they differ at any step."""
    from .backend import TensorSpec
    from .onnxruntime_backend import OnnxRuntimeBackend

    source = TorchScriptSource(path, names, output_names, pairs)
    onnx_run = OnnxRuntimeBackend(onnx_path, input_shapes={**{n: shapes[n].opt for n in names},
                                                           **{p.input: p.shape for p in pairs}})
    try:
        specs = [TensorSpec(n, shapes[n].opt, np.dtype(np.float32)) for n in names]
        report = verify_sequence(onnx_run, source, random_inputs(specs, MIN_SEQUENCE_STEPS, seed=0), "fp32", "random, seed 0")
    finally:
        onnx_run.close()
    if not report.passed:
        raise ModelCheckError(
            f"{path.name} keeps recurrent state in {', '.join(p.buffer for p in pairs)}, written by forward(); "
            f"exported with that state as explicit inputs/outputs, it does not compute what the TorchScript module "
            f"computes (tolerance {vars(TOLERANCES['fp32'])}):\n{report.table()}\n{_how_to_export(path, state.tensors)}")
