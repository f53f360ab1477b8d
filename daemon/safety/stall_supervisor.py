"""The stall supervisor: a separate process that zeroes the command when the loop stops ticking.

A thread inside the daemon cannot be trusted with this: a loop stuck in C
code that holds the GIL, a SIGSTOP'd process, or a process that was killed
stalls every thread in it. So the supervisor is its own process with its own
DDS participant and its own writer on the command topic. It watches the
loop's heartbeat (a memory-mapped int64 array, see :mod:`.heartbeat`) at
``poll_hz`` and, when the latest tick is older than ``stall_timeout_s``,
publishes zero velocity at the loop rate until ticks resume. When the daemon
process disappears (killed), it publishes zero a few times and exits.
Once ticks resume, the loop itself holds zero for ``recovery_ticks`` (it sees
the gap in its own tick times), so the two never fight over the topic.

Run as ``python -m edgepilot.daemon.safety.stall_supervisor ARGS`` by
:class:`StallSupervisorProcess`; not meant to be started by hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgepilot.common.atomic_file import pid_alive

from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.config.profile import TransportConfig
from edgepilot.daemon.telemetry.journal_logging import LOGGER_NAME, flush_logging, setup_logging

if TYPE_CHECKING:
    from edgepilot.daemon.transport.base import JointTargetPublisher, Transport, TwistPublisher

log = logging.getLogger(LOGGER_NAME + ".supervisor")


class StallSupervisorProcess:
    """Starts and stops the supervisor child for a daemon (daemon side)."""

    def __init__(self, heartbeat: hb.Heartbeat, transport: TransportConfig, topic: str, stall_timeout_s: float,
                 poll_hz: float, zero_period_s: float, *, stamped: bool = False, frame_id: str = "base_link",
                 joint_safe: tuple[tuple[str, ...], str, Path | None] | None = None, rt_priority: int | None = None) -> None:
        self.heartbeat = heartbeat
        heartbeat.array[hb.DAEMON_PID] = os.getpid()
        cmd = [
            sys.executable, "-m", "edgepilot.daemon.safety.stall_supervisor",
            "--heartbeat", str(heartbeat.path),
            "--domain-id", str(transport.domain_id),
            "--topic", topic,
            "--stall-timeout", repr(stall_timeout_s),
            "--poll-hz", repr(poll_hz),
            "--zero-period", repr(zero_period_s),
            "--daemon-pid", str(os.getpid()),
        ]
        if rt_priority is not None:  # above the loop's (daemon/timing/realtime.py)
            cmd += ["--rt-priority", str(rt_priority)]
        if transport.security is not None:  # its zero commands must reach a robot that only hears secured peers
            cmd += ["--security", transport.security.model_dump_json()]
        if stamped:  # the command topic carries TwistStamped: a Twist writer would be a different DDS topic type
            cmd += ["--stamped", "--frame-id", frame_id]
        if joint_safe is not None:  # joint profile: (joints, message, pose file or None for zero torque)
            joints, message, pose = joint_safe
            cmd += ["--joints", ",".join(joints), "--joint-message", message]
            if pose is not None:
                cmd += ["--pose-file", str(pose)]
        # start_new_session: a Ctrl-C or SIGSTOP aimed at the daemon's process
        # group must not reach the process that is supposed to catch it.
        self.process = subprocess.Popen(cmd, start_new_session=True)

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.heartbeat.array[hb.SUPERVISOR_READY] == 1:
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.01)
        return False

    def stop(self, timeout_s: float = 2.0) -> None:
        self.heartbeat.array[hb.STATE] = hb.STATE_STOPPING
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def supervise(heartbeat_path: Path, domain_id: int, topic: str, stall_timeout_s: float, poll_hz: float,
              zero_period_s: float, daemon_pid: int, *, stamped: bool = False, frame_id: str = "base_link",
              joints: tuple[str, ...] = (), joint_message: str = "float64_multi_array",
              pose_file: Path | None = None, security: str = "") -> int:
    from edgepilot.daemon.config.dds_security import DdsSecurityConfig
    from edgepilot.daemon.transport.factory import make_transport

    beat = hb.Heartbeat(heartbeat_path, create=False)
    secured = DdsSecurityConfig.model_validate_json(security) if security else None
    transport = make_transport(TransportConfig(kind="dds", domain_id=domain_id, security=secured))
    publisher, zero = _safe_command_publisher(transport, topic, stamped, frame_id, joints, joint_message, pose_file)
    stop = _StopRequest()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return _poll(beat.array, transport, publisher, zero, stop, heartbeat_path=heartbeat_path, daemon_pid=daemon_pid,
                 stall_timeout_s=stall_timeout_s, poll_hz=poll_hz, zero_period_s=zero_period_s)


def _safe_command_publisher(transport: "Transport", topic: str, stamped: bool, frame_id: str, joints: tuple[str, ...],
                            joint_message: str, pose_file: Path | None
                            ) -> "tuple[TwistPublisher | JointTargetPublisher, np.ndarray]":
    """The writer on the command topic and the command that stops the robot."""
    if not joints:
        return transport.twist_publisher(topic, stamped=stamped, frame_id=frame_id), np.zeros(6)
    # Joint profile: the safe action instead of a zero twist. With a pose file (joint_positions), the pose the
    # daemon last published while healthy (it keeps the file current: a hold); without one (joint_torques),
    # zero torque: this process has no joint state to damp with.
    from edgepilot.daemon.transport.outputs import joint_target_publisher

    publisher = joint_target_publisher(transport, topic, joints, joint_message)  # type: ignore[arg-type]
    zero = np.memmap(pose_file, dtype=np.float64, mode="r", shape=(len(joints),)) if pose_file else np.zeros(len(joints))
    return publisher, zero


class _StopRequest:
    """The SIGTERM handler: sets ``requested``, which the poll loop checks between polls."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _sig: int, _frame: object) -> None:
        self.requested = True


def _poll(slots: np.ndarray, transport: "Transport", publisher: "TwistPublisher | JointTargetPublisher",
          zero: np.ndarray, stop: _StopRequest, *, heartbeat_path: Path, daemon_pid: int, stall_timeout_s: float,
          poll_hz: float, zero_period_s: float) -> int:
    """Marks the supervisor ready and polls the heartbeat's ``slots`` until stopped; closes the transport at the end."""
    poll_s = 1.0 / poll_hz
    timeout_ns = int(stall_timeout_s * 1e9)
    zero_period_ns = int(zero_period_s * 1e9)
    stalled = False
    next_zero = 0
    running_since = 0
    slots[hb.SUPERVISOR_READY] = 1
    try:
        while not stop.requested:
            now = time.monotonic_ns()
            slots[hb.SUPERVISOR_POLL_NS] = now
            state = slots[hb.STATE]
            if state == hb.STATE_STOPPING:
                break
            if os.getppid() != daemon_pid or not pid_alive(daemon_pid):
                # The daemon is gone (killed, crashed): nothing else will stop the robot.
                _zero_for_gone_daemon(slots, publisher, zero, zero_period_s, daemon_pid, heartbeat_path)
                return 0
            last_tick = int(slots[hb.LOOP_TICK_NS])
            if state == hb.STATE_RUNNING and not last_tick:
                # RUNNING is set just before the first tick: measure from when this process first saw it, not from
                # 0 (that read as a stall, and a zero and a "loop stalled (-0.0 ms)" line, at every start).
                last_tick = running_since = running_since or now
            if state == hb.STATE_RUNNING and now - last_tick > timeout_ns:
                first = not stalled
                if first:
                    stalled = True
                    slots[hb.SUPERVISOR_STALLS] += 1
                    next_zero = now
                if now >= next_zero:
                    publisher.publish(zero)
                    slots[hb.SUPERVISOR_ZEROS] += 1
                    next_zero += zero_period_ns
                if first:  # after the zero: formatting and writing a log line must not delay the stop
                    log.warning(f"loop stalled ({(now - last_tick) / 1e6:.1f} ms since last tick) -> zero velocity",
                                extra={"FAULT": "loop_stall", "EDGEPILOT_EVENT": "supervisor_stall"})
            else:
                stalled = False
            time.sleep(poll_s)
    finally:
        transport.close()
        flush_logging()
    return 0


def _zero_for_gone_daemon(slots: np.ndarray, publisher: "TwistPublisher | JointTargetPublisher", zero: np.ndarray,
                          zero_period_s: float, daemon_pid: int, heartbeat_path: Path) -> None:
    """The stop when the daemon is gone: the zeros first, the log line after them, then the heartbeat file it left."""
    for _ in range(3):
        publisher.publish(zero)
        slots[hb.SUPERVISOR_ZEROS] += 1
        time.sleep(zero_period_s)
    log.error(f"daemon pid {daemon_pid} is gone; published zero velocity",
              extra={"EDGEPILOT_EVENT": "daemon_gone"})
    # The daemon could not remove its heartbeat file (SIGKILL, a crash); every such death left one.
    heartbeat_path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heartbeat", type=Path, required=True)
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--stall-timeout", type=float, required=True)
    p.add_argument("--poll-hz", type=float, required=True)
    p.add_argument("--zero-period", type=float, required=True)
    p.add_argument("--daemon-pid", type=int, required=True)
    p.add_argument("--stamped", action="store_true", help="publish geometry_msgs/TwistStamped instead of Twist")
    p.add_argument("--frame-id", default="base_link")
    p.add_argument("--joints", default="", help="joint profile: comma-separated joint names (publish joint targets)")
    p.add_argument("--joint-message", default="float64_multi_array", choices=("joint_state", "float64_multi_array"))
    p.add_argument("--pose-file", type=Path, default=None, help="float64 pose the daemon keeps current (hold)")
    p.add_argument("--rt-priority", type=int, default=None, help="SCHED_FIFO priority (daemon/timing/realtime.py)")
    p.add_argument("--security", default="", help="transport.security as JSON (DDS Security files)")
    a = p.parse_args(argv)
    setup_logging()
    if a.rt_priority is not None:
        # The imports first, at the normal policy: ~240 ms of CPU (measured) that at the supervisor's priority would
        # preempt every real-time loop on the CPU it runs on (another daemon's, on a shared machine or robot).
        # The DDS participant is made after the switch, so that its threads inherit the priority.
        import edgepilot.daemon.transport.dds.participant  # noqa: F401
        import edgepilot.daemon.transport.factory  # noqa: F401
        from edgepilot.daemon.timing.realtime import set_fifo

        got = set_fifo(a.rt_priority)
        if not got.startswith("SCHED_FIFO"):
            log.warning(f"stall supervisor real-time priority {a.rt_priority} {got}",
                        extra={"EDGEPILOT_EVENT": "realtime_refused"})
    return supervise(a.heartbeat, a.domain_id, a.topic, a.stall_timeout, a.poll_hz, a.zero_period, a.daemon_pid,
                     stamped=a.stamped, frame_id=a.frame_id, joints=tuple(j for j in a.joints.split(",") if j),
                     joint_message=a.joint_message, pose_file=a.pose_file, security=a.security)


if __name__ == "__main__":
    sys.exit(main())
