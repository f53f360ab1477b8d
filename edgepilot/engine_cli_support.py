"""What every ``edgepilot engine`` subcommand shares: messages, exit codes, the cache, the error types that mean
unusable input, finding a cache entry from what the user typed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def bad_input(msg: str) -> int:
    print(f"edgepilot engine: {msg}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def note(msg: str) -> None:
    print(f"edgepilot engine: {msg}", file=sys.stderr, flush=True)


def input_errors() -> tuple[type[BaseException], ...]:
    from edgepilot.engines.backend import BackendError
    from edgepilot.engines.calibration_batches import CalibrationDataError
    from edgepilot.engines.engine_cache import CacheError
    from edgepilot.engines.model_check import ModelCheckError
    from edgepilot.engines.shape_profile import ShapeProfileError
    from edgepilot.engines.verify import VerificationInputError

    return (BackendError, CalibrationDataError, CacheError, ModelCheckError, ShapeProfileError, VerificationInputError,
            OSError)


def open_cache(args: argparse.Namespace) -> Any:
    from edgepilot.engines.engine_cache import EngineCache, resolve_cache_dir

    return EngineCache(resolve_cache_dir(args.cache_dir))


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str), flush=True)


def require_torch_for(model: Path, command: str) -> None:
    """A TorchScript model needs the 'torch' extra: say so before anything else runs (edgepilot/extras.py)."""
    from edgepilot.extras import require

    from edgepilot.engines.torchscript_export import TORCHSCRIPT_SUFFIXES, is_torchscript

    if model.is_file() and (model.suffix in TORCHSCRIPT_SUFFIXES or is_torchscript(model)):
        require(command, ["torch"])


# ----------------------------------------------------------------------------- engine lookup

def find_entry(cache: Any, target: str) -> Any:
    """A cache entry from a sidecar path, an engine path, or a key digest prefix; None if ``target`` is a bare file."""
    import re

    from edgepilot.engines.engine_cache import EngineCache, sidecar_name_for_engine

    p = Path(target)
    if p.is_file():
        if p.suffix == ".json":
            return EngineCache(p.parent).check(EngineCache(p.parent).read(p))
        name = sidecar_name_for_engine(p.name)
        sidecar = p.with_name(name) if name else p
        if sidecar.is_file() and sidecar != p:
            c = EngineCache(p.parent)
            return c.check(c.read(sidecar))
        return None
    if re.fullmatch(r"[0-9a-f]{8,64}", target):
        entry = cache.find(target)
        if entry is not None:
            return entry
    raise FileNotFoundError(f"{target}: no such file, and no cache entry in {cache.root} has that key digest")


def entry_summary(entry: Any, state: str = "", detail: str = "") -> dict[str, Any]:
    m = entry.metadata
    out: dict[str, Any] = {"metadata": str(entry.meta_path), "state": state, "detail": detail}
    if m is None:
        out["problem"] = entry.problem
        return out
    out.update({"engine": str(entry.engine_path), "engine_size": m.engine_size, "key_digest": m.key_digest,
                "key": m.key.model_dump(mode="json"), "inputs": [t.model_dump(mode="json") for t in m.inputs],
                "outputs": [t.model_dump(mode="json") for t in m.outputs], "source_model": m.source_model,
                "reference_model": m.reference_model, "created_utc": m.created_utc, "verified": m.verified,
                "verification": m.verification, "recurrent_state": m.recurrent_state, "problem": entry.problem})
    return out


def current_platforms() -> dict[str, Any]:
    from edgepilot.engines.platform_detect import detect_platform, tensorrt_status

    platforms: dict[str, Any] = {"onnxruntime": detect_platform("onnxruntime")}
    ok, _ = tensorrt_status()
    platforms["tensorrt"] = detect_platform("tensorrt") if ok else None
    return platforms
