"""``edgepilot engine build``: a model (or a robot profile's) to a verified, cached engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepilot.engine_cli_support import (EXIT_OK, EXIT_VERIFY_FAILED, bad_input, input_errors, note, open_cache, print_json,
                                          require_torch_for)


def _from_profile(args: argparse.Namespace) -> None:
    """``--profile``: what the profile knows fills what the command line leaves out: the model, the cache folder,
    the precision and calibration data, and for a TorchScript model its input shapes and output names (so a
    profile that names a .pt builds without --shape). Explicit options win."""
    args.profile_shapes, args.profile_outputs = {}, None
    if not args.profile:
        return
    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.daemon.inference.backend_loading import profile_input_shapes, torchscript_output_names
    from edgepilot.engines.daemon_engine import resolve_against
    from edgepilot.engines.torchscript_export import TORCHSCRIPT_SUFFIXES, is_torchscript

    profile = load_profile(args.profile)
    e = profile.engine
    args.model = args.model or str(profile.model_path)
    args.precision = args.precision or e.precision
    args.calib = args.calib or (str(resolve_against(profile.base_dir, e.calibration_dir)) if e.calibration_dir else None)
    args.cache_dir = args.cache_dir or (str(resolve_against(profile.base_dir, e.cache_dir)) if e.cache_dir else None)
    model = Path(args.model)
    if model.suffix.lower() in TORCHSCRIPT_SUFFIXES or is_torchscript(model):
        args.profile_shapes, args.profile_outputs = profile_input_shapes(profile), torchscript_output_names(profile)


def cmd_build(args: argparse.Namespace) -> int:
    from edgepilot.engines.engine_provisioning import BuildRequest, EngineVerificationError, provision_engine
    from edgepilot.engines.shape_profile import parse_shape_specs

    try:
        _from_profile(args)
    except ValueError as err:  # ProfileError
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2
    if args.model is None:
        print("edgepilot engine build: give a MODEL or --profile PROFILE", file=sys.stderr)
        return 2
    require_torch_for(Path(args.model), "engine build")
    try:
        request = BuildRequest(
            model=Path(args.model), backend=args.backend, precision=args.precision or "fp32",
            shapes={**args.profile_shapes, **parse_shape_specs(args.shape or [])},
            calib_dir=Path(args.calib) if args.calib else None,
            workspace_mb=args.workspace, dla_core=args.dla, optimization_level=args.optimization_level,
            export_opset=args.opset,
            output_names=tuple(args.output_names.split(",")) if args.output_names else args.profile_outputs,
            force=args.force, verify_samples=args.samples, verify_steps=args.steps, verify_seed=args.seed,
            verify_inputs=Path(args.inputs) if args.inputs else None)
        result = provision_engine(request, open_cache(args), report=note)
    except EngineVerificationError as err:
        print(str(err), file=sys.stderr, flush=True)
        if args.json:
            print_json({"verified": False, "verification": err.report.to_dict()})
        return EXIT_VERIFY_FAILED
    except input_errors() as err:
        return bad_input(str(err))
    meta = result.entry.metadata
    assert meta is not None and result.entry.engine_path is not None
    if args.json:
        print_json({"action": result.action, "engine": str(result.entry.engine_path), "metadata": str(result.entry.meta_path),
                     "backend": meta.key.backend, "precision": meta.key.precision, "key_digest": meta.key_digest,
                     "reasons": result.reasons, "notes": result.notes, "removed_stale": result.removed_stale,
                     "verified": meta.verified, "verification": meta.verification,
                     "build_seconds": meta.build_seconds})
        return EXIT_OK
    for n in result.notes:
        note(n)
    what = "TensorRT engine" if meta.key.backend == "tensorrt" else "ONNX Runtime plan"
    if result.action == "built":
        print(f"built {what} ({meta.key.precision}) in {meta.build_seconds:.1f} s: {result.entry.engine_path}")
    else:
        print(f"cached {what} ({meta.key.precision}) is valid and verified: {result.entry.engine_path}")
    if result.verification is not None:
        print(result.verification.table())
    for name in result.removed_stale:
        print(f"removed stale entry {name}")
    print(f"key {meta.key_digest[:16]}  ({meta.key.runtime_version} on {meta.key.device}, {meta.key.compute_capability})")
    return EXIT_OK
