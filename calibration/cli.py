"""``edgepilot calibrate``: fit the sim-to-real gap, export it for training, capture INT8 calibration batches.

    edgepilot calibrate fit LOGS... -o compensation.yaml [--report DIR] [--holdout 0.3]
    edgepilot calibrate export-randomization compensation.yaml [-o gap.yaml] [--margin 0.5]
    edgepilot calibrate capture LOGS... -o DIR [--batch-size 32] [--max-batches N]

LOGS are residual-log MCAP files or folders of them (``residuals.directory``
of the robot profile). Exit status: 0 on success, 2 on bad input (the
message names the file or option and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_fit(args: argparse.Namespace) -> int:
    from edgepilot.daemon.config.profile import ProfileError, load_profile

    from .compensation import write_compensation
    from .fit import fit_logs
    from .fit_report import write_plots, write_report
    from .residual_logs import LogError, read_logs

    try:
        profile = load_profile(args.profile) if args.profile else None
        segs = read_logs(args.logs, profile)
        result = fit_logs(segs, holdout=args.holdout, correct=tuple(args.correct or ()),
                          wheel_radius_scale=args.wheel_radius_scale)
    except (LogError, ProfileError, ValueError) as err:
        print(f"edgepilot calibrate fit: {err}", file=sys.stderr)
        return 2
    truncated = [s.path.name for s in segs if s.truncated]
    if truncated:
        result.notes.append(f"{len(truncated)} log file(s) ended without a footer (writer killed or still writing); "
                            f"read up to their last complete chunk: {', '.join(truncated)}")
    out = Path(args.output)
    write_compensation(out, result.compensation, header="# Written by `edgepilot calibrate fit`; name it in the robot "
                       "profile's 'compensation' field. Units: each field's own; seconds.")
    report_dir = Path(args.report) if args.report else out.parent / (out.stem + "_report")
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(result, report_dir)
    report = write_report(result, report_dir, out, plots)
    if args.json:
        print(json.dumps({"compensation": str(out), "report": str(report), **result.summary()}))
    else:
        print(f"wrote {out} and {report}")
        for f in result.fields:
            print(f"  {f.name:40s} held-back RMS {f.rms_before:.4g} -> {f.rms_after:.4g} "
                  f"(with measured latency {f.rms_after_with_latency:.4g})")
        if result.latency_s is not None:
            print(f"  latency {result.latency_s * 1e3:.1f} ms")
        for n in result.notes:
            print(f"  note: {n}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import yaml

    from .compensation import CompensationError, parse_compensation
    from .randomization import randomization_yaml

    try:
        comp = parse_compensation(yaml.safe_load(Path(args.compensation).read_text()), str(args.compensation))
        text = randomization_yaml(comp, args.margin)
    except (OSError, CompensationError, ValueError, yaml.YAMLError) as err:
        print(f"edgepilot calibrate export-randomization: {err}", file=sys.stderr)
        return 2
    if args.output:
        from edgepilot.common.atomic_file import write_text_atomic

        write_text_atomic(Path(args.output), text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    from .int8_capture import capture_batches
    from .residual_logs import LogError

    shape = tuple(int(x) for x in args.input_shape.split(",")) if args.input_shape else None
    try:
        manifest = capture_batches(args.logs, args.output, batch_size=args.batch_size, max_batches=args.max_batches,
                                   input_shape=shape, shuffle_seed=None if args.no_shuffle else args.seed)
    except (LogError, ValueError) as err:
        print(f"edgepilot calibrate capture: {err}", file=sys.stderr)
        return 2
    print(f"wrote {manifest['num_batches']} batches of {manifest['batch_size']} to {args.output} "
          f"(manifest.json; inputs {', '.join(manifest['inputs'])})")
    return 0


def add_calibrate_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``calibrate`` and its subcommands on the ``edgepilot`` parser."""
    c = sub.add_parser("calibrate", help="sim-to-real calibration: fit, export-randomization, capture")
    csub = c.add_subparsers(dest="calibrate_command", required=True)

    f = csub.add_parser("fit", help="fit biases, noise, action bias and latency from residual logs")
    f.add_argument("logs", nargs="+", help="residual-log .mcap files or folders of them")
    f.add_argument("-o", "--output", required=True, help="compensation file to write (YAML)")
    f.add_argument("--report", default=None, help="folder for report.md and the PNG plots (default: <output>_report)")
    f.add_argument("--holdout", type=float, default=0.3, help="share of the records (the latest) held back to measure")
    f.add_argument("--profile", type=Path, default=None, help="robot profile (default: the one recorded in the logs)")
    f.add_argument("--correct", action="append", metavar="FIELD",
                   help="(models other than ideal_diff_drive) write this field's fitted bias as a sensor correction")
    f.add_argument("--wheel-radius-scale", type=float, default=None,
                   help="true/nominal wheel radius measured outside the logs (e.g. a tape-measured run)")
    f.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    f.set_defaults(func=cmd_fit)

    e = csub.add_parser("export-randomization", help="write the measured gap as a domain-randomisation YAML block")
    e.add_argument("compensation", help="compensation file from 'fit'")
    e.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    e.add_argument("--margin", type=float, default=0.5, help="range half-width as a fraction of each value (default 0.5)")
    e.set_defaults(func=cmd_export)

    k = csub.add_parser("capture", help="observation batches for INT8 calibration from residual logs")
    k.add_argument("logs", nargs="+", help="residual-log .mcap files or folders (live or replayed runs)")
    k.add_argument("-o", "--output", required=True, help="folder for the .npy batches and manifest.json")
    k.add_argument("--batch-size", type=int, default=32)
    k.add_argument("--max-batches", type=int, default=None)
    k.add_argument("--input-shape", default=None, help="model input shape without the batch dim, e.g. 5 or 3,64,64")
    k.add_argument("--seed", type=int, default=0, help="shuffle seed")
    k.add_argument("--no-shuffle", action="store_true", help="keep time order")
    k.set_defaults(func=cmd_capture)
    return c
