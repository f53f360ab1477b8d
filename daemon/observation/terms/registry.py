"""The observation term registry: term kind -> (config model, factory of its computing object).

``register_term(ConfigModel, factory)`` adds every kind of the model's ``kind`` literal. The profile's
``observation.terms`` union (discriminated on ``kind``) is :func:`term_union`, in registration order (the
order pydantic lists the expected tags in its error message); a registration made after the profile module
was imported (a test's toy term) rebuilds the profile's models through the listeners added with
:func:`on_change`.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Union

from pydantic import Field

from edgepilot.daemon.observation.terms.base import ComputedTerm, TermConfig, TermInputs

Factory = Callable[[Any, TermInputs], ComputedTerm]


@dataclass(frozen=True)
class TermSpec:
    kinds: tuple[str, ...]
    config: type[TermConfig]
    factory: Factory


_SPECS: list[TermSpec] = []
_BY_KIND: dict[str, TermSpec] = {}
_LISTENERS: list[Callable[[], None]] = []


def _kinds_of(model: type[TermConfig]) -> tuple[str, ...]:
    f = model.model_fields.get("kind")
    kinds = typing.get_args(f.annotation) if f is not None and typing.get_origin(f.annotation) is typing.Literal else ()
    if not kinds or not all(isinstance(k, str) for k in kinds):
        raise TypeError(f"{model.__name__} needs a field `kind: Literal[\"name\", ...]` (the term's discriminator)")
    return kinds


def register_term(config: type[TermConfig], factory: Factory) -> type[TermConfig]:
    """Register a term: ``config`` (a TermConfig with a ``kind`` literal) and ``factory(config, inputs)``."""
    if not (isinstance(config, type) and issubclass(config, TermConfig)):
        raise TypeError(f"{config!r} is not a TermConfig subclass")
    kinds = _kinds_of(config)
    taken = [k for k in kinds if k in _BY_KIND]
    if taken:
        raise ValueError(f"observation term kind(s) {taken} already registered by {_BY_KIND[taken[0]].config.__name__}")
    spec = TermSpec(kinds, config, factory)
    _SPECS.append(spec)
    for k in kinds:
        _BY_KIND[k] = spec
    _changed()
    return config


def unregister_term(config: type[TermConfig]) -> None:
    """Remove a registration (tests that registered a toy term)."""
    spec = next(s for s in _SPECS if s.config is config)
    _SPECS.remove(spec)
    for k in spec.kinds:
        del _BY_KIND[k]
    _changed()


def _changed() -> None:
    for listener in _LISTENERS:
        listener()


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every later (un)registration."""
    _LISTENERS.append(listener)


def registered_terms() -> tuple[TermSpec, ...]:
    return tuple(_SPECS)


def spec_for(kind: str) -> TermSpec:
    return _BY_KIND[kind]


def term_union() -> Any:
    """``Annotated[Union[every registered config model], Field(discriminator="kind")]``."""
    models = tuple(s.config for s in _SPECS)
    return Annotated[Union[models], Field(discriminator="kind")]  # type: ignore[valid-type]


def make_term(config: TermConfig, inputs: TermInputs) -> ComputedTerm:
    """The computing object of one term config."""
    term = spec_for(config.kind).factory(config, inputs)  # type: ignore[attr-defined]
    if term.stage not in ("gather", "fill", "final"):
        raise TypeError(f"{config.kind}: stage {term.stage!r} is not gather, fill or final")  # type: ignore[attr-defined]
    return term
