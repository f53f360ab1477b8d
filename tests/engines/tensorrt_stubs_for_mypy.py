"""Make the installed tensorrt-stubs usable by mypy (used by test_mypy_engines.py; also runnable by hand).

tensorrt-stubs is installed with ``pip install --no-deps`` (its dependency on
the ``tensorrt`` meta-package downloads TensorRT from NVIDIA's index at install
time, which a machine without a GPU neither can nor should do). Three things
keep mypy from reading it as installed, each fixed mechanically in a copy:

1. Its ``tensorrt/`` and ``tensorrt_bindings/`` folders have no ``py.typed``,
   so mypy skips them as an untyped installed package: the copy goes on
   MYPYPATH instead, where that marker is not required.
2. pybind11-stubgen wrote parameters named ``in`` (a keyword) in a few plugin
   classes, and one parameter without a default after defaulted ones
   (``INetworkDefinition.add_scale_nd``): syntax errors. ``in`` becomes ``in_``
   and the parameter gets ``= ...``. edgepilot uses neither.
3. A module-level ``bool: DataType`` (TensorRT's ``trt.bool`` alias) shadows
   the builtin, so every ``-> bool`` in the stubs would mean ``DataType``; the
   alias is renamed ``bool_`` in the copy (edgepilot does not use ``trt.bool``).

Usage: ``python tests/engines/tensorrt_stubs_for_mypy.py DEST`` prints DEST,
then ``MYPYPATH=DEST python -m mypy --config-file tests/engines/mypy_engines.ini engines/``.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

STUBS_DIST = "tensorrt-stubs"
STUBS_VERSION = "10.13.0.35.1"
INSTALL_HINT = f"pip install --no-deps {STUBS_DIST}=={STUBS_VERSION}  (make test does this)"


class StubsMissing(RuntimeError):
    pass


def installed_stub_files() -> list[Path]:
    try:
        dist = metadata.distribution(STUBS_DIST)
    except metadata.PackageNotFoundError:
        raise StubsMissing(f"{STUBS_DIST} is not installed: {INSTALL_HINT}") from None
    files = [Path(str(dist.locate_file(f))) for f in (dist.files or [])
             if str(f).endswith(".pyi") and str(f).split("/")[0] in ("tensorrt", "tensorrt_bindings")]
    if not any(p.name == "tensorrt.pyi" for p in files):
        raise StubsMissing(f"{STUBS_DIST} {dist.version} has no tensorrt_bindings/tensorrt.pyi: {INSTALL_HINT}")
    return files


def _patch(text: str) -> str:
    text = re.sub(r"\bin: list\[", "in_: list[", text)
    text = re.sub(r"(power: Weights = None, channel_axis: int)\)", r"\1 = ...)", text)
    text = re.sub(r"^bool: DataType", "bool_: DataType", text, flags=re.MULTILINE)
    return text


def prepare(dest: Path) -> Path:
    """Copy the installed stubs under ``dest`` (patched as described above); return ``dest`` for MYPYPATH."""
    for src in installed_stub_files():
        package = src.parent.name
        out = dest / package / src.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_patch(src.read_text()))
    return dest


if __name__ == "__main__":
    print(prepare(Path(sys.argv[1]).resolve()))
