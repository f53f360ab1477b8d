"""``edgepilot status``: is the running daemon healthy? One line, and the exit status says it (container health checks).

Reads the status file the daemon rewrites every second (see
:mod:`edgepilot.daemon.telemetry.status_file` for where it is and what it holds).
Exit 0: fresh, READY, no fault, loop ticking. Exit 1: anything else
(no file, stale file, starting, faulted, stalled), which is what Docker's
``HEALTHCHECK`` expects (it reserves 2). Imports nothing heavy, so a health
check every few seconds costs a Python start-up and one small file read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_status(args: argparse.Namespace) -> int:
    from edgepilot.daemon.telemetry.status_file import StatusFileError, evaluate, read_status, resolve_status_path

    path = resolve_status_path(args.status_file, for_reader=True)
    assert path is not None
    try:
        data = read_status(path)
    except StatusFileError as err:
        if args.json:
            print(json.dumps({"healthy": False, "reason": str(err), "status_file": str(path)}))
        else:
            print(f"edgepilot status: UNHEALTHY: {err}")
        return 1
    max_age = args.max_age if args.max_age is not None else 3.0 * float(data.get("status_period_s", 1.0))
    verdict = evaluate(data, max_age_s=max_age)
    if args.json:
        print(json.dumps({"healthy": verdict.healthy, "reason": verdict.reason, "status_file": str(path), "status": data}))
    else:
        print(f"edgepilot status: {'HEALTHY' if verdict.healthy else 'UNHEALTHY'}: {verdict.reason}")
    return 0 if verdict.healthy else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("status", help="report the running daemon's health from its status file (exit 0 = healthy)")
    s.add_argument("--status-file", type=Path, default=None,
                   help="the daemon's status file (default: $EDGEPILOT_STATUS_FILE, else $RUNTIME_DIRECTORY/status.json, "
                        "else /run/edgepilot/status.json)")
    s.add_argument("--max-age", type=float, default=None,
                   help="oldest acceptable status file, s (default: 3 status periods)")
    s.add_argument("--json", action="store_true", help="print the verdict and the daemon's status as one JSON object")
    s.set_defaults(func=cmd_status)
