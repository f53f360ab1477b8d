"""The rig: plays the robot, starts (or finds) the daemon, runs a scenario's fault timeline, records everything.

One scenario run:

1. The daemon's profile is prepared: the scenario's (or the robot's) profile,
   the scenario's ``profile_overrides`` merged in, its goal set, written next
   to the report as ``<name>.profile.yaml`` (what the daemon really ran).
2. The robot starts: MuJoCo physics in a thread of this process publishing its
   sensors through the scenario's sensor model (:class:`~edgepilot.hil.robot_node.RobotNode`).
3. The daemon starts as its own process (:class:`~edgepilot.hil.daemon_process.DaemonProcess`),
   unless ``external_daemon``: then it already runs elsewhere on the DDS
   domain (a Jetson), and only the faults that need no signal can be injected.
4. t0 is the first non-zero command; the faults are switched on and off at
   their times after it; live injections (``--inject``, stdin) join them.
5. At the end the daemon gets SIGTERM, the robot stops, and
   :func:`edgepilot.hil.measure.evaluate` turns the record into verdicts.
"""

from __future__ import annotations

import copy
import os
import queue
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import TypeAdapter, ValidationError

from edgepilot.daemon.config.profile import Profile, parse_profile
from edgepilot.daemon.observation.terms import GoalTerm
from edgepilot.daemon.safety.fault_injection import FAULT_INJECTION_TOPIC

from .daemon_process import DaemonProcess
from .faults import SENSOR_FAULT_KINDS, SensorFaults
from .host_pause import HostPauseWatcher
from .measure import FaultWindow, RunRecord, ScenarioResult, evaluate
from .robot_registry import robot
from .scenario import DAEMON_HOOK_FAULTS, PROCESS_FAULTS, Fault, Scenario, ScenarioError, format_errors

_FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Fault)
MAX_WAIT_S = 2.0  # longest a fault waits for the robot to be driven again before it starts anyway
RIG_NICE = 5      # the robot thread yields the CPU to the daemon under test (Linux: per-thread nice)


@dataclass
class RigOptions:
    """How to run scenarios. ``domain_id``: DDS domain (ROS_DOMAIN_ID) shared with the daemon."""

    domain_id: int
    out_dir: Path
    profile: Path | None = None          # the daemon's profile, instead of the scenario's or the robot's
    external_daemon: bool = False
    cap_duration_s: float | None = None  # shorten longer scenarios (CI runs the 60 s nominal one shorter)
    joint_command_topic: str | None = "/wheel_velocity_controller/commands"
    interactive: bool = False
    log: TextIO = field(default_factory=lambda: sys.stderr)


# ---------------------------------------------------------------------------- fault commands

def parse_fault_command(text: str, at_s: float | None = None) -> Fault:
    """One fault from a command line: ``[@AT] KIND [STREAM] [key=value ...] [for SECONDS]``.

    Examples: ``@3 stop imu for 1``, ``freeze imu for 0.5``, ``@5 rate_burst imu factor=10 for 0.4``,
    ``sigstop for 0.3``, ``malformed camera mode=bad_image_size``. Validated like a scenario's fault
    (default duration 1 s).
    """
    words = shlex.split(text)
    data: dict[str, Any] = {"duration_s": 1.0}
    if words and words[0].startswith("@"):
        data["at_s"] = words.pop(0)[1:]
    if at_s is not None:
        data["at_s"] = at_s
    data.setdefault("at_s", 0.0)
    if not words:
        raise ScenarioError(f"fault command {text!r}: no fault kind; e.g. '@3 stop imu for 1'")
    data["kind"] = words.pop(0)
    if "for" in words:
        i = words.index("for")
        if i + 1 >= len(words):
            raise ScenarioError(f"fault command {text!r}: 'for' needs a duration in seconds")
        data["duration_s"] = words[i + 1]
        del words[i : i + 2]
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            data[k] = v
        elif "stream" not in data:
            data["stream"] = w
        else:
            raise ScenarioError(f"fault command {text!r}: unexpected {w!r}; parameters are key=value")
    try:
        return _FAULT_ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, f"fault command {text!r}")) from None


def with_injections(scenario: Scenario, commands: list[str]) -> Scenario:
    """The scenario with ``--inject`` faults added to its timeline (validated as a whole again)."""
    if not commands:
        return scenario
    extra = [parse_fault_command(c) for c in commands]
    faults = sorted([*scenario.faults, *extra], key=lambda f: f.at_s)
    data = scenario.model_dump(exclude={"source"})
    data["faults"] = [f.model_dump() for f in faults]
    from .scenario import parse_scenario

    return parse_scenario(data, source=f"{scenario.name} with --inject", path=scenario.source)


# ---------------------------------------------------------------------------- profile

def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def prepare_profile(scenario: Scenario, options: RigOptions, dest: Path) -> tuple[Path, Profile]:
    """Write the daemon's effective profile to ``dest`` and return it validated (raises ScenarioError)."""
    if options.profile is not None:
        src = options.profile
    elif scenario.profile is not None:
        base = scenario.source.parent if scenario.source else Path(".")
        src = (base / scenario.profile).resolve()
    else:
        src = robot(scenario.robot).default_profile()
    try:
        data = yaml.safe_load(src.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioError(f"scenario {scenario.name}: cannot read profile {src}: {err}") from None
    data = _merge(data, scenario.profile_overrides)
    model = Path(data.get("engine", {}).get("model", ""))
    if not model.is_absolute():
        data["engine"]["model"] = str((src.parent / model).resolve())
    if scenario.goal_xy is not None:
        for term in data.get("observation", {}).get("terms", []):
            if term.get("kind") == "goal_relative":
                term["goal_xy"] = list(scenario.goal_xy)
    try:
        profile = parse_profile(data, base_dir=src.parent, source=f"{src} (with scenario {scenario.name}'s overrides)")
    except ValueError as err:
        raise ScenarioError(str(err)) from None
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(dest)
    return dest, profile


def profile_goal(profile: Profile) -> tuple[float, float] | None:
    return next((t.goal_xy for t in profile.observation.terms if isinstance(t, GoalTerm)), None)


# ---------------------------------------------------------------------------- one run

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


def run_scenario(scenario: Scenario, options: RigOptions) -> tuple[ScenarioResult, RunRecord]:
    """Run one scenario against a freshly started daemon (or the external one); see the module docstring."""
    from edgepilot.daemon.transport import ros_msgs
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    from .robot_node import RobotNode

    log = options.log
    if options.cap_duration_s is not None:
        scenario = scenario.shortened(options.cap_duration_s)
    if options.external_daemon:
        bad = [f.title() for f in scenario.faults if f.kind in PROCESS_FAULTS]
        if bad:
            raise ScenarioError(f"scenario {scenario.name}: {bad} signal the daemon's process, which only works for "
                                "a daemon the rig started; drop --external-daemon or these faults")
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    spec = robot(scenario.robot)
    profile_path, profile = prepare_profile(scenario, options, out / f"{scenario.name}.profile.yaml")
    goal = scenario.goal_xy or profile_goal(profile) or (50.0, 0.0)
    model = scenario.resolved_sensor_model()

    def say(text: str) -> None:
        print(f"rig [{scenario.name}] {text}", file=log, flush=True)

    transport = DdsTransport(options.domain_id)
    faults = SensorFaults()
    node = RobotNode(transport, spec.make_sim(scenario.seed), goal, faults=faults, verbose=False, sensor_model=model,
                     seed=scenario.seed, joint_command_topic=options.joint_command_topic)
    inject_pub = transport.publisher(FAULT_INJECTION_TOPIC, "std_msgs/msg/String", reliable=True)
    robot_result: dict[str, Any] = {}
    robot_thread = threading.Thread(target=_run_robot, args=(node, robot_result), name="rig-robot", daemon=True)
    daemon: DaemonProcess | None = None
    windows: list[FaultWindow] = []
    error = ""
    t0 = time.monotonic()
    t_end_rel = 0.0
    stop_stdin = threading.Event()
    # The host may pause this whole (virtual) machine; a stop it causes is not the daemon's (hil/host_pause.py).
    watcher = HostPauseWatcher()
    say(f"host pauses: {watcher.start()}")
    pauses: list[tuple[float, float]] = []
    robot_thread.start()
    try:
        if not options.external_daemon:
            daemon = DaemonProcess(profile_path, options.domain_id, out / f"{scenario.name}.summary.json",
                                   out / f"{scenario.name}.daemon.log")
            daemon.start()
        say(f"robot up on DDS domain {options.domain_id}; "
            + ("daemon started, pid %d" % daemon.pid if daemon else "waiting for the external daemon"))
        t_start = time.monotonic()
        t0_found = None
        while t0_found is None and time.monotonic() - t_start < scenario.startup_timeout_s:
            for t, v, w in node.commands.since(t_start):
                if v != 0.0 or w != 0.0:
                    t0_found = t
                    break
            if daemon is not None and not daemon.alive():
                break
            time.sleep(0.01)
        if t0_found is None:
            error = (f"the daemon never drove the robot within {scenario.startup_timeout_s:g} s"
                     + (f" (daemon exited with {daemon.proc.returncode})" if daemon and daemon.proc and not daemon.alive() else "")
                     + (f"; daemon log tail:\n{daemon.tail()}" if daemon else ""))
            say(error)
        else:
            t0 = t0_found
            say(f"t0: first non-zero command {t0 - t_start:.2f} s after start; running {scenario.duration_s:g} s")
            hooks = [f.title() for f in scenario.faults if f.kind in DAEMON_HOOK_FAULTS]
            if (hooks or options.interactive) and not inject_pub.wait_for_subscribers(1, timeout=5.0) and hooks:
                error = (f"{hooks} need the daemon's test hook, and nothing subscribes to {FAULT_INJECTION_TOPIC}: "
                         "start the daemon with --enable-fault-injection, or drop these faults")
                say(error)
                raise _Abort
            board = _Switchboard(faults, daemon, inject_pub, ros_msgs)
            actions: list[tuple[float, int, str, Fault]] = []
            for i, f in enumerate(scenario.faults):
                actions.append((f.at_s, i, "on", f))
                if f.kind != "sigkill":
                    actions.append((f.end_s, i, "off", f))
            actions.sort(key=lambda a: (a[0], a[2] == "on"))
            started: dict[int, float] = {}
            interactive_q: queue.Queue[str] = queue.Queue()
            if options.interactive:
                threading.Thread(target=_stdin_reader, args=(interactive_q, stop_stdin), daemon=True).start()
                say("interactive: type a fault ('stop imu for 1', 'sigstop for 0.3', 'clear', 'quit')")
            live: list[tuple[float, int, Fault]] = []
            k = 0
            end_abs = t0 + scenario.duration_s
            n = len(scenario.faults)
            shift = 0.0  # s the timeline has been pushed back, waiting for the robot to drive again
            waited_since: float | None = None
            period = 1.0 / profile.loop.rate_hz
            while True:
                now = time.monotonic()
                if now >= end_abs:
                    break
                while k < len(actions) and t0 + shift + actions[k][0] <= now:
                    _, i, what, f = actions[k]
                    if what == "on" and not _driving(node, now, period):
                        # Nothing to measure while the command is already zero (a previous fault still
                        # recovering, or a stall the report shows anyway): wait up to MAX_WAIT_S for motion.
                        waited_since = now if waited_since is None else waited_since
                        if now - waited_since < MAX_WAIT_S:
                            break
                    if waited_since is not None and what == "on":
                        shift += now - waited_since
                        end_abs += now - waited_since
                        say(f"fault {i} starts {now - waited_since:.2f} s late: waited for the robot to drive again")
                        waited_since = None
                    k += 1
                    if what == "on":
                        started[i] = time.monotonic() - t0
                        board.on(f)
                        say(f"fault {i} on: {f.title()} at t={started[i]:.3f} s")
                        if f.kind == "sigkill":
                            windows.append(FaultWindow(i, f, started[i], started[i]))
                    else:
                        board.off(f)
                        t_off = time.monotonic() - t0
                        windows.append(FaultWindow(i, f, started[i], t_off))
                        say(f"fault {i} off: {f.title()} at t={t_off:.3f} s")
                for t_off, i, f in list(live):
                    if now >= t_off:
                        board.off(f)
                        live.remove((t_off, i, f))
                        windows.append(FaultWindow(i, f, started[i], time.monotonic() - t0))
                while not interactive_q.empty():
                    line = interactive_q.get()
                    if not line:
                        continue
                    if line in ("quit", "exit"):
                        end_abs = time.monotonic()
                        break
                    if line == "clear":
                        faults.clear()
                        continue
                    try:
                        f = parse_fault_command(line)
                    except ScenarioError as err:
                        say(str(err))
                        continue
                    if f.kind in PROCESS_FAULTS and daemon is None:
                        say("signals need a daemon the rig started")
                        continue
                    i = n
                    n += 1
                    started[i] = time.monotonic() - t0
                    board.on(f)
                    say(f"fault {i} on (interactive): {f.title()} for {f.duration_s:g} s")
                    if f.kind == "sigkill":
                        windows.append(FaultWindow(i, f, started[i], started[i]))
                    else:
                        live.append((time.monotonic() + f.duration_s, i, f))
                if daemon is not None and not daemon.alive() and not daemon.killed:
                    error = (f"the daemon exited during the run (status {daemon.proc.returncode if daemon.proc else None}); "
                             f"log tail:\n{daemon.tail()}")
                    say(error)
                    break
                time.sleep(0.002)
            for t_off, i, f in live:
                board.off(f)
                windows.append(FaultWindow(i, f, started[i], time.monotonic() - t0))
            t_end_rel = time.monotonic() - t0
    except _Abort:
        pass
    finally:
        stop_stdin.set()
        faults.clear()
        rc = daemon.stop() if daemon is not None else None
        node.stop_event.set()
        robot_thread.join(timeout=10)
        transport.close()
        pauses = watcher.stop()
    windows.sort(key=lambda w: w.start)
    record = RunRecord(
        scenario=scenario, profile=profile, duration=t_end_rel if not error else 0.0,
        commands=[(t - t0, v, w) for t, v, w in zip(node.commands.t, node.commands.vx, node.commands.wz)],
        windows=windows,
        daemon_events=[(e.t - t0, e.what, e.fault) for e in (daemon.events if daemon else [])],
        summary=daemon.summary() if daemon else None, daemon_rc=rc, killed=bool(daemon and daemon.killed),
        robot=robot_result, injected=node.injector.counts(), external_daemon=options.external_daemon, error=error,
        host_pauses=[(a - t0, b - t0) for a, b in pauses], host_watch=watcher.status,
        host_unexplained=[(a - t0, b - t0) for a, b in watcher.unexplained],
        rig_gaps=[(a - t0, b - t0) for a, b in node.publish_gaps])
    record_trace = {"t": [t - t0 for t in node.trace.t], "x": node.trace.x, "y": node.trace.y,
                    "distance": node.trace.distance}
    result = evaluate(record)
    _write_outputs(record, result, record_trace, out)
    say(("PASS" if result.passed else "FAIL") + "".join(f"\n  {line}" for line in result.failures()))
    return result, record


def _write_outputs(record: RunRecord, result: ScenarioResult, trace: dict[str, list[float]], out: Path) -> None:
    from edgepilot.common.atomic_file import write_json_atomic
    from .timeline_plot import plot_timeline

    name = record.scenario.name
    data = {
        "result": result.as_dict(),
        "scenario": record.scenario.model_dump(mode="json"),
        "commands": {"t": [round(c[0], 5) for c in record.commands], "vx": [c[1] for c in record.commands],
                     "wz": [c[2] for c in record.commands]},
        "fault_windows": [{"index": w.index, "title": w.spec.title(), "kind": w.spec.kind, "start_s": round(w.start, 4),
                           "end_s": round(w.end, 4)} for w in record.windows],
        "daemon_events": [{"t": round(t, 4), "what": what, "fault": f} for t, what, f in record.daemon_events],
        "daemon_summary": record.summary,
        "daemon_exit_status": record.daemon_rc,
        "robot": record.robot,
        "injected": record.injected,
        "host_pauses": {"watch": record.host_watch, "pauses_s": [[round(a, 4), round(b, 4)] for a, b in record.host_pauses],
                        "late_without_steal_s": [[round(a, 4), round(b, 4)] for a, b in record.host_unexplained]},
        "rig_gaps_s": [[round(a, 4), round(b, 4)] for a, b in record.rig_gaps],
        "pose_trace": {k: [round(x, 4) for x in v] for k, v in trace.items()},
    }
    write_json_atomic(out / f"{name}.json", data)
    plot_timeline(record, result, trace, out / f"{name}.png")
