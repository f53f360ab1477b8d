"""The daemon: streams in, fixed-rate observation → inference → command out, watched every tick."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgepilot.engines.backend import BackendError, InferenceBackend

from edgepilot.daemon.safety import heartbeat as hb
from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import LEGGED_TERMS, GoalTerm, ImuTerm, JointActionConfig, JointTerm, Profile
from edgepilot.daemon.action.joint import make_joint_action_stage
from edgepilot.daemon.safety.fault_injection import FaultInjector
from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop
from edgepilot.daemon.telemetry.journal_logging import ensure_logging, flush_logging, logger
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.action.command_sender import CommandSender
from edgepilot.daemon.timing.phase_lock import PhaseLock
from edgepilot.daemon.timing.realtime import LoopThreadTuning, set_fifo
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.telemetry.sd_notify import SdNotifier
from edgepilot.daemon.safety.stall_supervisor import StallSupervisorProcess
from edgepilot.daemon.safety.supervisor_liveness import SupervisorLiveness
from edgepilot.daemon.telemetry.status_file import StatusWriter
from edgepilot.daemon.telemetry.diagnostics import DIAGNOSTICS_TOPIC, DiagnosticsReporter
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest, subscribe_stream
from edgepilot.daemon.transport.base import Transport
from edgepilot.daemon.transport.outputs import command_publisher, diagnostics_publisher
from edgepilot.daemon.safety.watchdog import Watchdog

# A supervisor that has exited or is stopped is seen on the next tick (daemon/safety/supervisor_liveness.py); one
# that runs but has not polled for this long (it polls at >= 10 Hz) is lost too.
SUPERVISOR_LOST_S = 0.5
FIFO_SPIN_NS = 50_000  # FixedRateLoop's spin before each deadline once the loop runs SCHED_FIFO


def check_backend_matches(profile: Profile, backend: InferenceBackend, action_size_needed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the model's IO against the profile once, at load; return (input view, flat action view)."""
    obs_name = profile.observation.input_name
    if obs_name not in backend.inputs:
        raise BackendError(f"observation.input_name={obs_name!r} is not a model input; the model has {sorted(backend.inputs)}")
    if len(backend.inputs) != 1:
        raise BackendError(f"the model has inputs {sorted(backend.inputs)}; this profile feeds only {obs_name!r}")
    inp = backend.inputs[obs_name]
    if inp.size != profile.observation_size():
        raise BackendError(
            f"model input {obs_name!r} has shape {inp.shape} ({inp.size} values) but observation.terms produce "
            f"{profile.observation_size()} values; fix the terms or the model"
        )
    if inp.dtype != np.float32:
        raise BackendError(f"model input {obs_name!r} is {inp.dtype}; the daemon feeds float32")
    out_name = profile.engine.output_name
    if out_name not in backend.outputs:
        raise BackendError(f"engine.output_name={out_name!r} is not a model output; the model has {sorted(backend.outputs)}")
    out = backend.outputs[out_name]
    if out.size < action_size_needed:
        raise BackendError(f"model output {out_name!r} has {out.size} values; action.channels use index {action_size_needed - 1}")
    return inp.reshape(-1), out.reshape(-1)


def _percentiles_ms(values_ns: np.ndarray) -> dict[str, float]:
    if values_ns.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    p50, p99 = np.percentile(values_ns, [50, 99])
    return {"p50": round(float(p50) / 1e6, 4), "p99": round(float(p99) / 1e6, 4), "max": round(float(values_ns.max()) / 1e6, 4)}


class Daemon:
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
    """

    def __init__(self, profile: Profile, transport: Transport, backend: InferenceBackend, *,
                 fault_injection: bool = False, status_period_s: float = 1.0, log: TextIO | None = None,
                 notifier: SdNotifier | None = None, status_file: Path | None = None) -> None:
        self.profile = profile
        self.transport = transport
        self.backend = backend
        self.log = log
        if log is None:
            ensure_logging()
        self.notifier = SdNotifier() if notifier is None else notifier
        self.status_writer = StatusWriter(status_file) if status_file is not None else None
        self.ready = False
        self._status_thread: threading.Thread | None = None
        self.status_period_s = status_period_s
        self.stop_requested = threading.Event()

        # Replay and use_sim_time bring their own clock: it paces the loop and stamps receipts (transport/base.py).
        self.loop_clock = getattr(transport, "loop_clock", None)
        self.clock_ns = time.monotonic_ns if self.loop_clock is None else self.loop_clock.now_ns
        ingest_clock = None if self.loop_clock is None else self.clock_ns
        self.ingests = {name: make_ingest(name, cfg, ingest_clock, profile) for name, cfg in profile.streams.items()}
        for ing in self.ingests.values():
            if ing.integrity is not None and hasattr(transport, "ros_time_ns"):
                # Header stamps vs ROS time (a replay: the bag's). Only in-process ingests use it: the ingest
                # process runs on plain DDS alone, whose ROS time is the wall clock its own checks compare with.
                ing.integrity.wall_clock = transport.ros_time_ns
        from edgepilot.daemon.streams.ingest_process import IngestProcess, resolve_ingest_mode

        self.ingest_mode = resolve_ingest_mode(profile, transport)  # auto: a child process on plain DDS
        self.ingest_process = None
        if self.ingest_mode == "process":
            # The rings and integrity words move into shared memory, written by a child process; this process
            # subscribes to nothing.
            self.ingest_process = IngestProcess(profile, self.ingests)
        try:
            self._build(profile, transport, backend, fault_injection)
        except BaseException:
            # A start that fails here (a model that does not fit the profile, a bad action stage) never reaches
            # close(): its shared rings would stay in the runtime directory (megabytes with a camera).
            if self.ingest_process is not None:
                self.ingest_process.close()
            raise

    def _build(self, profile: Profile, transport: Transport, backend: InferenceBackend, fault_injection: bool) -> None:
        self.snapshots = {name: StreamSnapshot(ing) for name, ing in self.ingests.items()}
        self.odometry = WheelOdometry(profile.odometry.wheel_radius_m) if profile.odometry else None
        self.observation = ObservationBuilder(profile, self.snapshots, self.odometry)
        out = backend.outputs.get(profile.engine.output_name)
        joint_action = isinstance(profile.action, JointActionConfig)  # joint targets: daemon/action/joint.py
        if joint_action:
            self.mapper = make_joint_action_stage(profile, transport, self.snapshots, self.observation.policy_state,
                                                  self.clock_ns, out)
        else:
            self.mapper = TwistActionMapper(profile.action, out.dtype if out is not None else np.float32)
        self.model_input, self.action = check_backend_matches(profile, backend, self.mapper.action_size_needed)
        self.zero = np.zeros(6)
        lc = self.loop_clock
        self.loop = FixedRateLoop(profile.loop.rate_hz) if lc is None else FixedRateLoop(
            profile.loop.rate_hz, spin_s=0.0 if lc.simulated else 0.0002, clock=lc.now_ns, sleep=lc.sleep)
        sync = profile.loop.sync
        # The gate reads the stream's ring, not its snapshot: the wait comes before the tick refreshes snapshots.
        self.phase_lock = None if sync is None else PhaseLock(
            int(1e9 / profile.streams[sync.stream].rate_hz), int(sync.offset_s * 1e9), sync.gain,
            int(profile.loop.sync_max_step_s() * 1e9), newest_ns=self.snapshots[sync.stream].ring.latest_stamp)
        if self.phase_lock is not None and sync is not None and sync.max_wait_s > 0 and lc is None:
            self.loop.gate = self.phase_lock.gate
            self.loop.gate_max_ns = int(sync.max_wait_s * 1e9)
        self.watchdog = Watchdog(profile.streams, profile.watchdog.recovery_ticks, log=self.log)
        self.injector = FaultInjector(transport) if fault_injection else None
        # Sim-to-real calibration (edgepilot.calibration): compensation applied each tick, residuals logged off-loop.
        self.calibration = None
        if profile.compensation is not None or profile.residuals is not None:
            from edgepilot.calibration.loop_hooks import CalibrationHooks

            self.calibration = CalibrationHooks(profile, self.snapshots, self.odometry, self.mapper.command,
                                                self.observation.obs, log=self.log)

        # Streams whose freshest receipt time defines the command's latency: the ones the observation reads.
        fed: list[str] = []
        for t in profile.observation.terms:
            if isinstance(t, (JointTerm, ImuTerm)) and t.stream not in fed:
                fed.append(t.stream)
            elif isinstance(t, LEGGED_TERMS) and getattr(t, "stream", None) and t.stream not in fed:
                fed.append(t.stream)
            if isinstance(t, GoalTerm) and profile.odometry is not None:
                for s in (profile.odometry.joint_stream, profile.odometry.imu_stream):
                    if s not in fed:
                        fed.append(s)
        self._latency_snaps = [self.snapshots[s] for s in fed]
        hist = self.loop.history
        self.latency_ns = np.zeros(hist, np.int64)
        self.inference_ns = np.zeros(hist, np.int64)
        self.zero_commands = 0
        self.policy_commands = 0
        self.inference_errors = 0
        self.last_inference_error = ""
        self._started_ns = 0
        self._stopped_ns = 0
        # On any fault (and at shutdown) publish_safe: zero velocity, or a joint profile's safe_action.
        self.publisher = self.mapper if joint_action else command_publisher(transport, profile.action)
        self.publish_safe = self.mapper.publish_safe if joint_action else self._publish_zero
        # The status and diagnostics threads (and the command sender) share the loop's interpreter lock. At the
        # normal policy, one of them preempted by any other process while it holds the lock keeps the real-time
        # loop waiting (priority inversion, measured as 0.6-1 ms late ticks once a second); one step below the
        # loop they cannot be.
        self.helper_priority = profile.realtime.helper_priority()
        # With action.send_thread, twist commands leave through a thread of their own (daemon/action/command_sender.py).
        # Off by default: unpinned, the hand-off saves ~35 us of the tick but adds ~50 us of latency (a wake-up on
        # another core, then the interpreter lock), and latency is what the robot feels; on the loop's own core
        # (realtime.loop_cpus, as in the example profile) it adds none. Joint profiles publish from their action
        # stage, and replay keeps every write on the loop's simulated clock.
        self.sender: CommandSender | None = None
        if not joint_action and self.loop_clock is None and profile.action.send_thread:  # type: ignore[union-attr]
            # A writer of its own: the loop's direct zero (when the sender is stuck) never shares a buffer with it.
            # On the loop's CPUs one priority below it (daemon/timing/realtime.py): handing a command over is then a
            # local wake-up that never preempts the loop, and the write runs as soon as the loop sleeps.
            self.sender = CommandSender(command_publisher(transport, profile.action).publish, 6,
                                        self.helper_priority, profile.realtime.loop_cpus)
        for name, ingest in self.ingests.items():
            if self.ingest_process is not None:
                break  # the ingest process subscribes (ingest.mode=process)
            subscribe_stream(transport, profile.streams[name], ingest)
        self.diagnostics = DiagnosticsReporter(self, diagnostics_publisher(transport, DIAGNOSTICS_TOPIC))
        self.heartbeat: hb.Heartbeat | None = None
        self.supervisor: StallSupervisorProcess | None = None
        self.realtime_report: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def _publish_zero(self) -> None:
        self.publisher.publish(self.zero)

    def request_stop(self, *_: Any) -> None:
        self.stop_requested.set()

    def start_supervisor(self, timeout_s: float = 15.0) -> None:
        self.heartbeat = hb.Heartbeat.create()
        self.supervisor = StallSupervisorProcess(
            self.heartbeat, self.profile.transport, self.profile.action.topic, self.profile.watchdog.stall_timeout_s,
            self.profile.watchdog.supervisor_poll_hz, 1.0 / self.profile.loop.rate_hz,
            stamped=self.profile.action.output == "twist_stamped", frame_id=getattr(self.profile.action, "frame_id", ""),
            joint_safe=self.mapper.supervisor_safe(self.heartbeat.path) if hasattr(self.mapper, "supervisor_safe") else None,
            rt_priority=self.profile.realtime.supervisor_priority())
        if not self.supervisor.wait_ready(timeout_s):
            self.supervisor.stop()
            raise RuntimeError("the stall supervisor process did not start; refusing to drive without it")

    def run(self, duration_s: float | None = None, install_signal_handlers: bool = True) -> dict[str, Any]:
        """Run until stopped (signal, :meth:`request_stop`, or ``duration_s``); return the summary."""
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            if self.calibration is not None:
                signal.signal(signal.SIGHUP, self.calibration.request_reload)  # reload the compensation file
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
        if self.injector is not None and self.ingest_process is not None and hasattr(self.transport, "set_callback_priority"):
            # The fault-injection topic's callback is then the only Python this process runs on a transport thread;
            # at the helper priority, no other process can preempt it while it holds the loop's interpreter lock.
            self.realtime_report["callbacks"] = self.transport.set_callback_priority(self.helper_priority)
        assert self.heartbeat is not None
        beat = self.heartbeat.array
        status = threading.Thread(target=self._status_reporter, name="edgepilot-status", daemon=True)
        self._status_thread = status
        self.notifier.status("starting: waiting for every required stream to be fresh")
        self._started_ns = self.clock_ns()
        self.watchdog.t0_ns = self._started_ns
        end_ns = self._started_ns + int(duration_s * 1e9) if duration_s else None
        status.start()
        self.diagnostics.start()
        if self.sender is not None:
            self.sender.start()
        if self.calibration is not None:
            self.calibration.start()
        # Last, so that the threads and processes started above do not inherit the loop's real-time policy; and
        # before the heartbeat says RUNNING, or the supervisor would take the gc pass for a stalled loop.
        rt = self.profile.realtime
        tuning = LoopThreadTuning(rt.loop_priority, rt.gc_freeze, rt.switch_interval_s, rt.loop_cpus)
        self.realtime_report = {**tuning.apply(), **self.realtime_report}
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
        beat[hb.STATE] = hb.STATE_RUNNING
        try:
            self._loop(beat, end_ns)
        finally:
            tuning.restore()
            self._shutdown(beat)
        return self.summary()

    def _loop(self, beat: np.ndarray, end_ns: int | None) -> None:
        loop = self.loop
        wd = self.watchdog
        snaps = list(self.snapshots.values())
        stream_ids = [wd.stream_fault_ids[s.name] for s in snaps]
        required = [self.profile.streams[s.name].required for s in snaps]
        max_age = [self.profile.streams[s.name].max_age_s for s in snaps]
        integrity = [s.ingest.integrity for s in snaps]  # frozen/out_of_range/stamp/rate checks, or None
        raise_fault = wd.raise_fault
        n_snaps = len(snaps)
        grace_ns = int(self.profile.watchdog.startup_grace_s * 1e9)
        stall_ns = int(self.profile.watchdog.stall_timeout_s * 1e9)
        id_stall = wd.global_ids["loop_stall"]
        id_obs = wd.global_ids["nonfinite_observation"]
        id_act = wd.global_ids["nonfinite_action"]
        id_inf = wd.global_ids["inference_error"]
        id_sup = wd.global_ids["supervisor_lost"]
        odo = self.odometry
        odo_cfg = self.profile.odometry
        if odo is not None and odo_cfg is not None:
            js = self.snapshots[odo_cfg.joint_stream]
            imu = self.snapshots[odo_cfg.imu_stream]
            jnames = self.profile.streams[odo_cfg.joint_stream].joints
            li, ri = jnames.index(odo_cfg.left_joint), jnames.index(odo_cfg.right_joint)
            jpos = js.sample[0]
            isamp = imu.sample
        build = self.observation.build
        model_input = self.model_input
        backend_run = self.backend.run
        action = self.action
        mapper_map = self.mapper.map
        skip_policy = getattr(self.mapper, "skip_policy", None)  # joint_torques: PD ticks between policy steps
        between = getattr(self.mapper, "between", None)
        sender = self.sender
        id_send = wd.global_ids["command_sender"]
        publish_direct = self.publisher.publish
        publish_safe = self.publish_safe if sender is None else (lambda: sender.hand(zero))
        publish = publish_direct if sender is None else sender.hand
        zero = self.zero
        injector = self.injector
        cal = self.calibration
        lat_snaps = self._latency_snaps
        n_lat = len(lat_snaps)
        history = loop.history
        latency_ns = self.latency_ns
        inference_ns = self.inference_ns
        clock = self.clock_ns
        # The heartbeat is shared with the supervisor process, which knows only the host's monotonic clock.
        host_clock = self.loop_clock is None
        host_now = time.monotonic_ns
        liveness = None if self.supervisor is None else SupervisorLiveness(self.supervisor.process.pid, beat, SUPERVISOR_LOST_S)
        stop = self.stop_requested
        start = self._started_ns
        notify_nowait = self.notifier.notify_nowait
        ready_msg = self.notifier.READY
        ready_sent = False
        ping_msg = self.notifier.WATCHDOG
        ping_period_ns = self.notifier.watchdog_period_ns
        next_ping_ns = 0
        wd_active = wd.active
        lock = self.phase_lock
        lock_snap = self.snapshots[self.profile.loop.sync.stream] if self.profile.loop.sync is not None else None

        while not stop.is_set():
            now = loop.wait_next()
            beat_now = now if host_clock else host_now()
            beat[hb.LOOP_TICK_NS] = beat_now
            tick = loop.ticks
            slot = tick % history
            wd.begin_tick()
            in_grace = now - start < grace_ns
            hold = False
            inputs_ok = True
            k = 0
            while k < n_snaps:  # not `for ... in`: an iterator object per tick is an allocation (bench/fusion_cost.py)
                s = snaps[k]
                s.refresh(now)
                ids = stream_ids[k]
                if s.stamp_ns < 0:
                    if in_grace:
                        hold = True
                    elif required[k]:
                        wd.raise_fault(ids[0], s.ingest.missing_detail())
                    inputs_ok = inputs_ok and not required[k]
                elif s.age_s > max_age[k]:
                    if required[k]:
                        wd.raise_fault(ids[1])
                        inputs_ok = False
                elif not s.finite:
                    wd.raise_fault(ids[2])
                    inputs_ok = False
                integ = integrity[k]
                if integ is not None and integ.check(s, now, s.age_s <= max_age[k], raise_fault, ids):
                    inputs_ok = False
                k += 1
            if lock is not None:
                loop.shift(lock.shift_ns(now, lock_snap.stamp_ns))  # type: ignore[union-attr]
            if tick > 0 and loop.last_gap_ns > stall_ns:
                wd.raise_fault(id_stall, f"{loop.last_gap_ns / 1e6:.1f} ms between ticks")
            if liveness is not None and liveness.lost(beat_now):
                wd.raise_fault(id_sup)
            if cal is not None:
                cal.begin_tick()  # sensor biases off the raw values, before odometry and the observation read them
            if odo is not None and js.stamp_ns >= 0 and imu.stamp_ns >= 0 and js.finite and imu.finite:
                # Integrated even while faulted: encoders are absolute, so distance stays right across a fault.
                # .item(): Python floats, not numpy scalars (those are slower to compute with and are allocated
                # per use; the floats come from CPython's free list, bench/fusion_cost.py).
                odo.update(jpos.item(li), jpos.item(ri), isamp.item(2), loop.last_gap_ns * 1e-9 if tick > 0 else 0.0)
            command = zero
            if inputs_ok and skip_policy is not None and skip_policy():
                command = between()  # the daemon's PD loop on this tick's joint state, targets held
            elif inputs_ok:
                obs = build()
                np.copyto(model_input, obs)
                d = float(np.dot(model_input, model_input))
                if not (d == d and d != float("inf")):
                    wd.raise_fault(id_obs)
                else:
                    try:
                        if injector is not None:
                            injector.before_inference()
                        t_inf = host_now()
                        backend_run()
                    except Exception as err:  # noqa: BLE001 - any engine failure is a fault, not a crash
                        self.inference_errors += 1
                        self.last_inference_error = f"{type(err).__name__}: {err}"
                        wd.raise_fault(id_inf, self.last_inference_error)
                    else:
                        inference_ns[slot] = host_now() - t_inf
                        if injector is not None:
                            injector.after_inference(action)
                        command = mapper_map(action)
                        if cal is not None:
                            command = cal.compensate(command)  # action bias, clipped to the channel limits
                        c = float(np.dot(command, command))
                        if not (c == c and c != float("inf")):
                            wd.raise_fault(id_act)
                            command = zero
            if clock() - now > stall_ns:
                # Frozen or stalled inside this very tick (SIGSTOP, a slow engine): its command is stale by now.
                wd.raise_fault(id_stall, "tick overran the stall timeout")
            if sender is not None and sender.lagging():
                wd.raise_fault(id_send, sender.last_error or "the previous tick's command was not sent")
            if wd.end_tick(now, tick, hold):
                publish(command)
                self.policy_commands += 1
                if cal is not None:
                    cal.record_policy(now, tick, command)
                newest = -1
                k = 0
                while k < n_lat:
                    t = lat_snaps[k].stamp_ns
                    if t > newest:
                        newest = t
                    k += 1
                latency_ns[slot] = clock() - newest
            else:
                publish_safe()
                if sender is not None and wd_active[id_send]:
                    publish_direct(zero)  # the sender is stuck or failing: zero from this thread, every tick
                self.zero_commands += 1
                if cal is not None:
                    cal.record_zero(now, tick)
                latency_ns[slot] = 0  # only a policy command has a sensor-to-command latency
            if not ready_sent and not hold and not wd.faulted:
                # Config, engine and supervisor are up, and this tick saw every required stream fresh and finite.
                ready_sent = notify_nowait(ready_msg)
                self.ready = True
            if ping_period_ns and now >= next_ping_ns and not wd_active[id_stall] and not wd_active[id_sup]:
                # Sent from this thread so that a loop that stops ticking stops pinging; non-blocking, and only
                # every half WATCHDOG_USEC. A late tick (loop_stall) or a dead supervisor withholds the ping.
                if notify_nowait(ping_msg):
                    # On an absolute schedule (ticks quantise each interval); restarted after a stall.
                    next_ping_ns += ping_period_ns
                    if next_ping_ns <= now:
                        next_ping_ns = now + ping_period_ns
            loop.end_tick()
            if end_ns is not None and now >= end_ns:
                break

    def _shutdown(self, beat: np.ndarray) -> None:
        # Zero first, everything else after: on a robot the stop command matters more than a tidy exit. The
        # sender thread stops first, so nothing it still holds can follow the zeros onto the wire.
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
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.ingest_process is not None:
            self.ingest_process.stop()  # and copies its received/dropped counts for the summary
        if self.calibration is not None:
            self.calibration.stop()  # drains the residual queue and closes the MCAP file
        self._say(logging.INFO, "stopped; published zero velocity", {"EDGEPILOT_EVENT": "stopped"})
        flush_logging()

    def close(self) -> None:
        self.transport.close()
        if self.ingest_process is not None:
            self.ingest_process.close()
        self.backend.close()
        self.notifier.close()
        if self.status_writer is not None:
            self.status_writer.remove()  # no file: `edgepilot status` says the daemon is not running
        if self.heartbeat is not None:
            self.heartbeat.unlink()
        if hasattr(self.mapper, "close"):
            self.mapper.close()  # joint profiles: the supervisor's pose file

    # ------------------------------------------------------------------ reporting

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
        last_tick = int(self.heartbeat.array[hb.LOOP_TICK_NS]) if self.heartbeat is not None else 0
        tick_age_s = (time.monotonic_ns() - last_tick) / 1e9 if last_tick else float("inf")
        return {
            "profile": self.profile.name,
            "ready": self.ready,
            "faults": self.watchdog.settled_names(),
            "ticks": self.loop.ticks,
            "rate_hz": round(self.loop.measured_rate_hz(), 3),
            "last_tick_age_s": round(tick_age_s, 6) if tick_age_s != float("inf") else None,
            "stall_timeout_s": self.profile.watchdog.stall_timeout_s,
            "status_period_s": self.status_period_s,
            "zero_commands": self.zero_commands,
            "policy_commands": self.policy_commands,
            "line": line,
        }

    def status_line(self) -> str:
        loop = self.loop
        n = min(loop.ticks, loop.history)
        recent = max(0, n - int(self.profile.loop.rate_hz))
        lat = self.latency_ns[recent:n]
        lat_ms = float(np.median(lat)) / 1e6 if lat.size else float("nan")
        faults = self.watchdog.active_names()
        return (f"t={(self.clock_ns() - self._started_ns) / 1e9:6.1f}s ticks={loop.ticks} "
                f"rate={loop.measured_rate_hz():.2f}Hz latency_p50={lat_ms:.2f}ms misses={loop.deadline_misses} "
                f"zero_cmds={self.zero_commands} faults={','.join(faults) if faults else 'none'}")

    def summary(self) -> dict[str, Any]:
        loop = self.loop
        n = min(loop.ticks, loop.history)
        lat = self.latency_ns[:n][self.latency_ns[:n] > 0]
        sup_zeros = int(self.heartbeat.array[hb.SUPERVISOR_ZEROS]) if self.heartbeat is not None else 0
        sup_stalls = int(self.heartbeat.array[hb.SUPERVISOR_STALLS]) if self.heartbeat is not None else 0
        return {
            "profile": self.profile.name,
            "ticks": loop.ticks,
            "duration_s": round((self._stopped_ns - self._started_ns) / 1e9, 3) if self._stopped_ns else None,
            "loop_rate_target_hz": self.profile.loop.rate_hz,
            "loop_rate_hz": round(loop.measured_rate_hz(), 3),
            "deadline_misses": loop.deadline_misses,
            "skipped_deadlines": int(loop.skipped_deadlines),
            "tick_lateness_ms": _percentiles_ms(loop.lateness_ns[:n]),
            "tick_duration_ms": _percentiles_ms(loop.duration_ns[:n]),
            "latency_ms": _percentiles_ms(lat),
            "inference_ms": _percentiles_ms(self.inference_ns[:n][self.inference_ns[:n] > 0]),
            "faults": self.watchdog.fault_names_seen(),
            "fault_events": [e.as_dict() for e in self.watchdog.events],
            "zero_commands": self.zero_commands + sup_zeros,
            "loop_zero_commands": self.zero_commands,
            "supervisor_zero_commands": sup_zeros,
            "supervisor_stall_episodes": sup_stalls,
            "policy_commands": self.policy_commands,
            "inference_errors": self.inference_errors,
            "streams": {name: {"received": ing.received, "dropped": ing.dropped, "last_error": ing.last_error,
                               **(ing.integrity.counters() if ing.integrity is not None else {})}
                        for name, ing in self.ingests.items()},
            "calibration": None if self.calibration is None else self.calibration.diagnostics(),
            "realtime": self.realtime_report if self.sender is None
            else {**self.realtime_report, "command_sender": self.sender.scheduling},
            "loop_sync": None if self.phase_lock is None else
            {"stream": self.profile.loop.sync.stream, **self.phase_lock.summary(),  # type: ignore[union-attr]
             "waited_ticks": self.loop.gated_ticks},
            "odometry": None if self.odometry is None else
            {"x_m": round(self.odometry.x, 4), "y_m": round(self.odometry.y, 4), "yaw_rad": round(self.odometry.yaw, 4)},
        }
