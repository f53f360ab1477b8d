"""Rig scenarios: a timeline of faults and the expectations the daemon must meet, in YAML.

Validated by pydantic once, at load; a bad field is named with its value and
the fix, like the robot profile. Example::

    name: imu_stops
    description: The IMU driver dies for half a second.
    duration_s: 4            # after the robot first drives (its first non-zero command)
    faults:
      - {at_s: 1.0, duration_s: 0.5, kind: stop, stream: imu, expect: {stop_within_ms: 60}}
    expect:
      no_false_stop: true

Times are seconds after *t0*, the receipt of the daemon's first non-zero
command, so a scenario reads the same however long the daemon takes to
start. Faults must not overlap, and each must end before ``duration_s``.
Every expectation left out is derived from the fault's kind and the
daemon's profile (see :mod:`edgepilot.hil.measure`): a stopping fault must
zero the command within the stream's limit plus two loop periods, publish
nothing non-zero after that while it lasts, and let commands resume once it
clears.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .faults import DEFAULT_VALUE_FIELD
from .sensor_messages import MALFORMED_MODES
from .sensor_models import SensorModel

StreamName = Literal["joint_states", "imu", "camera"]

#: Every fault class the rig can inject; the fault matrix has a row per class.
FAULT_CLASSES = ("stop", "freeze", "stale_stamps", "nan", "inf", "out_of_range", "reorder", "duplicate", "malformed",
                 "delay_spike", "clock_jump", "rate_burst", "sigstop", "sigkill", "inference_error", "nan_action",
                 "loop_stall")
#: Faults of the daemon's process, sent as signals: only possible when the rig started the daemon itself.
PROCESS_FAULTS = ("sigstop", "sigkill")
#: Faults inside the daemon, sent on /edgepilot/fault_injection (needs ``--enable-fault-injection``).
DAEMON_HOOK_FAULTS = ("inference_error", "nan_action", "loop_stall")


class ScenarioError(ValueError):
    """A scenario that cannot be run. The message names the field, the value and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultExpect(_Strict):
    """What the daemon must do about one fault. Anything left out is derived (see :mod:`edgepilot.hil.measure`)."""

    stop: bool | None = Field(default=None, description="True: zero command expected; False: the fault must be counted "
                              "and dropped with no stop. Default: from the kind.")
    stop_within_ms: float | None = Field(default=None, gt=0, description="Fault start to first zero command, ms. "
                                         "Default: the stream's limit + 2 loop periods (+ 1 sensor period).")
    no_nonzero_after_detection: bool = Field(default=True, description="No non-zero command from the first zero to the "
                                             "fault's end.")
    resume_within_ticks: int | None = Field(default=None, ge=1, description="Fault end to first non-zero command, "
                                            "loop ticks. Default: recovery_ticks + the fault's clearing time + 5.")
    daemon_faults: list[str] | None = Field(default=None, description="Daemon fault names (fnmatch patterns) that must "
                                            "be raised during the fault. Default: from the kind.")


class _Fault(_Strict):
    at_s: float = Field(ge=0, le=3600, description="Start, s after t0 (the daemon's first non-zero command).")
    duration_s: float = Field(gt=0, le=600, description="How long the fault lasts, s.")
    label: str = Field(default="", description="Shown in the report and the timeline; default: kind and stream.")
    expect: FaultExpect = FaultExpect()

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    @property
    def target(self) -> str | None:
        return getattr(self, "stream", None)

    def title(self) -> str:
        if self.label:
            return self.label
        t = self.target
        words = [str(self.kind)] + ([t] if t else [])  # type: ignore[attr-defined]
        shown = self.model_dump(exclude={"at_s", "duration_s", "label", "expect", "kind", "stream"}, exclude_defaults=True)
        words += [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()]
        return " ".join(words)

    def params(self) -> dict[str, Any]:
        """The parameters :meth:`SensorFaults.set` takes for this fault."""
        return self.model_dump(exclude={"at_s", "duration_s", "label", "expect", "kind", "stream"})


class StreamFault(_Fault):
    """A stream stops, freezes (same values, fresh stamps), carries NaN/Inf, or is duplicated or reordered."""

    kind: Literal["stop", "freeze", "nan", "inf", "duplicate", "reorder"]
    stream: StreamName

    @model_validator(mode="after")
    def _value_fault_needs_floats(self) -> "StreamFault":
        if self.kind in ("nan", "inf") and self.stream not in DEFAULT_VALUE_FIELD:
            raise ValueError(f"kind={self.kind}: {self.stream} carries uint8 pixels, which cannot be NaN or Inf; "
                             f"use one of {sorted(DEFAULT_VALUE_FIELD)}")
        return self


class OutOfRangeFault(_Fault):
    """One value of ``field`` set to ``value`` (default: 1000 rad/s wheel speed, 100 rad/s yaw rate)."""

    kind: Literal["out_of_range"]
    stream: Literal["joint_states", "imu"]
    field: str | None = Field(default=None, description="joint_states: position|velocity; imu: angular_velocity|"
                              "linear_acceleration. Default: velocity / angular_velocity.")
    value: float | None = Field(default=None, description="The impossible value, in the field's unit.")

    @model_validator(mode="after")
    def _known_field(self) -> "OutOfRangeFault":
        allowed = {"joint_states": ("position", "velocity"), "imu": ("angular_velocity", "linear_acceleration")}[self.stream]
        if self.field is not None and self.field not in allowed:
            raise ValueError(f"field={self.field!r} is not a field of {self.stream}; use one of {list(allowed)}")
        return self


class StaleStampsFault(_Fault):
    """Header stamps ``age_s`` in the past: old data sent as if new."""

    kind: Literal["stale_stamps"]
    stream: StreamName
    age_s: float = Field(gt=0, le=86_400, description="How far in the past the stamps are, s.")


class ClockJumpFault(_Fault):
    """Every stream's header stamps shifted by ``offset_s`` (the sensor host's clock stepped)."""

    kind: Literal["clock_jump"]
    offset_s: float = Field(description="Shift, s; positive jumps ahead.")

    @field_validator("offset_s")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0.0:
            raise ValueError("offset_s=0 is no jump; use e.g. 2.0 (ahead) or -2.0 (back)")
        return v


class MalformedFault(_Fault):
    """One message in ``every`` broken in the way ``mode`` says (see edgepilot.hil.sensor_messages)."""

    kind: Literal["malformed"]
    stream: StreamName
    mode: str
    every: int = Field(default=1, ge=1, le=10_000, description="1: every message; N: one in N.")

    @model_validator(mode="after")
    def _known_mode(self) -> "MalformedFault":
        modes = MALFORMED_MODES[self.stream]
        if self.mode not in modes:
            raise ValueError(f"mode={self.mode!r} is not a way to break {self.stream}; use one of {list(modes)}")
        return self


class DelaySpikeFault(_Fault):
    """Every reading taken during the spike arrives ``delay_s`` late; later ones queue behind them (in order)."""

    kind: Literal["delay_spike"]
    stream: StreamName
    delay_s: float = Field(gt=0, le=60, description="Extra delay, s.")


class RateBurstFault(_Fault):
    """``factor`` messages per reading (a babbling driver)."""

    kind: Literal["rate_burst"]
    stream: StreamName
    factor: int = Field(ge=2, le=100, description="Messages per reading.")


class ProcessFault(_Fault):
    """The daemon's process paused (SIGSTOP, SIGCONT at the end) or killed (SIGKILL; must be the last fault)."""

    kind: Literal["sigstop", "sigkill"]


class DaemonHookFault(_Fault):
    """A fault inside the daemon through its test hook: the engine throws, returns NaN, or the loop stalls
    ``duration_s`` (loop_stall)."""

    kind: Literal["inference_error", "nan_action", "loop_stall"]


Fault = Annotated[Union[StreamFault, OutOfRangeFault, StaleStampsFault, ClockJumpFault, MalformedFault,
                        DelaySpikeFault, RateBurstFault, ProcessFault, DaemonHookFault], Field(discriminator="kind")]


class CounterExpect(_Strict):
    """Bounds on a daemon stream counter at the end of the run (``<stream>.<counter>`` of its summary)."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    min_fraction_of_injected: float | None = Field(
        default=None, gt=0, le=1, description="At least this fraction of what the rig injected under the same key.")


class ScenarioExpect(_Strict):
    goal_reached: bool | None = Field(default=None, description="The robot held the goal by the end.")
    no_false_stop: bool = Field(default=True, description="No zero command from t0 to the end outside the windows "
                                "of faults that stop the robot.")
    no_unexpected_faults: bool = Field(default=True, description="The daemon raised no fault outside those windows.")
    daemon_exit_ok: bool = Field(default=True, description="The daemon exits 0 on SIGTERM at the end (unless killed).")
    counters: dict[str, CounterExpect] = Field(default_factory=dict, description="e.g. imu.duplicates: {min: 20}")

    @field_validator("counters")
    @classmethod
    def _dotted(cls, v: dict[str, CounterExpect]) -> dict[str, CounterExpect]:
        for k in v:
            if k.count(".") != 1:
                raise ValueError(f"counter {k!r} must be <stream>.<counter>, e.g. imu.duplicates")
        return v


class Scenario(_Strict):
    """One rig run: a fresh daemon, the robot, a fault timeline and expectations."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Also the report's file names.")
    description: str = ""
    robot: str = Field(default="diffbot", description="The simulated robot (see edgepilot.hil.robot_registry).")
    duration_s: float = Field(gt=0, le=3600, description="Length of the run after t0, s.")
    goal_xy: tuple[float, float] | None = Field(default=None, description="Goal in the start frame, m, for the robot "
                                                "and the daemon's profile; default: the profile's.")
    seed: int = Field(default=0, description="Seeds the sensor noise and dropout.")
    sensor_model: Literal["ideal", "realistic"] | SensorModel = "realistic"
    profile: str | None = Field(default=None, description="Daemon profile, relative to this file; default: the robot's.")
    profile_overrides: dict[str, Any] = Field(default_factory=dict, description="Merged into the profile (mapping by "
                                              "mapping) before the daemon starts.")
    startup_timeout_s: float = Field(default=30.0, gt=0, le=600, description="Longest wait for t0, s.")
    faults: tuple[Fault, ...] = ()
    expect: ScenarioExpect = ScenarioExpect()
    source: Path | None = Field(default=None, exclude=True, description="Set by load_scenario: the file.")

    @model_validator(mode="after")
    def _timeline(self) -> "Scenario":
        prev_end = None
        prev_title = ""
        for i, f in enumerate(self.faults):
            if f.end_s > self.duration_s + 1e-9:
                raise ValueError(f"faults[{i}] ({f.title()}) ends at {f.end_s:g} s, after duration_s={self.duration_s:g}; "
                                 "lengthen the scenario or move the fault")
            if prev_end is not None and f.at_s < prev_end - 1e-9:
                raise ValueError(f"faults[{i}] ({f.title()}) starts at {f.at_s:g} s, before faults[{i - 1}] "
                                 f"({prev_title}) ends at {prev_end:g} s; faults must not overlap, in time order")
            if prev_end is not None and self.faults[i - 1].kind == "sigkill":  # type: ignore[attr-defined]
                raise ValueError(f"faults[{i}] comes after a sigkill; nothing can follow the daemon's death: make sigkill last")
            prev_end, prev_title = f.end_s, f.title()
        return self

    def resolved_sensor_model(self) -> SensorModel:
        return SensorModel.named(self.sensor_model) if isinstance(self.sensor_model, str) else self.sensor_model

    def shortened(self, cap_s: float) -> "Scenario":
        """This scenario cut to ``cap_s`` (faults after it dropped would change what it tests: refused)."""
        if self.duration_s <= cap_s:
            return self
        late = [f.title() for f in self.faults if f.end_s > cap_s]
        if late:
            raise ScenarioError(f"scenario {self.name}: cannot cap at {cap_s:g} s, faults {late} end later")
        return self.model_copy(update={"duration_s": cap_s})


def format_errors(err: ValidationError, source: str) -> str:
    """A validation error as one line per bad field: where, what is wrong, the value given."""
    lines = [f"invalid scenario {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field; check its spelling against the documented fields"
        elif e["type"] == "union_tag_invalid":
            msg = f"unknown fault kind; use one of {list(FAULT_CLASSES)}"
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {loc}: {msg}{shown}")
    return "\n".join(lines)


def parse_scenario(data: object, source: str = "<data>", path: Path | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"invalid scenario {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate({**data, "source": path})
    except ValidationError as err:
        raise ScenarioError(format_errors(err, source)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate one scenario file; raises ScenarioError naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ScenarioError(f"cannot read scenario {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"scenario {path} is not valid YAML: {err}") from None
    return parse_scenario(data, source=str(path), path=path.resolve())


def load_scenarios(folder: str | Path) -> list[Scenario]:
    """Every ``*.yaml`` in ``folder`` (not recursive), sorted by file name; all validated before any runs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(f"scenario folder {folder} does not exist or is not a folder")
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise ScenarioError(f"no scenarios (*.yaml) in {folder}")
    scenarios = [load_scenario(f) for f in files]
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"scenario names must be unique in {folder} (they name the report files): {dup}")
    return scenarios


def shipped_scenarios_dir() -> Path:
    """The scenarios shipped with edgepilot (the fault matrix)."""
    return Path(__file__).resolve().parent / "scenarios"
