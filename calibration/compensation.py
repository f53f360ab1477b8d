"""The compensation file (what ``edgepilot calibrate fit`` writes) and the object the control loop applies each tick.

What is corrected where, and why there:

* **Sensor biases** (``observation``): subtracted from the raw stream value
  in the tick's snapshot, right after the snapshot is taken and before
  anything reads it. A gyro bias is a property of the sensor, so it belongs
  on the IMU reading itself: the odometry integrates the corrected yaw rate
  (a biased one makes the heading, and so the goal-relative observation,
  drift) and the observation's ``imu_angular_velocity`` term sees the same
  corrected value. Correcting the observation terms instead would leave the
  odometry drifting.
* **Wheel radius** (``odometry.wheel_radius_scale``): multiplies the
  profile's ``odometry.wheel_radius_m``; the encoders count wheel turns, the
  radius turns them into distance.
* **Action bias** (``action``): the robot achieves ``command + bias``, so
  the daemon sends ``clip(command - bias, -limit, limit)`` on each listed
  Twist field, with the channel's limit from the profile. A command that is
  exactly zero in every field (the watchdog's stop, or a policy asking for
  nothing) is sent unchanged: the stop must stay a stop.
* **Latency** (``latency_s``) is measured and reported (and exported for
  domain randomisation) but not compensated: predicting ahead would need a
  model of the robot in the loop.
* **Noise injection** (``noise_injection``): off unless ``enabled: true``;
  then white noise with the measured ``noise_std`` (times ``scale``) is
  added to those sensor fields, from a table drawn once at load.

The loop reads one reference (:attr:`CalibrationHooks.compensator
<edgepilot.calibration.loop_hooks.CalibrationHooks>`) per tick; a reload
builds a whole new :class:`Compensator`, with its own preallocated arrays,
off the loop thread and swaps the reference in one assignment.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from edgepilot.daemon.config.profile import Profile, ProfileError
from edgepilot.daemon.config.base import StrictModel, require_finite

from .fields import FieldError, resolve_stream_field

TwistField = Literal["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]
TWIST_INDEX = {"linear.x": 0, "linear.y": 1, "linear.z": 2, "angular.x": 3, "angular.y": 4, "angular.z": 5}
NOISE_TABLE_ROWS = 4096


class CompensationError(ProfileError):
    """A compensation file that cannot be used; the message names the field and the fix."""


class SensorBias(StrictModel):
    """A constant offset on one sensor field, in the field's unit; the daemon subtracts it from the raw value."""

    field: str = Field(description="Sensor field, e.g. imu.angular_velocity.z or joint.left_wheel_joint.velocity.")
    bias: float
    stderr: float | None = Field(default=None, ge=0, description="Standard error of the fitted bias (informational).")

    @field_validator("bias")
    @classmethod
    def _bias_finite(cls, v: float) -> float:
        return require_finite(v)


class ActionBias(StrictModel):
    """The robot achieves ``command + bias`` on this Twist field (m/s or rad/s); the daemon sends ``command - bias``."""

    field: TwistField
    bias: float
    stderr: float | None = Field(default=None, ge=0)

    @field_validator("bias")
    @classmethod
    def _bias_finite(cls, v: float) -> float:
        return require_finite(v)


class OdometryCorrection(StrictModel):
    wheel_radius_scale: float = Field(default=1.0, gt=0.5, lt=2.0, description="True radius / profile radius.")
    stderr: float | None = Field(default=None, ge=0)


class NoiseInjection(StrictModel):
    """Deliberate sensor noise at deployment (robustness tests). Off unless ``enabled``."""

    enabled: bool = False
    scale: float = Field(default=1.0, ge=0, le=100, description="Multiplier on the measured noise_std.")
    seed: int = Field(default=0, ge=0)


class CompensationFile(StrictModel):
    """``compensation.yaml``. Units: each field's own (rad/s, m/s, m/s^2, rad); seconds for latency."""

    version: Literal[1] = 1
    profile: str = Field(description="Name of the robot profile the logs came from.")
    observation: tuple[SensorBias, ...] = Field(default=(), description="Sensor biases removed before odometry and the policy.")
    action: tuple[ActionBias, ...] = Field(default=(), description="Command offsets compensated after the policy.")
    odometry: OdometryCorrection | None = None
    latency_s: float | None = Field(default=None, ge=0, le=5, description="Measured command-to-response latency (not compensated).")
    noise_std: dict[str, float] = Field(default_factory=dict, description="Measured residual noise per field (1 sigma).")
    noise_injection: NoiseInjection = NoiseInjection()
    fit: dict[str, Any] = Field(default_factory=dict, description="Provenance and before/after figures (informational).")

    @model_validator(mode="after")
    def _unique(self) -> "CompensationFile":
        for section, items in (("observation", self.observation), ("action", self.action)):
            names = [i.field for i in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{section} lists {dup} more than once; keep one entry per field")
        for k, v in self.noise_std.items():
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"noise_std.{k}={v} must be a finite number >= 0")
        return self


def parse_compensation(data: object, source: str = "<data>") -> CompensationFile:
    if not isinstance(data, dict):
        raise CompensationError(f"invalid compensation file {source}: the top level must be a mapping")
    try:
        return CompensationFile.model_validate(data)
    except ValidationError as err:
        lines = [f"invalid compensation file {source}:"]
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown field; check its spelling (see edgepilot/calibration/compensation.py)"
            lines.append(f"  {loc}: {msg}")
        raise CompensationError("\n".join(lines)) from None


def check_against_profile(comp: CompensationFile, profile: Profile, source: str) -> None:
    """Every field the file corrects must exist in the profile; raises CompensationError naming the entry."""
    for i, s in enumerate(comp.observation):
        try:
            resolve_stream_field(profile, s.field)
        except FieldError as err:
            raise CompensationError(f"invalid compensation file {source}:\n  observation[{i}].field: {err}") from None
    mapped = {c.field: c for c in profile.action.channels}
    for i, a in enumerate(comp.action):
        if a.field not in mapped:
            raise CompensationError(f"invalid compensation file {source}:\n  action[{i}].field: {a.field!r} is not driven by "
                                    f"the profile's action channels {sorted(mapped)}; remove the entry or map the field")
    if comp.odometry is not None and comp.odometry.wheel_radius_scale != 1.0 and profile.odometry is None:
        raise CompensationError(f"invalid compensation file {source}:\n  odometry: the profile has no odometry section to correct")
    if comp.noise_injection.enabled:
        for k in comp.noise_std:
            try:
                resolve_stream_field(profile, k)
            except FieldError as err:
                raise CompensationError(f"invalid compensation file {source}:\n  noise_std.{k}: noise can only be "
                                        f"injected on sensor fields: {err}") from None
    if comp.profile != profile.name:
        # Not an error: one robot type may run under several profile names. The fields were checked above.
        pass


def load_compensation(path: str | Path, profile: Profile) -> CompensationFile:
    """Read, validate and check a compensation file against ``profile``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise CompensationError(f"cannot read compensation file {path}: {err.strerror}; "
                                "check the profile's 'compensation' path (relative paths are from the profile's folder)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CompensationError(f"compensation file {path} is not valid YAML: {err}") from None
    comp = parse_compensation(data, str(path))
    check_against_profile(comp, profile, str(path))
    return comp


def compensation_path(profile: Profile) -> Path | None:
    """The profile's compensation file, resolved against the profile's folder; None if the profile names none."""
    p = getattr(profile, "compensation", None)
    if not p:
        return None
    p = Path(p)
    return p if p.is_absolute() else profile.base_dir / p


def write_compensation(path: str | Path, comp: CompensationFile, header: str = "") -> None:
    """Write atomically (temporary file, fsync, rename)."""
    path = Path(path)
    data = comp.model_dump(mode="json", exclude_none=True)
    text = (header + "\n" if header else "") + yaml.safe_dump(data, sort_keys=False)
    from edgepilot.common.atomic_file import write_text_atomic

    write_text_atomic(path, text)


# --------------------------------------------------------------------------- applied in the loop


class Compensator:
    """One compensation, bound to the daemon's snapshot arrays; immutable once built.

    :meth:`apply_streams` runs right after the snapshots are refreshed;
    :meth:`apply_action` right after the action mapper. Neither allocates
    arrays nor takes locks. ``Compensator(None, ...)`` is the identity.
    """

    def __init__(self, comp: CompensationFile | None, profile: Profile, snapshots: Mapping[str, Any],
                 odometry: Any = None, source: str = "") -> None:
        self.source = source
        self.file = comp
        fixes: list[tuple[np.ndarray, int, float]] = []
        self._odometry = odometry
        self.wheel_radius_m = profile.odometry.wheel_radius_m if profile.odometry is not None else 0.0
        self._out = np.zeros(6)
        actions: list[tuple[int, float, float]] = []
        noise: list[tuple[np.ndarray, int]] = []
        noise_std: list[float] = []
        if comp is not None:
            for s in comp.observation:
                f = resolve_stream_field(profile, s.field)
                fixes.append((snapshots[f.stream].sample.reshape(-1), f.flat_index, float(s.bias)))
            limits = {c.field: c.limit for c in profile.action.channels}
            for a in comp.action:
                actions.append((TWIST_INDEX[a.field], float(a.bias), float(limits[a.field])))
            if comp.odometry is not None and profile.odometry is not None:
                self.wheel_radius_m = profile.odometry.wheel_radius_m * comp.odometry.wheel_radius_scale
            if comp.noise_injection.enabled:
                for k, std in sorted(comp.noise_std.items()):
                    f = resolve_stream_field(profile, k)
                    noise.append((snapshots[f.stream].sample.reshape(-1), f.flat_index))
                    noise_std.append(std * comp.noise_injection.scale)
        self._fixes = tuple(fixes)
        self._actions = tuple(actions)
        self._noise = tuple(noise)
        self._noise_table = (np.random.default_rng(comp.noise_injection.seed).standard_normal((NOISE_TABLE_ROWS, len(noise)))
                             * np.array(noise_std)) if noise else np.zeros((1, 0))
        self._noise_row = 0
        self.is_identity = not fixes and not actions and not noise and (
            profile.odometry is None or self.wheel_radius_m == profile.odometry.wheel_radius_m)

    def apply_streams(self) -> None:
        """Remove sensor biases (and add injected noise) in the tick's snapshot samples; set the odometry radius."""
        for flat, i, bias in self._fixes:
            flat[i] = flat.item(i) - bias
        if self._noise:
            row = self._noise_row
            table = self._noise_table
            for j, (flat, i) in enumerate(self._noise):
                flat[i] = flat.item(i) + table.item(row, j)
            self._noise_row = (row + 1) % NOISE_TABLE_ROWS
        if self._odometry is not None:
            self._odometry.wheel_radius_m = self.wheel_radius_m

    def apply_action(self, command: np.ndarray) -> np.ndarray:
        """The command to send for ``command`` (Twist order vx vy vz wx wy wz); the same array if nothing applies."""
        if not self._actions or not command.any():
            return command
        out = self._out
        np.copyto(out, command)
        for i, bias, limit in self._actions:
            v = out.item(i) - bias
            out[i] = -limit if v < -limit else (limit if v > limit else v)
        return out

    def describe(self) -> dict[str, Any]:
        c = self.file
        if c is None:
            return {"active": False}
        return {
            "active": True,
            "source": self.source,
            "observation": {s.field: s.bias for s in c.observation},
            "action": {a.field: a.bias for a in c.action},
            "wheel_radius_m": self.wheel_radius_m,
            "latency_s": c.latency_s,
            "noise_injection": c.noise_injection.enabled,
        }
