"""The robot profile (one YAML file, validated once at load): the public names, from :mod:`.profile`.

They load on first use (PEP 562), so that ``edgepilot/__init__.py`` can import :mod:`.section_checks`
without the profile's models and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile, ProfileError, default_profile_path, load_profile, parse_profile

__all__ = ["Profile", "ProfileError", "default_profile_path", "load_profile", "parse_profile"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgepilot.daemon.config import profile

        return getattr(profile, name)  # the names re-exported from .profile, on first use
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
