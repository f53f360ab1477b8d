"""From what the rig recorded to verdicts: detection time, commands while faulted, recovery, expectations.

Everything is measured on the robot's side of the wire, as the robot would
see it: the receipt time of every /cmd_vel, the moment each fault was
switched on and off, and the daemon's fault log lines (stamped on receipt).
Times are seconds after t0 (the first non-zero command).

Derived expectations, per fault (a scenario may override each):

* **stop or not.** Every fault stops the robot except duplicated or reordered
  messages, malformed messages that are sporadic (``every`` > 1) or only add
  unknown joints, and a delay spike shorter than the stream's ``max_age_s``:
  those must be counted and dropped with no stop and no daemon fault.
* **stop bound**, from the fault's start at the sensor to the first zero
  command (P = loop period, Ts = the stream's period, L = its latency in the
  sensor model):

  - stream stops, is malformed throughout, is delayed, floods: ``max_age_s + 2P + L``
  - frozen: ``max_identical_s + 2P + L``
  - NaN/Inf, out of range, stale stamps, clock jump: ``2P + Ts + L`` (the
    first bad message must exist before it can be seen)
  - SIGSTOP, SIGKILL, engine error, NaN action: ``2P`` from the signal or
    the hook message; a stalled loop: ``2P`` from its first missed tick
    (one period after the last command it published).

* **nothing non-zero** from the first zero command to the fault's end.
* **resume**: the first non-zero command after the fault's end comes after
  at least ``recovery_ticks - 2`` periods (the watchdog's hold of
  ``recovery_ticks`` healthy ticks, the first of which may run at once on a
  deadline a stall left behind) and within
  ``recovery_ticks + ceil(clearing time / P) + 5`` ticks, where the clearing
  time is how long the daemon's check needs to see the stream healthy again
  (one sensor period; plus the stamp hold ``max_age_s`` after stale stamps or
  a clock jump; plus the delay itself after a delay spike; the rate window
  after a burst).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from edgepilot.daemon.config.profile import Profile, StreamConfig

from .scenario import Fault, Scenario
from .sensor_models import SensorModel

#: The topics the rig's robot publishes, by its stream names; the daemon's stream is found by topic.
RIG_TOPICS = {"joint_states": "/joint_states", "imu": "/imu/data", "camera": "/camera/image_raw"}
RESUME_SLACK_TICKS = 5


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class FaultWindow:
    """One fault as it happened: rig times (s after t0) it was switched on and off."""

    index: int
    spec: Fault
    start: float
    end: float


@dataclass
class RunRecord:
    """Everything one scenario run left behind (rig times in s after t0)."""

    scenario: Scenario
    profile: Profile
    duration: float
    commands: list[tuple[float, float, float]]
    windows: list[FaultWindow]
    daemon_events: list[tuple[float, str, str]]
    summary: dict[str, Any] | None
    daemon_rc: int | None
    killed: bool
    robot: dict[str, Any]
    injected: dict[str, int]
    external_daemon: bool = False
    error: str = ""
    #: Times the hypervisor held a CPU of this machine (hil/host_pause.py), and whether that was watched at all.
    host_pauses: list[tuple[float, float]] = field(default_factory=list)
    host_watch: str = "not watched"
    #: Late wake-ups of the watchers that the host's steal time does not explain: reported, never excused.
    host_unexplained: list[tuple[float, float]] = field(default_factory=list)
    #: Stretches in which the rig's simulated robot published nothing (hil/robot_node.py: publish_gaps): its
    #: sensors were late because the rig was descheduled, so the daemon's stop then is the rig's, not false.
    rig_gaps: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class FaultResult:
    index: int
    kind: str
    title: str
    stream: str | None
    start_s: float
    end_s: float
    expect_stop: bool
    planned_s: float = 0.0
    bound_ms: float | None = None
    detect_ms: float | None = None
    detected_at_s: float | None = None
    nonzero_after_detection: int | None = None
    recovery_ms: float | None = None
    resumed_at_s: float | None = None
    resume_bound_ms: float | None = None
    zeros_in_window: int | None = None
    daemon_faults: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d


@dataclass
class ScenarioResult:
    name: str
    description: str
    duration_s: float
    faults: list[FaultResult]
    checks: list[Check]
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(c.passed for c in self.checks) and all(f.passed for f in self.faults)

    def failures(self) -> list[str]:
        out = [f"{self.name}: {self.error}"] if self.error else []
        out += [f"{self.name}: {c.name}: {c.detail}" for c in self.checks if not c.passed]
        for f in self.faults:
            out += [f"{self.name}: fault {f.index} ({f.title}): {c.name}: {c.detail}" for c in f.checks if not c.passed]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "duration_s": self.duration_s,
                "passed": self.passed, "error": self.error, "checks": [asdict(c) for c in self.checks],
                "faults": [f.as_dict() for f in self.faults]}


def daemon_stream(profile: Profile, rig_stream: str | None) -> tuple[str, StreamConfig] | None:
    """The daemon's stream (name, config) fed by the rig's ``rig_stream``, found by topic."""
    if rig_stream is None:
        return None
    topic = RIG_TOPICS[rig_stream]
    for name, cfg in profile.streams.items():
        if cfg.topic == topic:
            return name, cfg
    return None


def expects_stop(spec: Fault, profile: Profile) -> bool:
    if spec.expect.stop is not None:
        return spec.expect.stop
    kind = spec.kind
    if kind in ("duplicate", "reorder"):
        return False
    if kind == "malformed":
        return spec.every == 1 and spec.mode != "extra_joints"  # type: ignore[union-attr]
    if kind == "delay_spike":
        s = daemon_stream(profile, spec.target)
        return s is None or spec.delay_s > s[1].max_age_s  # type: ignore[union-attr]
    return True


def _stream_timing(profile: Profile, model: SensorModel, rig_stream: str) -> tuple[StreamConfig | None, float, float]:
    s = daemon_stream(profile, rig_stream)
    cfg = s[1] if s else None
    period = 1.0 / cfg.rate_hz if cfg else 0.0
    return cfg, period, model.latency_s(rig_stream)


def stop_bound_s(spec: Fault, profile: Profile, model: SensorModel) -> float:
    """The derived stop bound of the module docstring; inf where the profile lacks the check."""
    if spec.expect.stop_within_ms is not None:
        return spec.expect.stop_within_ms / 1e3
    p = 1.0 / profile.loop.rate_hz
    kind = spec.kind
    if kind in ("sigstop", "sigkill", "inference_error", "nan_action", "loop_stall"):
        return 2 * p
    if kind == "clock_jump":
        firsts = [_stream_timing(profile, model, s) for s in RIG_TOPICS]
        return 2 * p + min(ts + lat for cfg, ts, lat in firsts if cfg is not None)
    cfg, ts, lat = _stream_timing(profile, model, spec.target or "")
    if cfg is None:
        return math.inf
    if kind == "freeze":
        return (cfg.max_identical_s or math.inf) + 2 * p + lat
    if kind in ("nan", "inf", "out_of_range", "stale_stamps"):
        return 2 * p + ts + lat
    return cfg.max_age_s + 2 * p + lat  # stop, malformed, delay_spike, rate_burst


def clearing_s(spec: Fault, profile: Profile, model: SensorModel) -> float:
    """How long after the fault's end the daemon's checks need to see health again (module docstring)."""
    p = 1.0 / profile.loop.rate_hz
    kind = spec.kind
    if kind in ("sigstop", "inference_error", "nan_action"):
        return p
    if kind == "loop_stall":
        return 2 * p
    if kind == "clock_jump":
        firsts = [_stream_timing(profile, model, s) for s in RIG_TOPICS]
        return max(ts + lat + (cfg.max_age_s if cfg else 0.0) for cfg, ts, lat in firsts)
    cfg, ts, lat = _stream_timing(profile, model, spec.target or "")
    if cfg is None:
        return 0.0
    if kind == "stale_stamps":
        return ts + lat + cfg.max_age_s
    if kind == "delay_spike":
        # Readings taken just before the end still arrive delay_s late (old stamps: the stamp hold follows).
        return spec.delay_s + ts + lat + cfg.max_age_s  # type: ignore[union-attr]
    if kind == "rate_burst":
        from edgepilot.daemon.streams.integrity import rate_window_s

        return ts + lat + rate_window_s(cfg)
    return ts + lat


def expected_daemon_faults(spec: Fault, profile: Profile) -> list[str]:
    if spec.expect.daemon_faults is not None:
        return list(spec.expect.daemon_faults)
    if not expects_stop(spec, profile):
        return []
    kind = spec.kind
    fixed = {"sigstop": ["loop_stall"], "sigkill": ["supervisor:daemon_gone"], "inference_error": ["inference_error"],
             "nan_action": ["nonfinite_action"], "loop_stall": ["loop_stall"], "clock_jump": ["stamp:*"]}
    if kind in fixed:
        return fixed[kind]
    s = daemon_stream(profile, spec.target)
    name = s[0] if s else "?"
    per_stream = {"stop": "stale", "malformed": "stale", "delay_spike": "stale", "freeze": "frozen", "nan": "nonfinite",
                  "inf": "nonfinite", "out_of_range": "out_of_range", "stale_stamps": "stamp", "rate_burst": "rate"}
    return [f"{per_stream[kind]}:{name}"]


def _zero(v: float, w: float) -> bool:
    return v == 0.0 and w == 0.0


def _evaluate_fault(w: FaultWindow, rec: RunRecord, model: SensorModel, next_start: float) -> FaultResult:
    spec = w.spec
    profile = rec.profile
    p = 1.0 / profile.loop.rate_hz
    cmds = rec.commands
    stop = expects_stop(spec, profile)
    s = daemon_stream(profile, spec.target)
    r = FaultResult(w.index, spec.kind, spec.title(), s[0] if s else spec.target, round(w.start, 4), round(w.end, 4), stop,
                    planned_s=spec.at_s)
    checks = r.checks

    before = [c for c in cmds if c[0] < w.start]
    driving = bool(before) and not _zero(before[-1][1], before[-1][2]) and w.start - before[-1][0] <= 3 * p
    checks.append(Check("driving_at_start", driving, "" if driving else
                        "the robot was not being driven when the fault began (previous fault not recovered?): "
                        "nothing to measure"))
    if not driving:
        return r
    resume_allow_s = None
    if spec.kind != "sigkill":
        ticks = spec.expect.resume_within_ticks
        if ticks is None:
            ticks = profile.watchdog.recovery_ticks + math.ceil(clearing_s(spec, profile, model) / p) + RESUME_SLACK_TICKS
        resume_allow_s = ticks * p
        r.resume_bound_ms = round(resume_allow_s * 1e3, 1)
    window_end = rec.duration if spec.kind == "sigkill" else min(w.end + (resume_allow_s or 0.0), next_start)
    raised = [(t, f) for t, what, f in rec.daemon_events if what == "raised" and w.start <= t <= window_end]
    r.daemon_faults = sorted({f for _, f in raised})

    if not stop:
        quiet_end = w.end + 2 * p
        zeros = [c for c in cmds if w.start <= c[0] <= quiet_end and _zero(c[1], c[2])]
        r.zeros_in_window = len(zeros)
        checks.append(Check("no_stop", not zeros, "" if not zeros else
                            f"{len(zeros)} zero commands, first {1e3 * (zeros[0][0] - w.start):.1f} ms after the start"))
        early = [f for t, f in raised if t <= quiet_end]
        checks.append(Check("no_daemon_fault", not early, "" if not early else f"daemon raised {sorted(set(early))}"))
        return r

    bound = stop_bound_s(spec, profile, model)
    r.bound_ms = round(bound * 1e3, 1) if math.isfinite(bound) else None
    after = [c for c in cmds if c[0] >= w.start]
    first_zero = next((c[0] for c in after if _zero(c[1], c[2])), None)
    if first_zero is None or first_zero > window_end:
        checks.append(Check("stopped", False, "no zero command while the fault lasted"))
    else:
        ref = w.start
        if spec.kind == "loop_stall":
            # The stall begins inside the daemon at its next inference; it shows as the first tick that never came.
            last = [c[0] for c in cmds if c[0] < first_zero]
            if last:
                ref = max(ref, last[-1] + p)
        detect = first_zero - ref
        r.detect_ms = round(detect * 1e3, 2)
        r.detected_at_s = round(first_zero, 4)
        checks.append(Check("stopped", True))
        ok = detect <= bound
        checks.append(Check("stop_within", ok, f"{detect * 1e3:.1f} ms (bound {bound * 1e3:.1f} ms)"))
        if spec.expect.no_nonzero_after_detection:
            end = rec.duration if spec.kind == "sigkill" else w.end
            nz = [c for c in cmds if first_zero < c[0] <= end and not _zero(c[1], c[2])]
            r.nonzero_after_detection = len(nz)
            checks.append(Check("no_nonzero_after_detection", not nz, "" if not nz else
                                f"{len(nz)} non-zero commands, first at +{1e3 * (nz[0][0] - first_zero):.1f} ms"))
    for pattern in expected_daemon_faults(spec, profile):
        if rec.external_daemon and pattern.startswith("supervisor:"):
            continue
        hit = any(fnmatch.fnmatchcase(f, pattern) for f in r.daemon_faults)
        checks.append(Check(f"daemon_fault {pattern}", hit, "" if hit else f"daemon raised {r.daemon_faults or 'nothing'}"))
    if spec.kind != "sigkill" and resume_allow_s is not None:
        resumed = next((c[0] for c in cmds if c[0] > w.end and not _zero(c[1], c[2])), None)
        if resumed is None or resumed > next_start:
            checks.append(Check("resumed", False, "commands did not resume after the fault ended"))
        else:
            rec_s = resumed - w.end
            r.recovery_ms = round(rec_s * 1e3, 1)
            r.resumed_at_s = round(resumed, 4)
            # recovery_ticks healthy ticks; in time at least recovery_ticks - 2 periods, because the first tick
            # after a stall runs at once on its back-dated deadline (FixedRateLoop skips, never bunches, the rest).
            hold = (profile.watchdog.recovery_ticks - 2) * p - 1e-3
            checks.append(Check("resume_within", rec_s <= resume_allow_s,
                                f"{rec_s * 1e3:.0f} ms (bound {resume_allow_s * 1e3:.0f} ms)"))
            checks.append(Check("recovery_hold", rec_s >= hold,
                                f"{rec_s * 1e3:.0f} ms; the watchdog must hold zero for recovery_ticks "
                                f"({profile.watchdog.recovery_ticks}) healthy ticks"))
    return r


def evaluate(rec: RunRecord) -> ScenarioResult:
    sc = rec.scenario
    model = sc.resolved_sensor_model()
    result = ScenarioResult(sc.name, sc.description, rec.duration, [], [], rec.error)
    if rec.error:
        return result
    starts = [w.start for w in rec.windows] + [rec.duration]
    for i, w in enumerate(rec.windows):
        result.faults.append(_evaluate_fault(w, rec, model, starts[i + 1]))
    p = 1.0 / rec.profile.loop.rate_hz
    # Where zero commands and daemon faults are expected: stopping faults, from start to resume (or allowance).
    zones: list[tuple[float, float]] = []
    for w, fr in zip(rec.windows, result.faults):
        if not fr.expect_stop:
            continue
        if w.spec.kind == "sigkill":
            zones.append((w.start, math.inf))
        elif fr.resumed_at_s is not None:
            zones.append((w.start, fr.resumed_at_s))
        else:
            zones.append((w.start, w.end + (fr.resume_bound_ms or 0.0) / 1e3))

    # A host pause longer than the stall timeout is a real stall for the daemon, which stops and then holds zero for
    # recovery_ticks; the stop and that hold are the host's doing, so they are not counted as false (and said).
    hold_s = (rec.profile.watchdog.recovery_ticks + 2) * p
    excused = [(a, b + hold_s) for a, b in rec.host_pauses + rec.rig_gaps]

    def outside(t: float) -> bool:
        return 0.0 <= t <= rec.duration and not any(a <= t <= b + p for a, b in zones + excused)

    ex = sc.expect
    checks = result.checks
    if rec.host_pauses:
        longest = max(b - a for a, b in rec.host_pauses)
        checks.append(Check("host_pauses", True, f"{len(rec.host_pauses)} pause(s) by the host (steal time), longest "
                            f"{longest * 1e3:.0f} ms, at t={', '.join(f'{a:.3f}' for a, _ in rec.host_pauses[:5])} s: "
                            "stops within them and their recovery hold not counted as false"))
    if rec.rig_gaps:
        longest = max(b - a for a, b in rec.rig_gaps)
        checks.append(Check("rig_gaps", True, f"{len(rec.rig_gaps)} gap(s) in the simulated robot's publishing, "
                            f"longest {longest * 1e3:.0f} ms, at t={', '.join(f'{a:.3f}' for a, _ in rec.rig_gaps[:5])} "
                            "s: its sensors were late, so stops within them and their recovery hold are not false"))
    if ex.no_false_stop:
        false = [c for c in rec.commands if outside(c[0]) and _zero(c[1], c[2])]
        checks.append(Check("no_false_stop", not false, "" if not false else
                            f"{len(false)} zero commands outside fault windows, first at t={false[0][0]:.3f} s"))
    if ex.no_unexpected_faults:
        unexpected = [(t, f) for t, what, f in rec.daemon_events if what == "raised" and outside(t)]
        checks.append(Check("no_unexpected_faults", not unexpected, "" if not unexpected else
                            f"daemon raised {[f'{f}@{t:.3f}s' for t, f in unexpected[:5]]}"))
    if ex.goal_reached is not None:
        got = bool(rec.robot.get("goal_reached"))
        checks.append(Check("goal_reached", got == ex.goal_reached,
                            f"final distance {rec.robot.get('final_distance_m')} m"))
    if ex.daemon_exit_ok and not rec.killed and not rec.external_daemon:
        checks.append(Check("daemon_exit_ok", rec.daemon_rc == 0, f"exit status {rec.daemon_rc}"))
    if ex.counters:
        streams = (rec.summary or {}).get("streams", {})
        for key, spec in ex.counters.items():
            rig_stream, counter = key.split(".")
            s = daemon_stream(rec.profile, rig_stream) if rig_stream in RIG_TOPICS else None
            got = streams.get(s[0] if s else rig_stream, {}).get(counter)
            if got is None:
                checks.append(Check(f"counter {key}", False, "not in the daemon's summary (limit not configured, "
                                    "or no summary: the daemon was killed or is external)"))
                continue
            problems = []
            if spec.min is not None and got < spec.min:
                problems.append(f"< min {spec.min}")
            if spec.max is not None and got > spec.max:
                problems.append(f"> max {spec.max}")
            if spec.min_fraction_of_injected is not None:
                injected = rec.injected.get(key, 0)
                if injected == 0 or got < spec.min_fraction_of_injected * injected:
                    problems.append(f"< {spec.min_fraction_of_injected:g} x injected {injected}")
            checks.append(Check(f"counter {key}", not problems, f"{got} (injected {rec.injected.get(key, '-')})"
                                + (": " + ", ".join(problems) if problems else "")))
    return result
