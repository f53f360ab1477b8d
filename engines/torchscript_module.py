"""TorchScript archives: loading them, and finding the state their forward() keeps inside the module.

State is found twice over (engines/torchscript_export.py says why both): in the inlined graph, attribute writes
(``prim::SetAttr``) and in-place ops on an attribute or a view of one, outside ``if self.training:`` branches; and
by calling forward() twice on one seeded input and comparing every buffer. The exporter turns what is found into
explicit state inputs and outputs, or refuses.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model_check import ModelCheckError
from .shape_profile import InputShape

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")

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
