"""``edgepilot engine build|inspect|verify|list|prune``: models to verified engines, and the engine cache.

Exit status: 0 success; 1 verification failed (the engine's outputs are off
the reference model's beyond the precision's tolerance); 2 unusable input
(model, shapes, calibration data, cache folder, missing TensorRT when
``--backend tensorrt`` was asked for) with a message saying what to fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgepilot.engine_build_cli import cmd_build
from edgepilot.engine_cli_support import (EXIT_OK, EXIT_VERIFY_FAILED, current_platforms, entry_summary,
                                          bad_input, find_entry, input_errors, open_cache, print_json, require_torch_for)



# ----------------------------------------------------------------------------- inspect

def cmd_inspect(args: argparse.Namespace) -> int:
    from edgepilot.engines.engine_cache import model_hasher

    target = Path(args.target)
    try:
        cache = open_cache(args)
        if target.is_file() and target.suffix == ".onnx" and not target.name.endswith(".ort.onnx"):
            return _inspect_model(args, target, cache)
        from edgepilot.engines.torchscript_export import TORCHSCRIPT_SUFFIXES, is_torchscript

        if target.is_file() and (target.suffix in TORCHSCRIPT_SUFFIXES or is_torchscript(target)):
            return _inspect_torchscript(args, target)
        entry = find_entry(cache, args.target)
    except input_errors() as err:
        return bad_input(str(err))
    if entry is None:
        return bad_input(f"{target} has no metadata sidecar beside it: only engines from the edgepilot cache can be inspected "
                    "(build one with 'edgepilot engine build MODEL')")
    state, detail = ("corrupt", entry.problem) if not entry.intact else cache.staleness(entry, current_platforms(), model_hasher())
    summary = entry_summary(entry, state, detail)
    m = entry.metadata
    if m is not None and entry.intact and m.key.backend == "tensorrt":
        from edgepilot.engines.platform_detect import tensorrt_status

        ok, why = tensorrt_status()
        if ok:
            from edgepilot.engines.tensorrt_builder import inspect_tensorrt_engine

            summary["tensorrt"] = inspect_tensorrt_engine(entry.engine_path.read_bytes())
        else:
            summary["tensorrt"] = f"not inspected: {why}; showing the recorded metadata"
    if args.json:
        print_json(summary)
        return EXIT_OK
    print(f"engine   {summary.get('engine', '-')}")
    print(f"state    {state}{': ' + detail if detail else ''}")
    if m is None:
        return EXIT_OK
    k = m.key
    print(f"backend  {k.backend} {k.runtime_version}   precision {k.precision}")
    print(f"device   {k.device} ({k.compute_capability}){'  DLA core ' + str(k.dla_core) if k.dla_core is not None else ''}")
    for t in m.inputs:
        print(f"input    {t.name} {t.dtype} {list(t.shape)}")
    for t in m.outputs:
        print(f"output   {t.name} {t.dtype} {list(t.shape)}")
    for s in k.shapes:
        print(f"shape    {s.name} min {list(s.min)} opt {list(s.opt)} max {list(s.max)}")
    for d in m.recurrent_state or []:
        print(f"state    {d['input']} <- {d['output']} {list(d['shape'])}, initial {d['initial'] if d['initial'] == 0 else 'from the archive'}"
              f" (buffer {d['buffer']})")
    print(f"model    {m.source_model} ({k.source_format}, sha256 {k.model_sha256[:16]}...)")
    print(f"builder  {k.builder.model_dump()}")
    print(f"key      {m.key_digest}")
    v = m.verification or {}
    unit = "steps against " + str(v.get("compared_with")) if v.get("mode") == "sequence" else "samples"
    print(f"verified {m.verified}" + (f" (last run: {'passed' if v.get('passed') else 'FAILED'}, {v.get('samples')} {unit})" if v else ""))
    if isinstance(summary.get("tensorrt"), str):
        print(f"note     {summary['tensorrt']}")
    return EXIT_OK


def _inspect_model(args: argparse.Namespace, path: Path, cache: Any) -> int:
    from edgepilot.engines.model_check import check_onnx_model, declared_inputs
    from edgepilot.engines.shape_profile import parse_shape_specs

    shapes = parse_shape_specs(args.shape or [])
    declared = declared_inputs(path)
    checked = check_onnx_model(path, shapes)
    built = [e for e in cache.entries(check=False) if e.metadata is not None
             and Path(e.metadata.source_model) == path.resolve()]
    info = {"model": str(path), "opset": checked.opset, "ir_version": checked.ir_version, "producer": checked.producer,
            "inputs": [{"name": t.name, "dtype": t.dtype.name, "declared": list(t.dims),
                        "shape": {"min": list(checked.shapes[t.name].min), "opt": list(checked.shapes[t.name].opt),
                                  "max": list(checked.shapes[t.name].max)}} for t in declared],
            "outputs": [{"name": t.name, "dtype": t.dtype.name, "declared": list(t.dims),
                         "shape": list(checked.output_shapes.get(t.name, ()))} for t in checked.outputs],
            "warnings": list(checked.warnings), "cached_engines": [str(e.meta_path) for e in built]}
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"model    {path}  (ONNX opset {checked.opset}, IR {checked.ir_version}, producer {checked.producer or '-'})")
    for t in declared:
        s = checked.shapes[t.name]
        print(f"input    {t.describe()}  ->  {list(s.opt)}" + ("" if s.is_fixed else f" (profile {list(s.min)}..{list(s.max)})"))
    for t in checked.outputs:
        print(f"output   {t.describe()}  ->  {list(checked.output_shapes.get(t.name, ()))}")
    for w in checked.warnings:
        print(f"warning  {w}")
    print("checks   passed (opset, ONNX checker, shape inference, named IO, dynamic dims resolved)")
    for e in built:
        print(f"cached   {e.meta_path.name} ({e.metadata.key.backend}, {e.metadata.key.precision})")
    return EXIT_OK


def _inspect_torchscript(args: argparse.Namespace, path: Path) -> int:
    from edgepilot.engines.shape_profile import parse_shape_specs
    from edgepilot.engines.torchscript_export import find_module_state, forward_argument_names, load_torchscript

    require_torch_for(path, "engine inspect")
    module = load_torchscript(path)
    names = forward_argument_names(module)
    shapes = parse_shape_specs(args.shape or [])
    info: dict[str, Any] = {"model": str(path), "format": "torchscript", "forward_arguments": names,
                            "note": "TorchScript keeps no shapes: build with --shape NAME:DIMS for each argument"}
    if set(shapes) >= set(names):
        state = find_module_state(path, names, shapes)
        info["state"] = {"tensors": state.tensors, "how": state.how, "non_tensor": state.others, "impure": state.impure}
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"model    {path}  (TorchScript)")
    print(f"inputs   {', '.join(names)}  (shapes unknown until given: --shape NAME:DIMS)")
    st = info.get("state")
    if st is None:
        print(f"state    not checked: give --shape for {', '.join(names)} to see whether forward() keeps state")
    elif not (st["tensors"] or st["non_tensor"] or st["impure"]):
        print("state    none: forward() writes no buffers or attributes (stateless)")
    else:
        for b in st["tensors"]:
            print(f"state    {b}: {st['how'][b]}; built as explicit inputs/outputs {b.replace('.', '_')}_in/_out")
        for b in st["non_tensor"]:
            print(f"state    {b}: a non-tensor attribute forward() assigns; the build refuses it")
        if st["impure"]:
            print("state    forward() gives different outputs for the same input twice; the build refuses it")
    return EXIT_OK


# ----------------------------------------------------------------------------- verify

def _verify_against_onnx(candidate: Any, args: argparse.Namespace, precision: str) -> Any:
    """The candidate against a reference ONNX model in ONNX Runtime, on logged or seeded random samples."""
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
    from edgepilot.engines.verify import inputs_from_file, random_inputs, verify_backends

    ins, _ = candidate.describe()
    reference = OnnxRuntimeBackend(args.reference, input_shapes={s.name: s.shape for s in ins})
    try:
        if args.inputs:
            samples, source = inputs_from_file(args.inputs, ins), f"inputs from {Path(args.inputs).name}"
        else:
            samples, source = random_inputs(ins, args.samples, args.seed), f"random, seed {args.seed}"
        report = verify_backends(candidate, reference, samples, precision, source)
        report.compared_with = f"reference ONNX {Path(args.reference).name}"
    finally:
        reference.close()
    return report


def _record_verification(cache: Any, entry: Any, args: argparse.Namespace, precision: str, torch_reference: bool,
                         report: Any) -> str:
    """Record the result in the entry's sidecar when it checked the engine against its own source at its own
    precision; say why not otherwise ("" for an engine outside the cache)."""
    if entry is None or entry.metadata is None:
        return ""
    m = entry.metadata
    from edgepilot.engines.cache_key import sha256_files
    from edgepilot.engines.model_check import model_files

    ref = Path(args.reference).resolve()
    # A TorchScript-sourced engine is recorded as verified only by a check against its TorchScript source
    # in torch, never by one against its own ONNX export (that check cannot see frozen state).
    if m.key.source_format == "torchscript":
        is_reference = torch_reference and sha256_files(model_files(ref)) == m.key.model_sha256
    else:
        is_reference = ref == Path(m.reference_model).resolve() or sha256_files(model_files(ref)) == m.key.model_sha256
    if is_reference and precision == m.key.precision:
        try:
            with cache.key_lock(m.key_digest):
                cache.mark_verified(entry, report.to_dict(), report.passed)
            recorded = "recorded in " + entry.meta_path.name
        except OSError as err:
            recorded = f"not recorded ({err})"
    else:
        recorded = ("not recorded: --reference is not the model this engine was built from"
                    + (" (TorchScript sources are recorded only when checked against the .pt in torch)"
                       if m.key.source_format == "torchscript" else "")) if not is_reference else \
            f"not recorded: checked at {precision}, built for {m.key.precision}"
    return recorded


def cmd_verify(args: argparse.Namespace) -> int:
    from edgepilot.engines.engine_provisioning import entry_state_pairs, open_engine, verify_against_torchscript
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
    from edgepilot.engines.torchscript_export import TORCHSCRIPT_SUFFIXES, is_torchscript, state_pairs_from_onnx

    try:
        cache = open_cache(args)
        entry = find_entry(cache, args.engine)
        engine_path = Path(args.engine)
        state = []
        if entry is not None:
            if not entry.intact:
                return bad_input(f"cached engine {entry.meta_path.name} is corrupt ({entry.problem}); rebuild it with "
                            "'edgepilot engine build MODEL --force'")
            m = entry.metadata
            precision = args.precision or m.key.precision
            if args.reference is None:  # the entry's own reference: its source model if TorchScript, else its ONNX
                args.reference = m.source_model if m.key.source_format == "torchscript" else m.reference_model
            state = entry_state_pairs(entry)
            candidate = open_engine(entry)
        else:
            if args.reference is None:
                return bad_input(f"{engine_path.name} is not a cached engine: give --reference (the ONNX model or the "
                            "TorchScript archive it was built from)")
            precision = args.precision or "fp32"
            if engine_path.suffix in (".engine", ".plan", ".trt"):
                from edgepilot.engines.tensorrt_backend import TensorRTBackend

                candidate = TensorRTBackend(engine_path)
            else:
                state = state_pairs_from_onnx(engine_path)
                candidate = OnnxRuntimeBackend(engine_path)
        ref_path = Path(args.reference)
        torch_reference = ref_path.is_file() and (ref_path.suffix.lower() in TORCHSCRIPT_SUFFIXES or is_torchscript(ref_path))
        if torch_reference:
            require_torch_for(ref_path, "engine verify")
        try:
            if torch_reference:
                report = verify_against_torchscript(candidate, ref_path, state, precision=precision, steps=args.steps,
                                                    seed=args.seed, inputs=Path(args.inputs) if args.inputs else None)
            else:
                report = _verify_against_onnx(candidate, args, precision)
        finally:
            candidate.close()
    except ValueError as err:
        return bad_input(str(err))
    except input_errors() as err:
        return bad_input(str(err))

    recorded = _record_verification(cache, entry, args, precision, torch_reference, report)
    if args.json:
        from edgepilot.engines.verify import TOLERANCES

        print_json({**report.to_dict(), "tolerance": vars(TOLERANCES[precision]), "recorded": recorded})
    else:
        print(report.table())
        if recorded:
            print(recorded)
    return EXIT_OK if report.passed else EXIT_VERIFY_FAILED


# ----------------------------------------------------------------------------- list, prune

def _classified(cache: Any) -> list[tuple[Any, str, str]]:
    from edgepilot.engines.engine_cache import model_hasher

    platforms = current_platforms()
    hasher = model_hasher()
    out = []
    for e in cache.entries():
        state, detail = cache.staleness(e, platforms, hasher)
        out.append((e, state, detail))
    return out


def _survey(args: argparse.Namespace) -> tuple[Any, list[tuple[Any, str, str]], list[Path]]:
    """The cache, its classified entries and its leftovers: what `list` shows and `prune` acts on."""
    cache = open_cache(args)
    return cache, _classified(cache), cache.leftovers()


def cmd_list(args: argparse.Namespace) -> int:
    try:
        cache, rows, leftovers = _survey(args)
    except input_errors() as err:
        return bad_input(str(err))
    if args.json:
        print_json({"cache_dir": str(cache.root), "entries": [entry_summary(e, s, d) for e, s, d in rows],
                     "leftovers": [str(p) for p in leftovers]})
        return EXIT_OK
    print(f"engine cache {cache.root}: {len(rows)} entries")
    for e, state, detail in rows:
        m = e.metadata
        if m is None:
            print(f"  {state:<10} {e.meta_path.name}  {detail}")
            continue
        size_kb = m.engine_size / 1024
        print(f"  {state:<10} {m.engine_file:<44} {m.key.backend:<11} {m.key.precision:<5} {size_kb:>8.1f} KiB  "
              f"{Path(m.source_model).name}{'  (' + detail + ')' if detail else ''}")
    for p in leftovers:
        print(f"  leftover   {p.relative_to(cache.root)}  (interrupted write; 'prune' removes it)")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    try:
        cache, rows, leftovers = _survey(args)
    except input_errors() as err:
        return bad_input(str(err))
    doomed = [(e, s, d) for e, s, d in rows if args.all or s in ("corrupt", "stale", "orphaned")]
    removed, busy = [], []
    for e, state, detail in doomed:
        if args.dry_run:
            removed.append({"entry": e.meta_path.name, "state": state, "detail": detail})
            continue
        if cache.remove_under_lock(e) is None:
            busy.append(e.meta_path.name)
        else:
            removed.append({"entry": e.meta_path.name, "state": state, "detail": detail})
    for p in leftovers:
        if not args.dry_run:
            p.unlink(missing_ok=True)
        removed.append({"entry": str(p.relative_to(cache.root)), "state": "leftover", "detail": "interrupted write"})
    kept = len(rows) - len(doomed)
    if args.json:
        print_json({"cache_dir": str(cache.root), "dry_run": args.dry_run, "removed": removed, "busy": busy, "kept": kept})
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for r in removed:
        print(f"{verb} {r['entry']} ({r['state']}{': ' + r['detail'] if r['detail'] else ''})")
    for name in busy:
        print(f"skipped {name}: a builder holds its lock")
    print(f"{len(removed)} {verb}, {kept} kept")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser

def add_engine_parser(sub: Any) -> None:
    """Register ``engine`` and its subcommands on the top-level subparsers object."""
    e = sub.add_parser("engine", help="build, inspect, verify and cache inference engines (TensorRT, or ONNX Runtime plans)")
    esub = e.add_subparsers(dest="engine_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cache-dir", default=None,
                       help="engine cache folder (default: $EDGEPILOT_CACHE_DIR, else /var/lib/edgepilot/engines)")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    b = esub.add_parser("build", help="build (or reuse) a verified engine for a model on this machine")
    b.add_argument("model", nargs="?", default=None,
                   help="ONNX model, or TorchScript archive (.pt; needs the 'torch' extra); default: --profile's")
    b.add_argument("--profile", default=None, metavar="PROFILE",
                   help="robot profile: its model, cache folder, precision, and a TorchScript model's input shapes and "
                        "output names (no --shape needed)")
    b.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None, help="default fp32 (or --profile's)")
    b.add_argument("--calib", default=None, help="int8: folder of .npy/.npz calibration batches (real inputs)")
    b.add_argument("--workspace", type=int, default=None, metavar="MB", help="TensorRT workspace limit, MiB")
    b.add_argument("--dla", type=int, default=None, metavar="N", help="TensorRT: build for DLA core N (GPU fallback on)")
    b.add_argument("--backend", choices=["auto", "tensorrt", "onnxruntime"], default="auto",
                   help="auto: TensorRT where it is installed and a GPU is present, else the ONNX Runtime plan")
    b.add_argument("--shape", action="append", metavar="NAME:DIMS",
                   help="input shape, e.g. obs:1x5, or min,opt,max obs:1x5,4x5,8x5 (repeat per input)")
    b.add_argument("--opset", type=int, default=17, help="TorchScript export opset (default 17)")
    b.add_argument("--output-names", default=None, help="TorchScript export: comma-separated output names")
    b.add_argument("--optimization-level", type=int, default=3, choices=range(0, 6), help="TensorRT builder level 0-5")
    b.add_argument("--force", action="store_true", help="rebuild even if a valid engine is cached")
    b.add_argument("--samples", type=int, default=32, help="verification of ONNX sources: random input samples (default 32)")
    b.add_argument("--steps", type=int, default=200,
                   help="verification of TorchScript sources: steps run against the model in torch, recurrent state fed "
                        "back (default and minimum 200)")
    b.add_argument("--inputs", default=None,
                   help="verification: .npz of real inputs (a replay/calibration log: N steps stacked) instead of random ones")
    b.add_argument("--seed", type=int, default=0, help="verification: random seed")
    common(b)
    b.set_defaults(func=cmd_build)

    i = esub.add_parser("inspect", help="inputs, outputs, shapes, dtypes, precision and key of an engine or model")
    i.add_argument("target", help="cached engine (file, sidecar .json or key digest prefix), ONNX or TorchScript model")
    i.add_argument("--shape", action="append", metavar="NAME:DIMS",
                   help="ONNX: shapes for dynamic inputs; TorchScript: forward()'s arguments (then its state is checked)")
    common(i)
    i.set_defaults(func=cmd_inspect)

    v = esub.add_parser("verify", help="compare an engine with the model it was built from; exit 1 on failure")
    v.add_argument("engine", help="cached engine (file, sidecar .json or key digest prefix) or a bare engine/plan file")
    v.add_argument("--reference", default=None,
                   help="the model the engine was built from: an ONNX model (independent samples) or a TorchScript archive "
                        "(run in torch over a sequence, recurrent state fed back); default for a cached engine: its source "
                        "if TorchScript, else its reference ONNX model")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--samples", type=int, default=32, help="ONNX references: random input samples (default 32)")
    v.add_argument("--steps", type=int, default=200, help="TorchScript references: sequence steps (default and minimum 200)")
    g.add_argument("--inputs", default=None, help=".npz of inputs keyed by input name (one sample, or N stacked)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None,
                   help="tolerance to apply (default: the engine's precision)")
    common(v)
    v.set_defaults(func=cmd_verify)

    ls = esub.add_parser("list", help="cached engines and their state (valid, unverified, stale, corrupt, orphaned)")
    common(ls)
    ls.set_defaults(func=cmd_list)

    pr = esub.add_parser("prune", help="remove stale, corrupt and orphaned entries and interrupted writes")
    pr.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    pr.add_argument("--all", action="store_true", help="remove every entry")
    common(pr)
    pr.set_defaults(func=cmd_prune)
