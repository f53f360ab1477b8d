"""Pieces every configuration model shares: strict models, finite numbers, the affine-and-clip term fields (scalar or per element)."""

from __future__ import annotations

import math

from typing import Annotated, Any, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, TypeAdapter, field_validator


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


#: One number per value a term produces per tick (``scale: [2.0, 2.0, 0.25]``); its length is checked against the
#: term at load (``ScaledTermBase.check_elementwise``), once the profile says how many values that is.
BoundedVector = Annotated[tuple[Bounded, ...], Field(min_length=1)]
#: ``[low, high]``: one pair for every value of the term.
ClipPair = tuple[Bounded, Bounded]
#: ``[[low0, high0], [low1, high1], ...]``: one pair per value the term produces per tick.
ClipPairs = Annotated[tuple[ClipPair, ...], Field(min_length=1)]

_NUMBER, _VECTOR = TypeAdapter(Bounded), TypeAdapter(BoundedVector)
_PAIR, _PAIRS = TypeAdapter(ClipPair), TypeAdapter(ClipPairs)


def _number_or_vector(v: Any) -> Any:
    # One branch by the input's shape, not a pydantic union: a union's errors carry its branch names in their
    # location (scale.constrained-float: ...), and the user wrote ``scale``.
    return _VECTOR.validate_python(v) if isinstance(v, (list, tuple)) else _NUMBER.validate_python(v)


def _pair_or_pairs(v: Any) -> Any:
    nested = isinstance(v, (list, tuple)) and bool(v) and isinstance(v[0], (list, tuple))
    return _PAIRS.validate_python(v) if nested else _PAIR.validate_python(v)


def _as_is(v: Any) -> Any:
    return v  # dumped by its value's own type (the union's serializer would warn on the branch it did not pick)


#: A number, or a list of numbers (one per value per tick).
NumberOrVector = Annotated[Union[Bounded, BoundedVector], PlainValidator(_number_or_vector), PlainSerializer(_as_is)]
#: ``[low, high]``, or a list of ``[low, high]`` (one per value per tick).
ClipSpec = Annotated[Union[ClipPair, ClipPairs], PlainValidator(_pair_or_pairs), PlainSerializer(_as_is)]


class ScaledTermBase(StrictModel):
    """An observation term's ``clip((raw + offset) * scale)``, element by element.

    ``scale`` and ``offset`` are one number for every value or a list of one number per value the term produces
    per tick (in the term's own order: its ``fields``, ``joints``, ``axes``); ``clip`` is ``[low, high]`` or a
    list of one ``[low, high]`` per value. A term with history repeats the per-tick lists over every history
    slot. The lists' lengths are checked at load by :meth:`check_elementwise` (the count depends on the
    profile: a joint term's ``joints`` default to ``action.joints``).
    """

    scale: NumberOrVector = Field(
        default=1.0, description="Multiplier applied after the offset: one number, or one per value per tick.")
    offset: NumberOrVector = Field(
        default=0.0, description="Added to the raw value before scaling: one number, or one per value per tick.")
    clip: ClipSpec | None = Field(
        default=None, description="[low, high] applied after scaling, or one [low, high] per value per tick.")

    @field_validator("clip")
    @classmethod
    def _clip_ordered(cls, v: Any) -> Any:
        for i, (lo, hi) in enumerate(clip_pairs(v)):
            if not lo < hi:
                which = "" if is_single_pair(v) else f"[{i}]"
                raise ValueError(f"clip{which} {[lo, hi]} must be [low, high] with low < high")
        return v

    @field_validator("scale", "offset")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        for x in (v if isinstance(v, tuple) else (v,)):
            require_finite(x)
        return v

    def check_elementwise(self, values_per_tick: int, where: str, values: str) -> None:
        """Raise ValueError if a per-element ``scale``, ``offset`` or ``clip`` is not ``values_per_tick`` long.

        ``where`` names the term (``observation.terms[2] (velocity_command)``); ``values`` says what its values
        per tick are (``fields ['linear.x', 'angular.z']``), for the message.
        """
        for name in ("scale", "offset", "clip"):
            v = getattr(self, name)
            if v is None or not isinstance(v, tuple) or (name == "clip" and is_single_pair(v)):
                continue
            if len(v) != values_per_tick:
                what = "[low, high] pairs" if name == "clip" else "numbers"
                one = "[low, high]" if name == "clip" else "one number"
                raise ValueError(f"{where}.{name} has {len(v)} {what}, expected {values_per_tick}: one per value the "
                                 f"term produces per tick ({values}); give {one} for all of them, or "
                                 f"{values_per_tick}")

    def elementwise(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(offset, scale, low, high) as float64 arrays of ``n`` values (one tick of the term), unclipped as -inf/inf."""
        offset, scale = np.empty(n), np.empty(n)
        offset[:] = self.offset  # a number fills all n, a list (checked to be n long) one each
        scale[:] = self.scale
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        if self.clip is not None:
            pairs = np.array(clip_pairs(self.clip), dtype=np.float64)
            lo[:], hi[:] = pairs[:, 0], pairs[:, 1]
        return offset, scale, lo, hi


def is_single_pair(clip: Any) -> bool:
    """True for ``[low, high]``, False for ``[[low, high], ...]``."""
    return clip is not None and len(clip) == 2 and not isinstance(clip[0], tuple)


def clip_pairs(clip: Any) -> tuple[tuple[float, float], ...]:
    """The clip as a tuple of pairs (one pair for a single ``[low, high]``, none without a clip)."""
    if clip is None:
        return ()
    return (clip,) if is_single_pair(clip) else tuple(clip)
