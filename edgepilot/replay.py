"""``edgepilot replay BAG --config PROFILE``: a recorded robot session run through the daemon, offline.

The daemon runs exactly as on the robot (same profile, same model, same
watchdog) on the bag's simulated clock (see
:mod:`edgepilot.daemon.transport.bag.replay`): deterministic at any speed, so two
replays of one bag publish the same commands, bit for bit. ``--record``
writes what the daemon received and published (commands, diagnostics) to an
MCAP file for Foxglove or PlotJuggler. The last stdout line is the summary as
one JSON object; ``replay.published["/cmd_vel"].sha256`` fingerprints the
command sequence. Exit status 1 when the daemon was delivered another number
of messages on a topic than the bag counts for it (each such topic named on
stderr), 2 when the bag or profile cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO


def run_replay(bag: Path, config: Path, *, rate: float = 0.0, record: Path | None = None,
               keep_published: bool = False, log: TextIO | None = None) -> tuple[dict[str, Any], Any]:
    """Replay ``bag`` through a daemon built from ``config``; returns (summary, the replay transport)."""
    from edgepilot.daemon.inference.backend_loading import open_backend
    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.daemon.service import Daemon
    from edgepilot.daemon.transport.bag.recorder import BagRecorder, RecordingTransport
    from edgepilot.daemon.transport.bag.replay import ReplayTransport

    profile = load_profile(config)
    replay = ReplayTransport(bag, rate, keep_published=keep_published)
    transport: Any = replay
    recorder = None
    daemon = None
    backend = None
    try:
        if record is not None:
            recorder = BagRecorder(record)
            transport = RecordingTransport(replay, recorder)
        from edgepilot.calibration.loop_hooks import CalibrationHooks

        backend = open_backend(profile)
        try:
            daemon = Daemon(profile, transport, backend, log=log, tick_hooks=CalibrationHooks)
        except BaseException:
            backend.close()
            backend = None
            raise
        missing = replay.check_topics()  # every subscription is made by now
        if missing:
            print(f"edgepilot: replay: {bag} lacks the profile topics {', '.join(missing)}; the watchdog will report "
                  "their streams missing", file=sys.stderr, flush=True)
        # One period past the last message, so the loop sees it; never 0 (run() would then run forever).
        duration = replay.duration_s + 1.0 / profile.loop.rate_hz
        summary = daemon.run(duration_s=duration, install_signal_handlers=log is None)
    finally:
        transport.close()  # the recorder finishes and moves its file into place
        if daemon is not None:
            daemon.close()
        if backend is not None:
            backend.close()
    summary["replay"] = replay.summary()
    if recorder is not None:
        summary["recording"] = recorder.summary()
    return summary, replay


def cmd_replay(args: argparse.Namespace) -> int:
    from edgepilot.daemon.config.profile import ProfileError
    from edgepilot.daemon.transport.bag.replay import ReplayError
    from edgepilot.engines.backend import BackendError

    rate = 0.0 if args.fast else args.rate
    if rate <= 0 and not args.fast:
        print("edgepilot: --rate must be > 0 (use --fast for as fast as possible)", file=sys.stderr)
        return 2
    try:
        summary, _ = run_replay(args.bag, args.config, rate=rate, record=args.record)
    except (ProfileError, ReplayError, BackendError, FileExistsError, FileNotFoundError) as err:
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2
    if args.summary_json:
        from edgepilot.cli import _write_json_atomic

        _write_json_atomic(Path(args.summary_json), summary)
    print(json.dumps(summary), flush=True)
    differences = summary["replay"]["count_differences"]
    for line in differences:  # a replay that lost messages must never pass for a good one
        print(f"edgepilot: replay lost messages: {line}", file=sys.stderr, flush=True)
    return 1 if differences else 0


def add_replay_command(sub: Any) -> None:
    """Register ``edgepilot replay`` on the CLI's subparsers."""
    r = sub.add_parser("replay", help="run the daemon on a rosbag2 recording (.mcap/.db3), offline and deterministically")
    r.add_argument("bag", type=Path, help="rosbag2 recording: a .mcap or .db3 file, or a bag folder")
    r.add_argument("--config", required=True, type=Path, help="robot profile (YAML)")
    speed = r.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, default=1.0, help="speed factor: 1 = real time (default), 2 = twice as fast")
    speed.add_argument("--fast", action="store_true", help="as fast as possible (same results as any --rate)")
    r.add_argument("--record", type=Path, default=None, help="also write what was received and published to this .mcap")
    r.add_argument("--summary-json", type=Path, default=None, help="write the summary here too")
    r.set_defaults(func=cmd_replay)
