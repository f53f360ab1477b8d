"""The ``edgepilot`` command: ``run`` the daemon (``node``: as ``ros2 launch`` starts it), or the ``demo``, ...

Every command goes through :func:`main`: a missing extra ends it with one line
naming the extra (edgepilot/extras.py), never with a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def loopback_dds_config() -> Path:
    from edgepilot.daemon import transport

    return Path(transport.__file__).resolve().parent / "cyclonedds_loopback.xml"


def use_loopback_dds(config: Path | None = None) -> None:
    """Point Cyclone DDS at the loopback configuration (must run before cyclonedds is first imported)."""
    os.environ["CYCLONEDDS_URI"] = (config or loopback_dds_config()).resolve().as_uri()


def _write_json_atomic(path: Path, data: object) -> None:
    from edgepilot.common.atomic_file import write_json_atomic

    write_json_atomic(path, data)


def cmd_run(args: argparse.Namespace) -> int:
    from edgepilot.daemon.config.profile import ProfileError, load_profile
    from edgepilot.engines.backend import BackendError

    if args.loopback:
        use_loopback_dds()
    try:
        profile = load_profile(args.config)
        if args.domain_id is not None:
            profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": args.domain_id})})
        if getattr(args, "record", None) is not None:
            profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"record": str(args.record)})})
        if getattr(args, "transport_kind", None):  # `edgepilot node`: a ROS 2 lifecycle node, whatever the profile says
            profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"kind": args.transport_kind})})
    except ProfileError as err:
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2
    from edgepilot.extras import extras_for_profile, require

    require(command_name_of(args), extras_for_profile(profile))

    from edgepilot.daemon.transport.factory import resolve_kind

    if resolve_kind(profile.transport) == "ros2":  # a sourced ROS 2 install: run as a managed (lifecycle) node
        from edgepilot.calibration.loop_hooks import CalibrationHooks
        from edgepilot.ros2_lifecycle import run_lifecycle_node

        return run_lifecycle_node(args.config, profile, autostart=args.autostart, tick_hooks=CalibrationHooks)

    from edgepilot.daemon.telemetry.journal_logging import setup_logging

    setup_logging()  # journald with structured fields when stderr is the journal, else stderr

    if "CYCLONEDDS_URI" not in os.environ:
        print("edgepilot: CYCLONEDDS_URI is not set: Cyclone DDS defaults apply (multicast on the first network interface)",
              file=sys.stderr)
    try:
        backend = _open_run_backend(profile, args)
    except BackendError as err:
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2
    try:
        return _run_daemon(profile, args, backend)
    finally:
        backend.close()  # the daemon's service closes only what it made


def _open_run_backend(profile, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    # onnxruntime: the model as is; tensorrt/auto: a cached engine, rebuilt if stale or corrupt, activated only
    # once verified (shapes and output names of a TorchScript model from the profile).
    from edgepilot.daemon.inference.backend_loading import open_backend

    return open_backend(profile, force_rebuild=args.force_rebuild)


def _run_daemon(profile, args: argparse.Namespace, backend) -> int:  # type: ignore[no-untyped-def]
    from edgepilot.calibration.loop_hooks import CalibrationHooks
    from edgepilot.common.private_files import UnsafePathError
    from edgepilot.daemon.config.profile import ProfileError
    from edgepilot.daemon.service import Daemon
    from edgepilot.daemon.telemetry.journal_logging import flush_logging
    from edgepilot.daemon.telemetry.status_file import resolve_status_path
    from edgepilot.daemon.transport.factory import make_transport
    from edgepilot.engines.backend import BackendError

    transport = make_transport(profile.transport)
    try:
        daemon = Daemon(profile, transport, backend, fault_injection=args.enable_fault_injection,
                        status_file=resolve_status_path(args.status_file), tick_hooks=CalibrationHooks)
    except (BackendError, ProfileError, UnsafePathError) as err:
        transport.close()
        if isinstance(err, BackendError):
            print(f"edgepilot: model does not fit profile {args.config}: {err}", file=sys.stderr)
            return 2
        # ProfileError: a choice only the transport made can refute (ingest.mode=process with --record);
        # UnsafePathError: a planted file or directory where the daemon shares memory, refused.
        print(f"edgepilot: {err}", file=sys.stderr)
        return 2 if isinstance(err, ProfileError) else 1
    print(f"edgepilot: running profile {profile.name!r} at {profile.loop.rate_hz:g} Hz on DDS domain "
          f"{profile.transport.domain_id}, model {profile.model_path.name}", file=sys.stderr, flush=True)
    try:
        summary = daemon.run(duration_s=args.duration)
    except UnsafePathError as err:  # the heartbeat's file, made at start
        print(f"edgepilot: {err}", file=sys.stderr)
        return 1
    finally:
        # The transport first, as before: no callback writes into a ring the service is releasing.
        transport.close()
        daemon.close()
    if args.summary_json:
        _write_json_atomic(Path(args.summary_json), summary)
    print(json.dumps(summary), flush=True)
    flush_logging()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edgepilot.demo import run_demo

    return run_demo(duration_s=args.duration, as_json=args.json, domain_id=args.domain_id, robot_name=args.robot)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgepilot", description="Run simulation-trained policies on robots, safely.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the daemon with a robot profile")
    r.add_argument("--config", required=True, type=Path, help="robot profile (YAML)")
    r.add_argument("--domain-id", type=int, default=None, help="override the profile's DDS domain (ROS_DOMAIN_ID)")
    r.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until SIGTERM)")
    r.add_argument("--summary-json", type=Path, default=None, help="write the run summary here at exit")
    r.add_argument("--loopback", action="store_true", help="use the shipped loopback-only Cyclone DDS configuration")
    r.add_argument("--enable-fault-injection", action="store_true",
                   help="TEST RIGS ONLY: accept injected internal faults on /edgepilot/fault_injection")
    r.add_argument("--status-file", type=Path, default=None,
                   help="rewrite this JSON health file every second, for `edgepilot status` "
                        "(default: $EDGEPILOT_STATUS_FILE, else $RUNTIME_DIRECTORY/status.json, else none)")
    r.add_argument("--record", type=Path, default=None, help="also record what was received and published to this .mcap")
    r.add_argument("--autostart", action="store_true",
                   help="ros2 transport: configure and activate the lifecycle node at once (else: ros2 lifecycle set)")
    r.add_argument("--force-rebuild", action="store_true",
                   help="engine.backend tensorrt/auto: rebuild (and re-verify) the cached engine even if it is valid")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="drive the simulated robot to its goal (no robot, GPU or ROS needed)")
    d.add_argument("--duration", type=float, default=30.0, help="longest run, s")
    d.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    d.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: a random one in 100-199)")
    d.add_argument("--robot", choices=["visuomotor", "diffbot"], default="visuomotor",
                   help="visuomotor (default): reach a target seen only by the camera; diffbot: the goal in the profile")
    d.set_defaults(func=cmd_demo)

    from edgepilot.replay import add_replay_command

    add_replay_command(sub)

    from edgepilot import bag_cli  # edgepilot bag recover PATH

    bag_cli.register(sub)

    from edgepilot import doctor, status

    status.register(sub)
    doctor.register(sub)

    from edgepilot.hil import rig_cli  # edgepilot rig [--scenario FILE] | rig run-scenarios DIR

    rig_cli.register(sub)

    from edgepilot.engine_cli import add_engine_parser  # edgepilot engine build|inspect|verify|list|prune

    add_engine_parser(sub)

    from edgepilot.calibration.cli import add_calibrate_parser  # edgepilot calibrate fit|export-randomization|capture

    add_calibrate_parser(sub)

    from edgepilot import ros2_commands  # edgepilot node (what ros2 launch starts), edgepilot ros2-params

    ros2_commands.register(sub)

    from edgepilot import profile_cli  # edgepilot profile import FILE --output PROFILE

    profile_cli.register(sub)
    return p


def command_name_of(args: argparse.Namespace) -> str:
    from edgepilot.extras import command_name

    return command_name(args)


def main(argv: list[str] | None = None) -> int:
    """Run one command; a missing extra (or ROS 2, or a base dependency) ends it with one line, never a traceback."""
    from edgepilot.extras import COMMAND_EXTRAS, EXIT_MISSING_EXTRA, MissingExtra, missing_extra, require
    from edgepilot.ros2_arguments import split_ros_args

    # ros2 launch / ros2 run append --ros-args ...: rclpy reads them from sys.argv, argparse must not see them.
    own, ros_args = split_ros_args(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(own)
    args.ros_args = ros_args
    command = command_name_of(args)
    try:
        require(command, COMMAND_EXTRAS.get(command, ()))
        return int(args.func(args))
    except MissingExtra as err:
        print(err, file=sys.stderr, flush=True)
        return EXIT_MISSING_EXTRA
    except ImportError as err:
        missing = missing_extra(err, command)
        if missing is None:
            raise
        print(missing, file=sys.stderr, flush=True)
        return EXIT_MISSING_EXTRA


if __name__ == "__main__":
    sys.exit(main())
