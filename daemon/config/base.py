"""Pieces every configuration model shares: strict models, finite numbers, the affine-and-clip term fields."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    # Unknown keys are almost always typos (``max_age`` for ``max_age_s``); on a
    # robot a silently ignored limit is a limit that is not enforced.
    # No field of a profile means anything at NaN or infinity: ``limit: .inf`` let a large scale publish ~1e6 m/s,
    # and a NaN scale or goal ran forever. Refused for every float of every model, nested ones included.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def require_finite(v: float) -> float:
    """Validator body: reject NaN and Inf with a message naming the value."""
    if not math.isfinite(v):
        raise ValueError(f"{v} is not a finite number")
    return v


class ScaledTermBase(StrictModel):
    """An observation term's ``clip((raw + offset) * scale)``."""

    scale: float = Field(default=1.0, description="Multiplier applied after the offset.")
    offset: float = Field(default=0.0, description="Added to the raw value before scaling.")
    clip: tuple[float, float] | None = Field(default=None, description="[low, high] applied after scaling.")

    @field_validator("clip")
    @classmethod
    def _clip_ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"clip {list(v)} must be [low, high] with low < high")
        return v

    @field_validator("scale", "offset")
    @classmethod
    def _finite(cls, v: float) -> float:
        return require_finite(v)
