"""``edgepilot profile import FILE --output PROFILE``: the CLI of edgepilot/profile_import.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _joint_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    return [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]


def cmd_import(args: argparse.Namespace) -> int:
    from edgepilot.profile_import import ImportFailed, import_profile

    try:
        _, summary = import_profile(args.file, args.output, model=args.model, fmt=args.format,
                                    joint_names=_joint_names(args.joint_names))
    except ImportFailed as err:
        print(f"edgepilot: cannot import {args.file}:\n{err}", file=sys.stderr)
        return 2
    print(summary)
    print(f"edgepilot: wrote {args.output}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="profile tools: import a training-side deployment config")
    psub = p.add_subparsers(dest="profile_command", required=True)
    i = psub.add_parser("import", help="write an edgepilot profile from an Isaac Lab deploy.yaml or a legged_gym dump")
    i.add_argument("file", type=Path, help="deploy.yaml (Isaac Lab / unitree_rl_lab) or a legged_gym config dump")
    i.add_argument("--output", required=True, type=Path, help="the profile to write (YAML)")
    i.add_argument("--model", default=None, help="engine.model (default: policy.onnx beside the profile)")
    i.add_argument("--format", choices=["isaaclab", "legged_gym"], default=None, help="default: detected")
    i.add_argument("--joint-names", default=None,
                   help="the robot's joint names in its (SDK) order: comma-separated, or a file of one per line")
    i.set_defaults(func=cmd_import)
