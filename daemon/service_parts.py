"""The service's parts that take a paragraph of reasons each: pacing, the command sender, the supervisor."""

from __future__ import annotations

from typing import Any, Mapping

from edgepilot.daemon.action.command_sender import CommandSender
from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.safety.heartbeat import Heartbeat
from edgepilot.daemon.safety.stall_supervisor import StallSupervisorProcess
from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop
from edgepilot.daemon.timing.phase_lock import PhaseLock
from edgepilot.daemon.transport.outputs import command_publisher


def make_pacing(profile: Profile, loop_clock: Any, snapshots: Mapping[str, Any]) -> tuple[FixedRateLoop, PhaseLock | None, Any]:
    """The fixed-rate loop on the loop clock, and the phase lock with its stream's snapshot (or None, None)."""
    lc = loop_clock
    loop = FixedRateLoop(profile.loop.rate_hz) if lc is None else FixedRateLoop(
        profile.loop.rate_hz, spin_s=0.0 if lc.simulated else 0.0002, clock=lc.now_ns, sleep=lc.sleep)
    sync = profile.loop.sync
    # The gate reads the stream's ring, not its snapshot: the wait comes before the tick refreshes snapshots.
    phase_lock = None if sync is None else PhaseLock(
        int(1e9 / profile.streams[sync.stream].rate_hz), int(sync.offset_s * 1e9), sync.gain,
        int(profile.loop.sync_max_step_s() * 1e9), newest_ns=snapshots[sync.stream].ring.latest_stamp)
    if phase_lock is not None and sync is not None and sync.max_wait_s > 0 and lc is None:
        loop.gate = phase_lock.gate
        loop.gate_max_ns = int(sync.max_wait_s * 1e9)
    return loop, phase_lock, (snapshots[sync.stream] if sync is not None else None)


def make_sender(profile: Profile, transport: Any, joint_action: bool, loop_clock: Any,
                helper_priority: int | None) -> CommandSender | None:
    """The command sender thread, or None.

    The status and diagnostics threads (and the command sender) share the loop's interpreter lock. At the
    normal policy, one of them preempted by any other process while it holds the lock keeps the real-time
    loop waiting (priority inversion, measured as 0.6-1 ms late ticks once a second); one step below the
    loop (``helper_priority``) they cannot be.

    With action.send_thread, twist commands leave through a thread of their own (daemon/action/command_sender.py).
    Off by default: unpinned, the hand-off saves ~35 us of the tick but adds ~50 us of latency (a wake-up on
    another core, then the interpreter lock), and latency is what the robot feels; on the loop's own core
    (realtime.loop_cpus, as in the example profile) it adds none. Joint profiles publish from their action
    stage, and replay keeps every write on the loop's simulated clock.
    """
    if joint_action or loop_clock is not None or not profile.action.send_thread:  # type: ignore[union-attr]
        return None
    # A writer of its own: the loop's direct zero (when the sender is stuck) never shares a buffer with it.
    # On the loop's CPUs one priority below it (daemon/timing/realtime.py): handing a command over is then a
    # local wake-up that never preempts the loop, and the write runs as soon as the loop sleeps.
    return CommandSender(command_publisher(transport, profile.action).publish, 6, helper_priority,
                         profile.realtime.loop_cpus)


def make_supervisor(profile: Profile, heartbeat: Heartbeat, joint_stage: Any) -> StallSupervisorProcess:
    """The stall supervisor process on ``heartbeat`` (not yet waited for); ``joint_stage`` for joint profiles."""
    return StallSupervisorProcess(
        heartbeat, profile.transport, profile.action.topic, profile.watchdog.stall_timeout_s,
        profile.watchdog.supervisor_poll_hz, 1.0 / profile.loop.rate_hz,
        stamped=profile.action.output == "twist_stamped", frame_id=getattr(profile.action, "frame_id", ""),
        joint_safe=joint_stage.supervisor_safe(heartbeat.path) if joint_stage is not None else None,
        rt_priority=profile.realtime.supervisor_priority())
