"""The profile's sim-to-real section ``residuals``: where residual logs go and which sim model predicts.

The schema is the daemon's (the profile belongs to it); what the section means is edgepilot.calibration's, whose
load-time checks of it and of ``compensation`` reach load_profile through :mod:`.section_checks`, so the daemon
never imports calibration. Only pydantic here: the profile loader imports this module.

Example (in a robot profile)::

    residuals:
      directory: residual_logs          # relative to the profile's folder
      model: {kind: ideal_diff_drive, max_wheel_accel_radps2: 75}
      max_file_mb: 64
      max_file_age_s: 600
      max_total_mb: 1024
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["IdealActuatorConfig", "IdealDiffDriveConfig", "OnnxSimModelConfig", "ResidualsConfig", "SimModelConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # as the profile's models


class IdealDiffDriveConfig(_Strict):
    """``kind: ideal_diff_drive``. Geometry defaults to the profile's odometry section."""

    kind: Literal["ideal_diff_drive"]
    wheel_radius_m: float | None = Field(default=None, gt=0, le=5, description="Nominal wheel radius, m (default: odometry's).")
    wheel_separation_m: float | None = Field(default=None, gt=0, le=20, description="Nominal track width, m (default: odometry's).")
    left_joint: str | None = None
    right_joint: str | None = None
    imu_stream: str | None = None
    latency_s: float = Field(default=0.0, ge=0, le=1.0, description="Dead time between command and wheel response, s.")
    time_constant_s: float = Field(default=0.0, ge=0, le=10, description="Wheel speed first-order lag, s (0: none).")
    max_wheel_accel_radps2: float = Field(default=0.0, ge=0, description="Wheel acceleration limit, rad/s^2 (0: none).")


class IdealActuatorConfig(_Strict):
    """``kind: ideal_actuator``: joints tracking position targets with a first-order lag."""

    kind: Literal["ideal_actuator"]
    joints: tuple[str, ...] = Field(min_length=1)
    targets: tuple[str, ...] = Field(min_length=1, description="Record fields holding each joint's target, in joint order.")
    time_constant_s: float = Field(ge=0, le=10)
    latency_s: float = Field(default=0.0, ge=0, le=1.0)

    @model_validator(mode="after")
    def _same_length(self) -> "IdealActuatorConfig":
        if len(self.joints) != len(self.targets):
            raise ValueError(f"{len(self.joints)} joints but {len(self.targets)} targets: give one target field per joint")
        return self


class OnnxSimModelConfig(_Strict):
    """``kind: onnx``: a forward model exported from the simulator."""

    kind: Literal["onnx"]
    path: str = Field(description="ONNX file; relative paths are resolved against the profile's folder.")
    inputs: dict[str, list[str]] = Field(min_length=1, description="Model input name -> fields that fill it, in order.")
    outputs: dict[str, list[str]] = Field(min_length=1, description="Model output name -> fields it predicts, in order.")


SimModelConfig = Annotated[Union[IdealDiffDriveConfig, IdealActuatorConfig, OnnxSimModelConfig], Field(discriminator="kind")]


class ResidualsConfig(_Strict):
    """Residual logging: one record per control tick handed to a logger thread, written as rotating MCAP files."""

    directory: str = Field(description="Where the MCAP files go; relative paths are resolved against the profile's folder.")
    model: SimModelConfig
    queue_depth: int = Field(default=1024, ge=16, le=1_000_000,
                             description="Records buffered between the loop and the logger; older ones are lost (counted) if it falls behind.")
    max_file_mb: float = Field(default=64.0, gt=0, description="Start a new file past this size, MiB.")
    max_file_age_s: float = Field(default=600.0, gt=0, description="Start a new file after this long, s.")
    max_total_mb: float = Field(default=1024.0, gt=0, description="Delete the oldest files past this total, MiB.")
    chunk_kb: int = Field(default=64, ge=1, le=65536, description="MCAP chunk size, KiB: at most this much is lost on a kill.")
    flush_period_s: float = Field(default=1.0, gt=0, le=60, description="Close the chunk and flush to the OS this often, s.")
    fsync_period_s: float = Field(default=5.0, gt=0, le=600, description="fsync this often, s (power loss loses at most this).")
    topic_prefix: str = Field(default="/edgepilot", pattern=r"^(/[A-Za-z][A-Za-z0-9_]*)+$")
    stats_period_s: float = Field(default=1.0, gt=0, le=60, description="How often the diagnostics snapshot is refreshed, s.")

    @model_validator(mode="after")
    def _file_fits_cap(self) -> "ResidualsConfig":
        if self.max_file_mb > self.max_total_mb:
            raise ValueError(f"max_file_mb={self.max_file_mb} is larger than max_total_mb={self.max_total_mb}: "
                             "one file could exceed the cap; make max_total_mb at least twice max_file_mb")
        return self

