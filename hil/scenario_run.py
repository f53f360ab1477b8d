"""One scenario run: the robot thread, the daemon process, the fault timeline, the record (see hil/rig.py).

:class:`ScenarioRun` holds the run's state so each phase is its own method: :meth:`~ScenarioRun.start` (robot,
host-pause watcher, daemon), :meth:`~ScenarioRun.wait_for_t0` (the first non-zero command), :meth:`~ScenarioRun.
timeline` (faults on and off at their times after t0; live injections from stdin join them), :meth:`~ScenarioRun.
stop` (daemon SIGTERM, robot, transport) and :meth:`~ScenarioRun.record` (times relative to t0, in seconds).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from typing import Any

from edgepilot.daemon.safety.fault_injection import FAULT_INJECTION_TOPIC

from .daemon_process import DaemonProcess
from .faults import SENSOR_FAULT_KINDS, SensorFaults
from .host_pause import HostPauseWatcher
from .measure import FaultWindow, RunRecord
from .robot_registry import robot
from .scenario import DAEMON_HOOK_FAULTS, PROCESS_FAULTS, Fault, Scenario, ScenarioError

MAX_WAIT_S = 2.0  # longest a fault waits for the robot to be driven again before it starts anyway
RIG_NICE = 5      # the robot thread yields the CPU to the daemon under test (Linux: per-thread nice)


class _Switchboard:
    """Turns faults on and off: sensor switches on the robot, signals to the daemon, hook messages to it."""

    def __init__(self, faults: SensorFaults, daemon: DaemonProcess | None, inject: Any, msgs: Any) -> None:
        self.faults = faults
        self.daemon = daemon
        self.inject_pub = inject
        self.msgs = msgs

    def _hook(self, text: str) -> None:
        self.inject_pub.publish(self.msgs.String(data=text))

    def on(self, f: Fault) -> None:
        k = f.kind
        if k in SENSOR_FAULT_KINDS:
            self.faults.set(k, f.target, True, **f.params())
        elif k == "sigstop":
            assert self.daemon is not None
            self.daemon.pause()
        elif k == "sigkill":
            assert self.daemon is not None
            self.daemon.kill()
        elif k == "loop_stall":
            self._hook(f"stall {f.duration_s}")
        else:
            self._hook(f"{k} on")

    def off(self, f: Fault) -> None:
        k = f.kind
        if k in SENSOR_FAULT_KINDS:
            self.faults.set(k, f.target, False)
        elif k == "sigstop":
            assert self.daemon is not None
            self.daemon.resume()
        elif k in ("inference_error", "nan_action"):
            self._hook(f"{k} off")


class _Abort(Exception):
    """The run cannot go on; ``error`` says why."""


def _driving(node: Any, now: float, period: float) -> bool:
    """The last command received is non-zero and recent: a fault started now has something to stop."""
    c = node.commands
    if not c.t:
        return False
    return (c.vx[-1] != 0.0 or c.wz[-1] != 0.0) and now - c.t[-1] <= 3 * period


def _run_robot(node: Any, result: dict[str, Any]) -> None:
    # On a real robot the sensors run on their own hardware; on one machine the simulator must not take the
    # daemon's CPU, or the rig would measure its own load. Lower this thread's priority (not the process's).
    try:
        os.nice(RIG_NICE)
    except (AttributeError, OSError):
        pass
    result.update(node.run(duration_s=1e9))


def _stdin_reader(q: queue.Queue[str], stop: threading.Event) -> None:
    for line in sys.stdin:
        if stop.is_set():
            return
        q.put(line.strip())


class ScenarioRun:
    """One scenario against a freshly started daemon (or the external one). ``run()``: the record."""

    def __init__(self, scenario: Scenario, options: Any, profile_path: Any, profile: Any,
                 goal: tuple[float, float]) -> None:
        from edgepilot.daemon.transport import ros_msgs
        from edgepilot.daemon.transport.dds.participant import DdsTransport

        from .robot_node import RobotNode

        self.scenario, self.options, self.profile_path, self.profile = scenario, options, profile_path, profile
        self.out = options.out_dir
        self.msgs = ros_msgs
        self.transport = DdsTransport(options.domain_id)
        self.faults = SensorFaults()
        spec = robot(scenario.robot)
        self.node = RobotNode(self.transport, spec.make_sim(scenario.seed), goal, faults=self.faults, verbose=False,
                              sensor_model=scenario.resolved_sensor_model(), seed=scenario.seed,
                              joint_command_topic=options.joint_command_topic)
        self.inject_pub = self.transport.publisher(FAULT_INJECTION_TOPIC, "std_msgs/msg/String", reliable=True)
        self.robot_result: dict[str, Any] = {}
        self.robot_thread = threading.Thread(target=_run_robot, args=(self.node, self.robot_result),
                                             name="rig-robot", daemon=True)
        self.daemon: DaemonProcess | None = None
        self.windows: list[FaultWindow] = []
        self.error = ""
        self.t0 = time.monotonic()
        self.t_end_rel = 0.0
        self.stop_stdin = threading.Event()
        # The host may pause this whole (virtual) machine; a stop it causes is not the daemon's (hil/host_pause.py).
        self.watcher = HostPauseWatcher()
        self.pauses: list[tuple[float, float]] = []
        self.rc: int | None = None

    def say(self, text: str) -> None:
        print(f"rig [{self.scenario.name}] {text}", file=self.options.log, flush=True)

    def run(self) -> RunRecord:
        self.say(f"host pauses: {self.watcher.start()}")
        self.robot_thread.start()
        try:
            self.start_daemon()
            if self.wait_for_t0():
                self.timeline()
        except _Abort:
            pass
        finally:
            self.stop()
        return self.record()

    def start_daemon(self) -> None:
        name, options = self.scenario.name, self.options
        if not options.external_daemon:
            self.daemon = DaemonProcess(self.profile_path, options.domain_id, self.out / f"{name}.summary.json",
                                        self.out / f"{name}.daemon.log")
            self.daemon.start()
        self.say(f"robot up on DDS domain {options.domain_id}; "
                 + ("daemon started, pid %d" % self.daemon.pid if self.daemon else "waiting for the external daemon"))

    def wait_for_t0(self) -> bool:
        """t0: the first non-zero command after start (False, with ``error`` set, if none came in time)."""
        daemon, timeout = self.daemon, self.scenario.startup_timeout_s
        t_start = time.monotonic()
        t0_found = None
        while t0_found is None and time.monotonic() - t_start < timeout:
            t0_found = next((t for t, v, w in self.node.commands.since(t_start) if v != 0.0 or w != 0.0), None)
            if daemon is not None and not daemon.alive():
                break
            time.sleep(0.01)
        if t0_found is None:
            self.error = (f"the daemon never drove the robot within {timeout:g} s"
                          + (f" (daemon exited with {daemon.proc.returncode})" if daemon and daemon.proc and not daemon.alive() else "")
                          + (f"; daemon log tail:\n{daemon.tail()}" if daemon else ""))
            self.say(self.error)
            return False
        self.t0 = t0_found
        self.say(f"t0: first non-zero command {self.t0 - t_start:.2f} s after start; running {self.scenario.duration_s:g} s")
        return True

    def _check_hooks(self) -> None:
        hooks = [f.title() for f in self.scenario.faults if f.kind in DAEMON_HOOK_FAULTS]
        if (hooks or self.options.interactive) and not self.inject_pub.wait_for_subscribers(1, timeout=5.0) and hooks:
            self.error = (f"{hooks} need the daemon's test hook, and nothing subscribes to {FAULT_INJECTION_TOPIC}: "
                          "start the daemon with --enable-fault-injection, or drop these faults")
            self.say(self.error)
            raise _Abort

    def timeline(self) -> None:
        """The scenario's faults at their times after t0, and live ones from stdin, until the duration is up."""
        self._check_hooks()
        self.board = _Switchboard(self.faults, self.daemon, self.inject_pub, self.msgs)
        self.actions: list[tuple[float, int, str, Fault]] = []
        for i, f in enumerate(self.scenario.faults):
            self.actions.append((f.at_s, i, "on", f))
            if f.kind != "sigkill":
                self.actions.append((f.end_s, i, "off", f))
        self.actions.sort(key=lambda a: (a[0], a[2] == "on"))
        self.started: dict[int, float] = {}
        self.interactive_q: queue.Queue[str] = queue.Queue()
        if self.options.interactive:
            threading.Thread(target=_stdin_reader, args=(self.interactive_q, self.stop_stdin), daemon=True).start()
            self.say("interactive: type a fault ('stop imu for 1', 'sigstop for 0.3', 'clear', 'quit')")
        self.live: list[tuple[float, int, Fault]] = []
        self.k = 0
        self.end_abs = self.t0 + self.scenario.duration_s
        self.n = len(self.scenario.faults)
        self.shift = 0.0  # s the timeline has been pushed back, waiting for the robot to drive again
        self.waited_since: float | None = None
        while True:
            now = time.monotonic()
            if now >= self.end_abs:
                break
            self._due_actions(now)
            self._expire_live(now)
            self._interactive()
            daemon = self.daemon
            if daemon is not None and not daemon.alive() and not daemon.killed:
                self.error = (f"the daemon exited during the run (status {daemon.proc.returncode if daemon.proc else None}); "
                              f"log tail:\n{daemon.tail()}")
                self.say(self.error)
                break
            time.sleep(0.002)
        for _, i, f in self.live:
            self.board.off(f)
            self.windows.append(FaultWindow(i, f, self.started[i], time.monotonic() - self.t0))
        self.t_end_rel = time.monotonic() - self.t0

    def _due_actions(self, now: float) -> None:
        period = 1.0 / self.profile.loop.rate_hz
        actions, t0 = self.actions, self.t0
        while self.k < len(actions) and t0 + self.shift + actions[self.k][0] <= now:
            _, i, what, f = actions[self.k]
            if what == "on" and not _driving(self.node, now, period):
                # Nothing to measure while the command is already zero (a previous fault still
                # recovering, or a stall the report shows anyway): wait up to MAX_WAIT_S for motion.
                self.waited_since = now if self.waited_since is None else self.waited_since
                if now - self.waited_since < MAX_WAIT_S:
                    break
            if self.waited_since is not None and what == "on":
                self.shift += now - self.waited_since
                self.end_abs += now - self.waited_since
                self.say(f"fault {i} starts {now - self.waited_since:.2f} s late: waited for the robot to drive again")
                self.waited_since = None
            self.k += 1
            if what == "on":
                self.started[i] = time.monotonic() - t0
                self.board.on(f)
                self.say(f"fault {i} on: {f.title()} at t={self.started[i]:.3f} s")
                if f.kind == "sigkill":
                    self.windows.append(FaultWindow(i, f, self.started[i], self.started[i]))
            else:
                self.board.off(f)
                t_off = time.monotonic() - t0
                self.windows.append(FaultWindow(i, f, self.started[i], t_off))
                self.say(f"fault {i} off: {f.title()} at t={t_off:.3f} s")

    def _expire_live(self, now: float) -> None:
        for t_off, i, f in list(self.live):
            if now >= t_off:
                self.board.off(f)
                self.live.remove((t_off, i, f))
                self.windows.append(FaultWindow(i, f, self.started[i], time.monotonic() - self.t0))

    def _interactive(self) -> None:
        from .rig import parse_fault_command

        while not self.interactive_q.empty():
            line = self.interactive_q.get()
            if not line:
                continue
            if line in ("quit", "exit"):
                self.end_abs = time.monotonic()
                break
            if line == "clear":
                self.faults.clear()
                continue
            try:
                f = parse_fault_command(line)
            except ScenarioError as err:
                self.say(str(err))
                continue
            if f.kind in PROCESS_FAULTS and self.daemon is None:
                self.say("signals need a daemon the rig started")
                continue
            i = self.n
            self.n += 1
            self.started[i] = time.monotonic() - self.t0
            self.board.on(f)
            self.say(f"fault {i} on (interactive): {f.title()} for {f.duration_s:g} s")
            if f.kind == "sigkill":
                self.windows.append(FaultWindow(i, f, self.started[i], self.started[i]))
            else:
                self.live.append((time.monotonic() + f.duration_s, i, f))

    def stop(self) -> None:
        self.stop_stdin.set()
        self.faults.clear()
        self.rc = self.daemon.stop() if self.daemon is not None else None
        self.node.stop_event.set()
        self.robot_thread.join(timeout=10)
        self.transport.close()
        self.pauses = self.watcher.stop()

    def record(self) -> RunRecord:
        """Everything the run saw, times in seconds since t0."""
        t0, node, daemon, watcher = self.t0, self.node, self.daemon, self.watcher
        self.windows.sort(key=lambda w: w.start)
        return RunRecord(
            scenario=self.scenario, profile=self.profile, duration=self.t_end_rel if not self.error else 0.0,
            commands=[(t - t0, v, w) for t, v, w in zip(node.commands.t, node.commands.vx, node.commands.wz)],
            windows=self.windows,
            daemon_events=[(e.t - t0, e.what, e.fault) for e in (daemon.events if daemon else [])],
            summary=daemon.summary() if daemon else None, daemon_rc=self.rc, killed=bool(daemon and daemon.killed),
            robot=self.robot_result, injected=node.injector.counts(), external_daemon=self.options.external_daemon,
            error=self.error, host_pauses=[(a - t0, b - t0) for a, b in self.pauses], host_watch=watcher.status,
            host_unexplained=[(a - t0, b - t0) for a, b in watcher.unexplained],
            rig_gaps=[(a - t0, b - t0) for a, b in node.publish_gaps])

    def trace(self) -> dict[str, list[float]]:
        tr = self.node.trace
        return {"t": [t - self.t0 for t in tr.t], "x": tr.x, "y": tr.y, "distance": tr.distance}
