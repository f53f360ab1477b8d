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
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.common.atomic_file import commit_temp, temp_path_for
from .model_check import ModelCheckError
from .shape_profile import InputShape
from .verify import MIN_SEQUENCE_STEPS, TOLERANCES, StatePair, random_inputs, verify_sequence

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
DEFAULT_EXPORT_OPSET = 17
RECURRENT_STATE_KEY = "edgepilot.recurrent_state"
# Bumped when the export changes what it produces for the same archive (it is part of the engine key, so engines
# built by an older export, such as the state-freezing one before issue 16, are rebuilt, never reused).
EXPORT_VERSION = "explicit-state-1"

# Ops that return a view of (or the same storage as) their first input: an in-place op on their result writes
# the attribute they came from.
_VIEW_OPS = frozenset({
    "aten::slice", "aten::select", "aten::view", "aten::reshape", "aten::unsqueeze", "aten::squeeze", "aten::narrow",
    "aten::expand", "aten::expand_as", "aten::transpose", "aten::permute", "aten::t", "aten::as_strided",
    "aten::detach", "aten::alias", "aten::diagonal", "aten::view_as", "aten::flatten", "aten::unflatten",
    "aten::__getitem__", "aten::chunk", "aten::split", "aten::unbind", "aten::movedim", "aten::real", "aten::imag",
    "prim::ListUnpack", "prim::TupleUnpack", "aten::contiguous",
})


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive: a zip holding ``<name>/code/`` and ``<name>/data.pkl`` (whatever the suffix)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("data.pkl") for n in names)


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelCheckError("this is a TorchScript model; converting it to ONNX needs PyTorch: "
                              "pip install 'edgepilot[torch]' (or export ONNX in your training code)") from None
    return torch


def forward_argument_names(module: Any) -> list[str]:
    """Names of ``forward``'s tensor arguments, in order (``self`` excluded)."""
    return [a.name for a in module.forward.schema.arguments][1:]


def load_torchscript(path: Path) -> Any:
    """A fresh copy of the archive's module, in eval mode, its buffers as saved."""
    torch = import_torch()
    try:
        with warnings.catch_warnings():
            # PyTorch deprecates TorchScript itself; loading existing archives is exactly what is needed here.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch raises RuntimeError and friends for non-TorchScript files
        raise ModelCheckError(f"{path} is not a loadable TorchScript archive ({type(err).__name__}: {err})") from None
    module.eval()
    return module


# ----------------------------------------------------------------------------- finding state

@dataclass
class ModuleState:
    """What ``forward`` writes. ``tensors``: attribute paths of tensor state; ``others``: non-tensor attributes
    it assigns; ``impure``: outputs differ between two calls on the same input with no state found to explain it."""

    tensors: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    impure: bool = False
    how: dict[str, str] = field(default_factory=dict)  # path -> how it was found

    @property
    def stateless(self) -> bool:
        return not (self.tensors or self.others or self.impure)


def resolve_attribute(module: Any, path: str) -> Any:
    obj = module
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _is_training_flag(v: Any) -> bool:
    n = v.node()
    return bool(n.kind() == "prim::GetAttr" and n.s("name") == "training")


def _walk(block: Any) -> Iterator[Any]:
    """Every node, into if/loop blocks, except the branch ``if self.training:`` takes: the module runs in eval
    mode, where e.g. an observation normaliser's running-statistics update never runs."""
    for n in block.nodes():
        yield n
        blocks = list(n.blocks())
        if n.kind() == "prim::If" and _is_training_flag(next(iter(n.inputs()))):
            blocks = blocks[1:]  # the else branch only
        for b in blocks:
            yield from _walk(b)


def written_attributes(module: Any) -> tuple[dict[str, str], list[str]]:
    """Statically, from ``forward``'s inlined graph: ({tensor attribute path: op that writes it}, [non-tensor paths])."""
    graph = module.forward.inlined_graph
    paths: dict[int, str] = {next(iter(graph.inputs())).unique(): ""}
    tensors: dict[str, str] = {}
    others: list[str] = []

    def origin(v: Any) -> str | None:
        for _ in range(64):
            if v.unique() in paths:
                return paths[v.unique()]
            n = v.node()
            if n.kind() not in _VIEW_OPS or not list(n.inputs()):
                return None
            v = next(iter(n.inputs()))
        return None

    for n in _walk(graph):
        kind = n.kind()
        ins = list(n.inputs())
        if kind == "prim::GetAttr" and ins and ins[0].unique() in paths:
            base = paths[ins[0].unique()]
            paths[n.output().unique()] = f"{base}.{n.s('name')}" if base else n.s("name")
        elif kind == "prim::SetAttr" and ins and ins[0].unique() in paths:
            base = paths[ins[0].unique()]
            p = f"{base}.{n.s('name')}" if base else n.s("name")
            if ins[1].type().kind() == "TensorType":
                tensors.setdefault(p, "prim::SetAttr")
            elif p not in others:
                others.append(p)
        elif kind.startswith("aten::") and kind.endswith("_") and not kind.startswith("aten::__") and ins:
            p = origin(ins[0])
            if p:  # "" is the module itself
                tensors.setdefault(p, kind)
    return tensors, others


def find_module_state(path: Path, names: Sequence[str], shapes: Mapping[str, InputShape]) -> ModuleState:
    """Static graph inspection plus two calls of ``forward`` on one seeded input (on a fresh copy of the module)."""
    torch = import_torch()
    module = load_torchscript(path)
    state = ModuleState()
    tensors, others = written_attributes(module)
    state.tensors = list(tensors)
    state.how = {p: f"forward() writes it ({op})" for p, op in tensors.items()}
    state.others = others
    buffers = dict(module.named_buffers())
    tracked = {p: resolve_attribute(module, p) for p in state.tensors}
    tracked.update({n: b for n, b in buffers.items() if n not in tracked})
    before = {p: t.detach().clone() for p, t in tracked.items() if isinstance(t, torch.Tensor)}
    gen = torch.Generator().manual_seed(0)
    args = tuple(torch.randn(shapes[n].opt, generator=gen, dtype=torch.float32) for n in names)
    with torch.no_grad():
        first = _flat(module(*args))
        after = {p: resolve_attribute(module, p).detach().clone() for p in before}
        second = _flat(module(*args))
    for p, t in before.items():
        if (after[p].shape != t.shape or not torch.equal(after[p], t)) and p not in state.tensors:
            state.tensors.append(p)
            state.how[p] = "its value changed when forward() ran"
    differ = len(first) != len(second) or any(not torch.equal(a, b) for a, b in zip(first, second))
    state.impure = differ and not state.tensors and not state.others
    return state


def _flat(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


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
    missing = [n for n in names if n not in shapes]
    extra = sorted(set(shapes) - set(names))
    if missing and extra and len(missing) == len(extra) == 1:
        raise ModelCheckError(f"--shape names {extra[0]!r}, but {path.name}'s forward() calls that input {missing[0]!r}: "
                              f"write --shape {missing[0]}:{'x'.join(map(str, shapes[extra[0]].opt))}")
    if missing:
        raise ModelCheckError(f"TorchScript keeps no input shapes: give one for each forward() argument {names}, e.g. "
                              + " ".join(f"--shape {n}:1x5" for n in missing))

    state = find_module_state(path, names, shapes)
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
    shape_given = sorted(set(shapes) - set(names))
    pairs = [StatePair(input=b.replace(".", "_") + "_in", output=b.replace(".", "_") + "_out",
                       shape=tuple(resolve_attribute(module, b).shape), dtype=str(resolve_attribute(module, b).dtype).removeprefix("torch."),
                       initial=_initial(resolve_attribute(module, b)), buffer=b) for b in state.tensors]
    allowed_extra = {p.input for p in pairs}
    extra = [n for n in shape_given if n not in allowed_extra]
    if extra:
        raise ModelCheckError(f"--shape names {extra}, which forward() does not take; its arguments are {names}")
    for p in pairs:
        if p.input in shapes and shapes[p.input].opt != p.shape:
            raise ModelCheckError(f"--shape {p.input}: the state buffer {p.buffer} has shape {list(p.shape)}")
        if p.dtype != "float32":
            raise ModelCheckError(f"{path.name} keeps recurrent state {p.buffer} as {p.dtype}; engines here take float32 "
                                  f"state. {_how_to_export(path, [p.buffer])}")

    returns = _returns(module)
    if returns is None and pairs:
        raise ModelCheckError(f"{path.name}: forward() returns {module.forward.schema.returns[0].type}, not tensors; "
                              f"{_how_to_export(path, state.tensors)}")
    args = tuple(torch.zeros(shapes[n].opt, dtype=torch.float32) for n in names)
    with torch.no_grad():
        n_out = len(_flat(module(*args)))  # on this copy only: the export below uses a fresh one
    if output_names is None:
        output_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    elif len(output_names) != n_out:
        raise ModelCheckError(f"--output-names gives {len(output_names)} names; the model returns {n_out} tensors")
    clash = sorted(set(output_names) & {n for p in pairs for n in (p.input, p.output)} | set(output_names) & set(names))
    if clash:
        raise ModelCheckError(f"output names {clash} clash with input or state names; choose others with --output-names")
    dynamic_axes: dict[str, dict[int, str]] = {}
    for n in names:
        s = shapes[n]
        axes = {i: f"{n}_dim{i}" for i in range(len(s.opt)) if s.min[i] != s.max[i]}
        if axes:
            dynamic_axes[n] = axes
    tmp = temp_path_for(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    fresh = load_torchscript(path)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated for nn.Modules, and the only one that takes TorchScript archives.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            if pairs:
                assert returns is not None
                with _explicit_state_module(fresh, len(names), returns[0], returns[1], state.tensors) as wrapper:
                    state_args = tuple(torch.from_numpy(p.initial_array()) for p in pairs)
                    torch.onnx.export(wrapper, args + state_args, str(tmp),
                                      input_names=names + [p.input for p in pairs],
                                      output_names=list(output_names) + [p.output for p in pairs],
                                      opset_version=opset, dynamic_axes=dynamic_axes or None, dynamo=False)
                _set_metadata(tmp, pairs)
                _check_against_torch(path, tmp, names, list(output_names), pairs, shapes, state)
            else:
                torch.onnx.export(fresh, args, str(tmp), input_names=names, output_names=list(output_names),
                                  opset_version=opset, dynamic_axes=dynamic_axes or None, dynamo=False)
        commit_temp(tmp, onnx_out)
    except ModelCheckError:
        raise
    except Exception as err:
        raise ModelCheckError(f"exporting {path.name} to ONNX failed: {type(err).__name__}: {err}"
                              + (f"; {_how_to_export(path, state.tensors)}" if pairs else "")) from None
    finally:
        tmp.unlink(missing_ok=True)
    notes = [f"exported TorchScript {path.name} to ONNX opset {opset} (inputs {names}, outputs {list(output_names)})"]
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
