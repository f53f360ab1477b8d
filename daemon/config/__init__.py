"""The robot profile (one YAML file, validated once at load): the public names, from :mod:`.profile`.

Loaded on first use (PEP 562), not at package import: the observation terms import the config base models
from this package, and the profile imports the terms, so an eager import here made
``import edgepilot.daemon.observation.terms`` (a new term's first line) a circular import. It also lets
``edgepilot/__init__.py`` import :mod:`.section_checks` without the profile's models and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile, ProfileError, default_profile_path, load_profile, parse_profile

__all__ = ["Profile", "ProfileError", "default_profile_path", "load_profile", "parse_profile"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgepilot.daemon.config import profile

        return getattr(profile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
