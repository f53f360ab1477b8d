"""The daemon as a service: the lifecycle, threads, transports and telemetry around one :class:`~.tick.ControlTick`.

States and transitions are the ROS 2 managed node's (https://design.ros2.org/articles/node_lifecycle.html):
``unconfigured --configure--> inactive --activate--> active --deactivate--> inactive --cleanup--> unconfigured``
and ``shutdown`` from any of them to ``finalized``. Any other transition raises :class:`LifecycleError`.

* configure: the stream ingests (or the ingest process, not yet started), snapshots, observation, action stage,
  watchdog, tick hooks, the tick itself, pacing, publishers, the stream subscriptions and the detectors;
* activate (on the loop's thread, from :meth:`Service.run`): the stall supervisor, the ingest process, the
  status, diagnostics, command-sender and hook threads, the loop thread's real-time tuning;
* deactivate: zero first (the safe command, three times), then everything activate started is stopped;
* cleanup: what configure and activate created and left behind (shared rings, heartbeat and pose files, the
  status file).

The transport and the inference backend belong to the caller, who closes them; the service closes exactly
what it created. A transport cannot withdraw a subscription, so one service configures once: a second
configuration needs a new service (and transport).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgepilot.engines.backend import InferenceBackend

from edgepilot.daemon import service_report
from edgepilot.daemon.service_parts import make_pacing, make_sender, make_supervisor
from edgepilot.daemon.action.joint import JointActionStage, make_joint_action_stage
from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import JointActionConfig, Profile
from edgepilot.daemon.detection.detector_set import build_detectors
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.safety.fault_checks import CommandSenderCheck, FaultCheck, SupervisorCheck
from edgepilot.daemon.safety.fault_injection import FaultInjector
from edgepilot.daemon.safety.stall_supervisor import StallSupervisorProcess
from edgepilot.daemon.safety.supervisor_liveness import SupervisorLiveness
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest, subscribe_stream
from edgepilot.daemon.telemetry.diagnostics import DIAGNOSTICS_TOPIC, DiagnosticsReporter
from edgepilot.daemon.telemetry.journal_logging import ensure_logging, flush_logging, logger
from edgepilot.daemon.telemetry.sd_notify import SdNotifier
from edgepilot.daemon.telemetry.status_file import StatusWriter
from edgepilot.daemon.tick import ControlTick, check_backend_matches
from edgepilot.daemon.tick_hooks import TickHooksFactory, require_hooks
from edgepilot.daemon.timing.realtime import LoopThreadTuning, set_fifo
from edgepilot.daemon.transport.base import Transport
from edgepilot.daemon.transport.outputs import command_publisher, diagnostics_publisher

__all__ = ["Daemon", "LifecycleError", "Service", "check_backend_matches"]

# A supervisor that has exited or is stopped is seen on the next tick (daemon/safety/supervisor_liveness.py); one
# that runs but has not polled for this long (it polls at >= 10 Hz) is lost too.
SUPERVISOR_LOST_S = 0.5
FIFO_SPIN_NS = 50_000  # FixedRateLoop's spin before each deadline once the loop runs SCHED_FIFO

UNCONFIGURED, INACTIVE, ACTIVE, FINALIZED = "unconfigured", "inactive", "active", "finalized"


class LifecycleError(RuntimeError):
    """A transition the service's current state does not allow."""


class Service:
    """One robot profile running: subscribed streams, the control loop, the watchdog and the stall supervisor.

    The loop runs on the thread that calls :meth:`run` (the main thread under
    the CLI, so SIGINT/SIGTERM land there); transport callbacks run on the
    transport's threads and only ever write into the stream rings.

    Under systemd (``Type=notify``) the loop's thread sends ``READY=1`` on the
    first tick with no fault and no start-up hold (every required stream
    present, fresh and finite), and ``WATCHDOG=1`` every half ``WATCHDOG_USEC``
    but only on ticks that came on time with the stall supervisor alive: a
    loop that stops ticking stops pinging by construction, and systemd
    restarts it. The status thread sends ``STATUS=`` and rewrites the status
    file (``status_file``) once per ``status_period_s``; shutdown sends
    ``STOPPING=1`` right after the zero command. Log lines go to ``log`` if
    given (a text stream), else to the ``edgepilot`` logger (journald or stderr,
    see :mod:`.journal_logging`).

    ``tick_hooks`` builds the sim-to-real hooks (daemon/tick_hooks.py); a profile with ``compensation`` or
    ``residuals`` refuses to be built without it. Built configured, unless ``configure=False``.
    """

    def __init__(self, profile: Profile, transport: Transport, backend: InferenceBackend, *,
                 fault_injection: bool = False, status_period_s: float = 1.0, log: TextIO | None = None,
                 notifier: SdNotifier | None = None, status_file: Path | None = None,
                 tick_hooks: TickHooksFactory | None = None, configure: bool = True) -> None:
        require_hooks(profile, tick_hooks)
        self.profile = profile
        self.transport = transport
        self.backend = backend
        self.log = log
        if log is None:
            ensure_logging()
        self._own_notifier = notifier is None
        self.notifier = SdNotifier() if notifier is None else notifier
        self._status_file = status_file
        self.status_writer: StatusWriter | None = None
        self.status_period_s = status_period_s
        self._fault_injection = fault_injection
        self._tick_hooks = tick_hooks
        self.state = UNCONFIGURED
        self._configured_once = False
        self._ran = False
        self._inactive = threading.Event()
        self._inactive.set()
        self.ready = False
        self._status_thread: threading.Thread | None = None
        self.stop_requested = threading.Event()
        # Replay and use_sim_time bring their own clock: it paces the loop and stamps receipts (transport/base.py).
        self.loop_clock = transport.loop_clock
        self.clock_ns = time.monotonic_ns if self.loop_clock is None else self.loop_clock.now_ns
        self.ingest_process: Any = None
        self.heartbeat: hb.Heartbeat | None = None
        self.supervisor: StallSupervisorProcess | None = None
        self.realtime_report: dict[str, Any] = {}
        self._tuning: LoopThreadTuning | None = None
        if configure:
            self.configure()

    def _transition(self, allowed_from: str, name: str) -> None:
        if self.state != allowed_from:
            raise LifecycleError(f"{name}: the service is {self.state}, and {name} needs it {allowed_from}")

    # ------------------------------------------------------------------ configure / cleanup

    def configure(self) -> None:
        """unconfigured -> inactive: build every part of the tick and subscribe to the streams."""
        self._transition(UNCONFIGURED, "configure")
        if self._configured_once:
            raise LifecycleError("configure: this service already subscribed its streams once (a transport cannot "
                                 "withdraw a subscription); build a new service on a new transport")
        self._configured_once = True
        self.status_writer = StatusWriter(self._status_file) if self._status_file is not None else None
        self._make_ingests()
        try:
            self._build()
        except BaseException:
            # A start that fails here (a model that does not fit the profile, a bad action stage) never reaches
            # cleanup(): its shared rings would stay in the runtime directory (megabytes with a camera).
            if self.ingest_process is not None:
                self.ingest_process.close()
            raise
        self.state = INACTIVE

    def _make_ingests(self) -> None:
        profile, transport = self.profile, self.transport
        ingest_clock = None if self.loop_clock is None else self.clock_ns
        self.ingests = {name: make_ingest(name, cfg, ingest_clock, profile) for name, cfg in profile.streams.items()}
        for ing in self.ingests.values():
            if ing.integrity is not None:
                # Header stamps vs ROS time (a replay: the bag's). Only in-process ingests use it: the ingest
                # process runs on plain DDS alone, whose ROS time is the wall clock its own checks compare with.
                ing.integrity.wall_clock = transport.ros_time_ns
        from edgepilot.daemon.streams.ingest_process import IngestProcess, resolve_ingest_mode

        self.ingest_mode = resolve_ingest_mode(profile, transport)  # auto: a child process on plain DDS
        if self.ingest_mode == "process":
            # The rings and integrity words move into shared memory, written by a child process; this process
            # subscribes to nothing.
            self.ingest_process = IngestProcess(profile, self.ingests)

    def _build(self) -> None:
        profile, transport, backend = self.profile, self.transport, self.backend
        self.snapshots = {name: StreamSnapshot(ing) for name, ing in self.ingests.items()}
        self.odometry = WheelOdometry(profile.odometry.wheel_radius_m) if profile.odometry else None
        self.observation = ObservationBuilder(profile, self.snapshots, self.odometry)
        out = backend.outputs.get(profile.engine.output_name)
        self.joint_action = isinstance(profile.action, JointActionConfig)  # joint targets: daemon/action/joint.py
        if self.joint_action:
            self.mapper: Any = make_joint_action_stage(profile, transport, self.snapshots,
                                                       self.observation.policy_state, self.clock_ns, out)
        else:
            self.mapper = TwistActionMapper(profile.action, out.dtype if out is not None else np.float32)
        check_backend_matches(profile, backend, self.mapper.action_size_needed)  # before anything opens a file
        self._build_pacing()
        self.watchdog = Watchdog(profile.streams, profile.watchdog.recovery_ticks, log=self.log)
        ids = self.watchdog.global_ids
        self._id_send, self._id_stall, self._id_sup = ids["command_sender"], ids["loop_stall"], ids["supervisor_lost"]
        self.injector = FaultInjector(transport) if self._fault_injection else None
        # Sim-to-real calibration: compensation applied each tick, residuals logged off-loop (daemon/tick_hooks.py).
        self.calibration = None
        if self._tick_hooks is not None and (profile.compensation is not None or profile.residuals is not None):
            self.calibration = self._tick_hooks(profile, self.snapshots, self.odometry, self.mapper.command,
                                                self.observation.obs, log=self.log)
        self._build_outputs()
        self._supervisor_check = SupervisorCheck(self.watchdog)
        after: list[FaultCheck] = [] if self.sender is None else [CommandSenderCheck(self.watchdog, self.sender)]
        self.tick = ControlTick(profile, self.snapshots, backend, self.observation, self.mapper, self.watchdog,
                                odometry=self.odometry, hooks=self.calibration, injector=self.injector,
                                clock_ns=self.clock_ns, checks=[self._supervisor_check], after_checks=after,
                                history=self.loop.history)
        self.model_input, self.action, self.zero = self.tick.model_input, self.tick.action, self.tick.zero
        # Streams whose freshest receipt defines the command's latency: each term names its own.
        self._latency_snaps = [self.snapshots[s] for s in self.observation.streams_read]
        self.latency_ns = np.zeros(self.loop.history, np.int64)
        self.zero_commands = 0
        self.policy_commands = 0
        self._started_ns = 0
        self._stopped_ns = 0
        for name, ingest in self.ingests.items():
            if self.ingest_process is not None:
                break  # the ingest process subscribes (ingest.mode=process)
            subscribe_stream(transport, profile.streams[name], ingest)
        self.diagnostics = DiagnosticsReporter(self, diagnostics_publisher(transport, DIAGNOSTICS_TOPIC))
        # Last: its backends are closed by cleanup, and nothing after it can fail (daemon/detection/).
        self.detectors = build_detectors(profile, transport, {n: i.ring for n, i in self.ingests.items()}, self.clock_ns,
                                         self.loop if self.loop_clock is None else None)
        self.tick.checks.extend(self.detectors.tick_checks(profile, self.watchdog, self.tick.state))

    def _build_pacing(self) -> None:
        self.loop, self.phase_lock, self._lock_snap = make_pacing(self.profile, self.loop_clock, self.snapshots)

    def _build_outputs(self) -> None:
        # On any fault (and at shutdown) publish_safe: zero velocity, or a joint profile's safe_action.
        self.publisher = self.mapper if self.joint_action else command_publisher(self.transport, self.profile.action)
        self.publish_safe = self.mapper.publish_safe if self.joint_action else self._publish_zero
        self.helper_priority = self.profile.realtime.helper_priority()  # daemon/service_parts.py says why
        self.sender = make_sender(self.profile, self.transport, self.joint_action, self.loop_clock, self.helper_priority)

    def cleanup(self) -> None:
        """inactive -> unconfigured: release what configure and activate made (rings, files)."""
        self._transition(INACTIVE, "cleanup")
        if self.ingest_process is not None:
            self.ingest_process.close()
        self.detectors.close()
        if self.status_writer is not None:
            self.status_writer.remove()  # no file: `edgepilot status` says the daemon is not running
        if self.heartbeat is not None:
            self.heartbeat.unlink()
        if isinstance(self.mapper, JointActionStage):
            self.mapper.close()  # the supervisor's pose file
        self.state = UNCONFIGURED

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Any state -> finalized. An active service is stopped first (its loop publishes the safe command)."""
        if self.state == FINALIZED:
            return
        if self.state == ACTIVE:
            self.request_stop()
            if not self._inactive.wait(timeout_s):
                raise LifecycleError(f"shutdown: the loop did not stop within {timeout_s} s")
        if self.state == INACTIVE:
            self.cleanup()
        if self._own_notifier:
            self.notifier.close()
        self.state = FINALIZED

    def close(self) -> None:
        """:meth:`shutdown`: what the service created, never the transport or backend it was given."""
        self.shutdown()

    # ------------------------------------------------------------------ activate / deactivate

    def _publish_zero(self) -> None:
        self.publisher.publish(self.zero)

    def _hand_zero(self) -> None:
        self.sender.hand(self.zero)  # type: ignore[union-attr]

    def request_stop(self, *_: Any) -> None:
        self.stop_requested.set()

    def start_supervisor(self, timeout_s: float = 15.0) -> None:
        self.heartbeat = hb.Heartbeat.create()
        self.supervisor = make_supervisor(self.profile, self.heartbeat, self.mapper if self.joint_action else None)
        if not self.supervisor.wait_ready(timeout_s):
            self.supervisor.stop()
            raise RuntimeError("the stall supervisor process did not start; refusing to drive without it")

    def run(self, duration_s: float | None = None, install_signal_handlers: bool = True) -> dict[str, Any]:
        """Activate, run until stopped (signal, :meth:`request_stop`, or ``duration_s``), deactivate; the summary."""
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            if self.calibration is not None:
                signal.signal(signal.SIGHUP, self.calibration.request_reload)  # reload the compensation file
        self.activate()
        try:
            end_ns = self._started_ns + int(duration_s * 1e9) if duration_s else None
            self._loop(end_ns)
        finally:
            self.deactivate()
        return self.summary()

    def activate(self) -> None:
        """inactive -> active, on the thread that will run the loop (its real-time tuning is that thread's)."""
        self._transition(INACTIVE, "activate")
        if self._ran:
            raise LifecycleError("activate: this configuration ran once already; its counters and threads are one "
                                 "run's; build a new service")
        self._ran = True
        self._start_processes()
        assert self.heartbeat is not None
        status = threading.Thread(target=self._status_reporter, name="edgepilot-status", daemon=True)
        self._status_thread = status
        self.notifier.status("starting: waiting for every required stream to be fresh")
        self._started_ns = self.clock_ns()
        self.tick.started(self._started_ns)
        status.start()
        self.diagnostics.start()
        self.detectors.start()  # before the loop's tuning, which its threads must not inherit
        if self.sender is not None:
            self.sender.start()
        if self.calibration is not None:
            self.calibration.start()
        self._apply_tuning()
        self._inactive.clear()
        self.state = ACTIVE
        self.heartbeat.array[hb.STATE] = hb.STATE_RUNNING

    def _start_processes(self) -> None:
        if self.loop_clock is not None and self.loop_clock.simulated:
            # Replay: no robot to stop and no network to publish on; the loop's time is not the supervisor's.
            self.heartbeat = self.heartbeat or hb.Heartbeat.create()
        elif self.supervisor is None:
            self.start_supervisor()
        if self.ingest_process is not None and not self.ingest_process.alive():
            self.ingest_process.start()
            self.realtime_report["ingest"] = self.ingest_process.scheduling
            refused = {k: v for k, v in self.ingest_process.scheduling.items() if "refused" in v}
            if refused:
                self._say(logging.WARNING, f"ingest scheduling: {refused}; see `edgepilot doctor`",
                          {"EDGEPILOT_EVENT": "realtime_refused"})
        # set_callback_priority is the DDS transport's alone (its receive threads are Cyclone's, not Python's), and an
        # ingest process runs only on plain DDS; the probe keeps other transports free of a method they cannot mean.
        if self.injector is not None and self.ingest_process is not None and hasattr(self.transport, "set_callback_priority"):
            # The fault-injection topic's callback is then the only Python this process runs on a transport thread;
            # at the helper priority, no other process can preempt it while it holds the loop's interpreter lock.
            self.realtime_report["callbacks"] = self.transport.set_callback_priority(self.helper_priority)
        assert self.heartbeat is not None
        beat = self.heartbeat.array
        self._supervisor_check.beat = beat
        self._supervisor_check.liveness = (None if self.supervisor is None else
                                           SupervisorLiveness(self.supervisor.process.pid, beat, SUPERVISOR_LOST_S))

    def _apply_tuning(self) -> None:
        # Last, so that the threads and processes started above do not inherit the loop's real-time policy; and
        # before the heartbeat says RUNNING, or the supervisor would take the gc pass for a stalled loop.
        rt = self.profile.realtime
        self._tuning = LoopThreadTuning(rt.loop_priority, rt.gc_freeze, rt.switch_interval_s, rt.loop_cpus)
        self.realtime_report = {**self._tuning.apply(), **self.realtime_report}
        if self.realtime_report["loop"].startswith("SCHED_FIFO") and self.loop_clock is None:
            # A real-time thread wakes within tens of us of its sleep's end, so a short spin covers it; the default
            # 200 us would hold a core at real-time priority just when the phase-locked sensors' ingest needs one.
            self.loop.spin_ns = FIFO_SPIN_NS
        if "refused" in self.realtime_report["loop"]:
            self._say(logging.WARNING, f"real-time priority for the loop {self.realtime_report['loop']}; see `edgepilot "
                      "doctor`", {"EDGEPILOT_EVENT": "realtime_refused"})
        if "refused" in self.realtime_report["loop_cpus"]:
            self._say(logging.WARNING, f"loop {self.realtime_report['loop_cpus']}; check realtime.loop_cpus against "
                      "`nproc` and the unit's CPUAffinity=", {"EDGEPILOT_EVENT": "realtime_refused"})

    def deactivate(self) -> None:
        """active -> inactive: the safe command first, then every thread and process activate started is stopped."""
        self._transition(ACTIVE, "deactivate")
        try:
            if self._tuning is not None:
                self._tuning.restore()
            self._shutdown()
        finally:
            self.state = INACTIVE
            self._inactive.set()

    # ------------------------------------------------------------------ the loop

    def _loop(self, end_ns: int | None) -> None:
        loop = self.loop
        step = self.tick.step
        beat = self.heartbeat.array  # type: ignore[union-attr]
        # The heartbeat is shared with the supervisor process, which knows only the host's monotonic clock.
        host_clock = self.loop_clock is None
        host_now = time.monotonic_ns
        lock = self.phase_lock
        lock_snap = self._lock_snap
        publish = self._publish
        notify = self._notify
        stop = self.stop_requested
        self._ready_sent = False
        self._next_ping_ns = 0
        while not stop.is_set():
            now = loop.wait_next()
            beat[hb.LOOP_TICK_NS] = now if host_clock else host_now()
            command = step(now)
            if lock is not None:
                # After the tick: the shift moves the next deadline only, from the snapshot the tick refreshed.
                loop.shift(lock.shift_ns(now, lock_snap.stamp_ns))  # type: ignore[union-attr]
            publish(now, command)
            notify(now)
            loop.end_tick()
            if end_ns is not None and now >= end_ns:
                break

    def _publish(self, now: int, command: np.ndarray) -> None:
        tick = self.loop.ticks
        slot = tick % self.loop.history
        cal = self.calibration
        if self.tick.ok:
            sender = self.sender
            if sender is None:
                self.publisher.publish(command)
            else:
                sender.hand(command)
            self.policy_commands += 1
            if cal is not None:
                cal.record_policy(now, tick, command)
            newest = -1
            snaps = self._latency_snaps
            n = len(snaps)
            k = 0
            while k < n:
                t = snaps[k].stamp_ns
                if t > newest:
                    newest = t
                k += 1
            self.latency_ns[slot] = self.clock_ns() - newest
            return
        sender = self.sender
        if sender is None:
            self.publish_safe()
        else:
            sender.hand(self.zero)
            if self.watchdog.active[self._id_send]:
                self.publisher.publish(self.zero)  # the sender is stuck or failing: zero from this thread, every tick
        self.zero_commands += 1
        if cal is not None:
            cal.record_zero(now, tick)
        self.latency_ns[slot] = 0  # only a policy command has a sensor-to-command latency

    def _notify(self, now: int) -> None:
        wd = self.watchdog
        if not self._ready_sent and not self.tick.state.hold and not wd.faulted:
            # Config, engine and supervisor are up, and this tick saw every required stream fresh and finite.
            self._ready_sent = self.notifier.notify_nowait(self.notifier.READY)
            self.ready = True
        period = self.notifier.watchdog_period_ns
        if period and now >= self._next_ping_ns and not wd.active[self._id_stall] and not wd.active[self._id_sup]:
            # Sent from this thread so that a loop that stops ticking stops pinging; non-blocking, and only
            # every half WATCHDOG_USEC. A late tick (loop_stall) or a dead supervisor withholds the ping.
            if self.notifier.notify_nowait(self.notifier.WATCHDOG):
                # On an absolute schedule (ticks quantise each interval); restarted after a stall.
                self._next_ping_ns += period
                if self._next_ping_ns <= now:
                    self._next_ping_ns = now + period

    def _shutdown(self) -> None:
        # Zero first, everything else after: on a robot the stop command matters more than a tidy exit. The
        # sender thread stops first, so nothing it still holds can follow the zeros onto the wire.
        beat = self.heartbeat.array  # type: ignore[union-attr]
        if self.sender is not None:
            self.sender.close()
        for k in range(3):
            self.publish_safe()
            self.zero_commands += 1
            if k == 0:
                # The loop stopped ticking on purpose and the robot has its zero: the supervisor must not take the
                # rest of the shutdown (joins, flushes) for a stalled loop.
                beat[hb.STATE] = hb.STATE_STOPPING
            time.sleep(0.005)
        self._stopped_ns = self.clock_ns()
        self.notifier.stopping("stopping: published zero velocity")
        self.stop_requested.set()  # ends the status thread too when the run ended by duration
        if self._status_thread is not None and self._status_thread.is_alive():
            self._status_thread.join(timeout=2.0)
        self.diagnostics.stop()
        self.detectors.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.ingest_process is not None:
            self.ingest_process.stop()  # and copies its received/dropped counts for the summary
        if self.calibration is not None:
            self.calibration.stop()  # drains the residual queue and closes the MCAP file
        self._say(logging.INFO, "stopped; published zero velocity", {"EDGEPILOT_EVENT": "stopped"})
        flush_logging()

    # ------------------------------------------------------------------ reporting

    @property
    def inference_ns(self) -> np.ndarray:
        return self.tick.inference_ns

    @property
    def inference_errors(self) -> int:
        return self.tick.inference_errors

    @property
    def last_inference_error(self) -> str:
        return self.tick.last_inference_error

    def _say(self, level: int, text: str, fields: dict[str, object] | None = None) -> None:
        if self.log is not None:
            print("edgepilot: " + text, file=self.log, flush=True)
        else:
            logger.log(level, text, extra=fields)

    def _status_reporter(self) -> None:
        set_fifo(self.helper_priority)
        while not self.stop_requested.wait(self.status_period_s):
            line = self.status_line()
            self._say(logging.INFO, line, {"EDGEPILOT_EVENT": "status"})
            self.notifier.status(("ready: " if self.ready else "starting: ") + line)
            if self.status_writer is not None:
                self.status_writer.write(self.status_snapshot(line))

    def status_snapshot(self, line: str) -> dict[str, Any]:
        """What the status file holds (see :mod:`.status_file`); read from the status thread, never the loop."""
        return service_report.status_snapshot(self, line)

    def status_line(self) -> str:
        return service_report.status_line(self)

    def summary(self) -> dict[str, Any]:
        return service_report.summary(self)


Daemon = Service  # the name the CLI, the bench and the tests have always used
