"""Input shapes an engine is built for: one (min, opt, max) triple per input, as TensorRT's optimisation profiles."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, model_validator

Dims = tuple[int, ...]


class ShapeProfileError(ValueError):
    """A shape given on the command line or in a profile that cannot be used; the message names it and the fix."""


class InputShape(BaseModel):
    """The shapes one model input may take at run time (element counts per dimension, no symbolic dims).

    ``min == opt == max`` is a fixed shape; otherwise TensorRT builds one
    optimisation profile covering the range and tunes for ``opt``. The daemon
    and verification run at ``opt``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    min: Dims
    opt: Dims
    max: Dims

    @model_validator(mode="after")
    def _ordered(self) -> "InputShape":
        if not (len(self.min) == len(self.opt) == len(self.max)):
            raise ValueError(f"input {self.name!r}: min {self.min}, opt {self.opt} and max {self.max} must have the same rank")
        for lo, mid, hi in zip(self.min, self.opt, self.max):
            if not (1 <= lo <= mid <= hi):
                raise ValueError(f"input {self.name!r}: need 1 <= min <= opt <= max in every dimension, got "
                                 f"min {self.min}, opt {self.opt}, max {self.max}")
        return self

    @property
    def is_fixed(self) -> bool:
        return self.min == self.opt == self.max

    @classmethod
    def fixed(cls, name: str, shape: Iterable[int]) -> "InputShape":
        s = tuple(int(d) for d in shape)
        return cls(name=name, min=s, opt=s, max=s)


_DIMS = re.compile(r"^\d+(x\d+)*$")


def _parse_dims(text: str, spec: str) -> Dims:
    if not _DIMS.match(text):
        raise ShapeProfileError(f"--shape {spec!r}: {text!r} is not a shape; write dimensions joined by 'x', e.g. 1x3x224x224")
    return tuple(int(d) for d in text.split("x"))


def parse_shape_spec(spec: str) -> InputShape:
    """Parse ``NAME:1x5`` (fixed) or ``NAME:1x5,4x5,8x5`` (min,opt,max) as given to ``--shape``."""
    name, sep, dims = spec.rpartition(":")
    if not sep or not name:
        raise ShapeProfileError(f"--shape {spec!r}: expected NAME:DIMS such as obs:1x5 or obs:1x5,4x5,8x5 (min,opt,max)")
    parts = dims.split(",")
    if len(parts) == 1:
        d = _parse_dims(parts[0], spec)
        triple = (d, d, d)
    elif len(parts) == 3:
        triple = (_parse_dims(parts[0], spec), _parse_dims(parts[1], spec), _parse_dims(parts[2], spec))
    else:
        raise ShapeProfileError(f"--shape {spec!r}: give one shape or three (min,opt,max), not {len(parts)}")
    try:
        return InputShape(name=name, min=triple[0], opt=triple[1], max=triple[2])
    except ValueError as err:
        raise ShapeProfileError(f"--shape {spec!r}: {err}") from None


def parse_shape_specs(specs: Iterable[str]) -> dict[str, InputShape]:
    out: dict[str, InputShape] = {}
    for spec in specs:
        s = parse_shape_spec(spec)
        if s.name in out:
            raise ShapeProfileError(f"--shape names input {s.name!r} twice")
        out[s.name] = s
    return out


def format_dims(d: Dims) -> str:
    return "x".join(str(v) for v in d)


def format_shape(s: InputShape) -> str:
    if s.is_fixed:
        return f"{s.name}:{format_dims(s.opt)}"
    return f"{s.name}:{format_dims(s.min)},{format_dims(s.opt)},{format_dims(s.max)}"


def opt_shapes(shapes: Mapping[str, InputShape]) -> dict[str, Dims]:
    return {name: s.opt for name, s in shapes.items()}
