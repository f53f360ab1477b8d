"""Load-time checks of the profile's ``compensation`` and ``residuals`` sections, supplied by a higher layer.

What those sections mean (a compensation file's fields, a sim model that must build) is edgepilot.calibration's;
the daemon, below it, never imports it. Calibration's check is registered by ``edgepilot/__init__.py``, which runs
before any module of the package, so every load_profile runs it, as when the loader imported calibration itself.
Imports nothing: the package's ``__init__`` imports this module.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["SectionCheck", "register_section_check", "run_section_checks"]

#: ``check(profile, source)``: raises ProfileError naming the field when a section does not fit the profile.
SectionCheck = Callable[[Any, str], None]
_SECTION_CHECKS: list[SectionCheck] = []


def register_section_check(check: SectionCheck) -> None:
    """Add a check (once: registering the same one again is a no-op)."""
    if check not in _SECTION_CHECKS:
        _SECTION_CHECKS.append(check)


def run_section_checks(profile: Any, source: str) -> None:
    """Run every registered check; load_profile calls it for a profile that has either section."""
    if not _SECTION_CHECKS:
        # Not expected (edgepilot/__init__.py registers calibration's): refuse rather than skip the checks.
        raise RuntimeError("no check of the profile's compensation/residuals sections is registered "
                           "(edgepilot/__init__.py registers edgepilot.calibration's)")
    for check in _SECTION_CHECKS:
        check(profile, source)
