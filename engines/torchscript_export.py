"""TorchScript to ONNX, the first step of building an engine from a TorchScript policy.

PyTorch is an optional extra (``pip install 'edgepilot[torch]'``), needed for
this step only; it is imported here, lazily. TorchScript archives keep no
input shapes, so every ``forward`` argument needs a ``--shape``; a dimension
whose min and max differ is exported as a dynamic axis. Inputs are float32.
The export uses PyTorch's TorchScript-based exporter (``dynamo=False``): the
newer torch.export-based one takes ``nn.Module`` source, not a compiled
TorchScript archive.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgepilot.common.atomic_file import commit_temp, temp_path_for
from .model_check import ModelCheckError
from .shape_profile import InputShape

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
DEFAULT_EXPORT_OPSET = 17


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


def export_torchscript(path: Path, onnx_out: Path, shapes: Mapping[str, InputShape], *, opset: int = DEFAULT_EXPORT_OPSET,
                       output_names: Sequence[str] | None = None) -> list[str]:
    """Export the TorchScript archive at ``path`` to ONNX at ``onnx_out`` (written atomically); return notes."""
    torch = import_torch()
    try:
        with warnings.catch_warnings():
            # PyTorch deprecates TorchScript itself; loading existing archives is exactly what is needed here.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch raises RuntimeError and friends for non-TorchScript files
        raise ModelCheckError(f"{path} is not a loadable TorchScript archive ({type(err).__name__}: {err})") from None
    module.eval()
    names = forward_argument_names(module)
    missing = [n for n in names if n not in shapes]
    if missing:
        raise ModelCheckError(f"TorchScript keeps no input shapes: give one for each forward() argument {names}, e.g. "
                              + " ".join(f"--shape {n}:1x5" for n in missing))
    extra = sorted(set(shapes) - set(names))
    if extra:
        raise ModelCheckError(f"--shape names {extra}, which forward() does not take; its arguments are {names}")
    args = tuple(torch.zeros(shapes[n].opt, dtype=torch.float32) for n in names)
    with torch.no_grad():
        result = module(*args)
    n_out = len(result) if isinstance(result, (tuple, list)) else 1
    if output_names is None:
        output_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    elif len(output_names) != n_out:
        raise ModelCheckError(f"--output-names gives {len(output_names)} names; the model returns {n_out} tensors")
    dynamic_axes: dict[str, dict[int, str]] = {}
    for n in names:
        s = shapes[n]
        axes = {i: f"{n}_dim{i}" for i in range(len(s.opt)) if s.min[i] != s.max[i]}
        if axes:
            dynamic_axes[n] = axes
    tmp = temp_path_for(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated for nn.Modules, and the only one that takes TorchScript archives.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(module, args, str(tmp), input_names=names, output_names=list(output_names),
                              opset_version=opset, dynamic_axes=dynamic_axes or None, dynamo=False)
        commit_temp(tmp, onnx_out)
    except ModelCheckError:
        raise
    except Exception as err:
        raise ModelCheckError(f"exporting {path.name} to ONNX failed: {type(err).__name__}: {err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return [f"exported TorchScript {path.name} to ONNX opset {opset} (inputs {names}, outputs {list(output_names)})"]
