"""Pieces every configuration model shares: strict models, finite numbers, the affine-and-clip term fields."""

from __future__ import annotations

import math

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    # Unknown keys are almost always typos (``max_age`` for ``max_age_s``); on a
    # robot a silently ignored limit is a limit that is not enforced.
    # NaN/Inf in any float field is refused for every model: a NaN scale or an infinite limit passes every
    # comparison-based clamp and reaches the actuators (issue 21: limit .inf published linear.x ~ 1e6 m/s).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def require_finite(v: float) -> float:
    """Validator body: reject NaN and Inf with a message naming the value."""
    if not math.isfinite(v):
        raise ValueError(f"{v} is not a finite number")
    return v


#: A finite number within +-1e6: any physical quantity a profile gives (m, rad, gains, scales) fits, and a
#: typo such as 1e300 is refused at load instead of overflowing the observation or command arithmetic.
Bounded = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class ScaledTermBase(StrictModel):
    """An observation term's ``clip((raw + offset) * scale)``."""

    scale: Bounded = Field(default=1.0, description="Multiplier applied after the offset.")
    offset: Bounded = Field(default=0.0, description="Added to the raw value before scaling.")
    clip: tuple[Bounded, Bounded] | None = Field(default=None, description="[low, high] applied after scaling.")

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
