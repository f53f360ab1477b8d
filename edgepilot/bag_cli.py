"""``edgepilot bag recover PATH``: make a recording a crash cut short readable (see :mod:`edgepilot.daemon.transport.bag.recover`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def cmd_bag_recover(args: argparse.Namespace) -> int:
    from edgepilot.daemon.transport.bag.recover import RecoverError, recover

    try:
        report = recover(args.path)
    except (RecoverError, OSError) as err:
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2
    for cut in report.truncated:
        print(f"edgepilot: {cut}: kept every record before the cut", file=sys.stderr)
    print(json.dumps({"path": str(report.path), "output": str(report.output), "files": report.files,
                      "messages": report.messages, "messages_salvaged": report.messages_salvaged}), flush=True)
    return 0


def register(sub: Any) -> None:
    """Register ``edgepilot bag recover`` on the CLI's subparsers."""
    b = sub.add_parser("bag", help="rosbag2 recordings: recover one a crash cut short")
    bsub = b.add_subparsers(dest="bag_command", required=True)
    r = bsub.add_parser("recover", help="make a killed recording readable again (like ros2 bag reindex)")
    r.add_argument("path", type=Path, help="a bag folder (also a hidden .NAME.recording-PID one) or an .mcap file")
    r.set_defaults(func=cmd_bag_recover)
