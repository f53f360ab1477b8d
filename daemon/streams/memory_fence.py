"""A full memory barrier for rings that two processes share, where the CPU needs one (ARM64: the Jetson).

Why: :class:`~.ring_buffer.RingBuffer` is a seqlock. Its writer stores
``seq`` odd, the payload, the stamp, then ``seq`` even; its readers load
``seq``, the payload and ``seq`` again. Across processes nothing but the CPU
orders those memory accesses. x86-64 keeps stores in program order and loads
in program order (TSO), so nothing is needed there. ARM64 is weakly ordered:
without a barrier a reader may see the even ``seq`` before the payload bytes
and return a torn sample. Pure Python and numpy cannot issue a barrier, but
Cyclone DDS, which edgepilot depends on, exports one from its runtime
library: ``ddsrt_atomic_fence`` (a sequentially consistent fence,
``dmb ish`` on ARM64), called here through ctypes. Cyclone is located by its
installed files, not imported (the core does not import cyclonedds).

:func:`cross_process_fence` returns None on TSO machines (nothing to call on
the hot path), the fence elsewhere, and raises where a fence is needed but
cannot be found; the ingest process (daemon/streams/ingest_process.py) is then not
used (``auto``) or refused (``process``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import platform
from pathlib import Path
from typing import Callable

#: Machines whose memory model orders stores with stores and loads with loads (x86 TSO).
TSO_MACHINES = frozenset({"x86_64", "amd64", "i386", "i486", "i586", "i686"})

_fence: Callable[[], None] | None = None


class FenceUnavailable(RuntimeError):
    """This CPU needs a memory barrier for cross-process rings, and none could be loaded."""


def needs_fence(machine: str | None = None) -> bool:
    """Whether cross-process rings need explicit barriers on ``machine`` (default: this one)."""
    return (machine or platform.machine()).lower() not in TSO_MACHINES


def _ddsc_candidates() -> list[Path]:
    spec = importlib.util.find_spec("cyclonedds")
    if spec is None or not spec.submodule_search_locations:
        return []
    pkg = Path(next(iter(spec.submodule_search_locations)))
    found: list[Path] = []
    for folder in (pkg / ".libs", pkg.parent / "cyclonedds.libs", pkg / "lib"):
        found += sorted(folder.glob("libddsc*.so*")) if folder.is_dir() else []
    return found


def load_fence() -> Callable[[], None]:
    """Cyclone DDS's ``ddsrt_atomic_fence`` as a Python callable (loaded once); FenceUnavailable if absent."""
    global _fence
    if _fence is not None:
        return _fence
    tried = []
    for path in _ddsc_candidates() + ["libddsc.so"]:
        try:
            lib = ctypes.CDLL(str(path))
            fn = lib.ddsrt_atomic_fence
        except (OSError, AttributeError) as err:
            tried.append(f"{path}: {err}")
            continue
        fn.argtypes = []
        fn.restype = None
        _fence = fn
        return fn
    raise FenceUnavailable("no ddsrt_atomic_fence in Cyclone DDS's runtime library (" + "; ".join(tried) + ")")


def cross_process_fence(machine: str | None = None) -> Callable[[], None] | None:
    """The barrier a cross-process ring must call on ``machine`` (default: this one), or None if none is needed."""
    if not needs_fence(machine):
        return None
    return load_fence()
