"""Load-time checks of a profile's ``compensation`` and ``residuals`` sections against its streams.

Called by :func:`edgepilot.daemon.config.profile.load_profile`, so a wrong field name
or a missing compensation file stops the daemon before anything starts.
"""

from __future__ import annotations

from edgepilot.daemon.config.profile import Profile, ProfileError

from .compensation import compensation_path, load_compensation
from .fields import FieldError


def check_calibration_sections(profile: Profile, source: str) -> None:
    path = compensation_path(profile)
    if path is not None:
        load_compensation(path, profile)  # CompensationError is a ProfileError
    if profile.residuals is not None:
        from .sim_models import build_sim_model

        try:
            build_sim_model(profile.residuals.model, profile)
        except (FieldError, ValueError) as err:
            raise ProfileError(f"invalid robot profile {source}:\n  residuals.model: {err}") from None
