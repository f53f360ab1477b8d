"""Load-time checks of a profile's ``compensation`` and ``residuals`` sections against its streams.

Called by :func:`edgepilot.daemon.config.profile.load_profile`, so a wrong field name
or a missing compensation file stops the daemon before anything starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgepilot.daemon.config.profile import Profile, ProfileError

from .compensation import compensation_path, load_compensation
from .fields import FieldError


def check_calibration_sections(profile: Profile, source: str) -> None:
    path = compensation_path(profile)
    if path is not None:
        load_compensation(path, profile)  # CompensationError is a ProfileError
    if profile.residuals is not None:
        from .sim_models import build_sim_model

        _check_residuals_directory(profile, source)
        try:
            build_sim_model(profile.residuals.model, profile)
        except (FieldError, ValueError) as err:
            raise ProfileError(f"invalid robot profile {source}:\n  residuals.model: {err}") from None


def _check_residuals_directory(profile: Profile, source: str) -> None:
    """The residual logs' folder must be creatable and writable by this user, now rather than on the first record.

    Found only when the logger opens its first file, an unwritable folder meant a daemon that drove the robot and
    logged nothing (every record counted as dropped). Checked on the nearest existing ancestor when the folder does
    not exist yet (the writer creates it).
    """
    d = Path(profile.residuals.directory)  # type: ignore[union-attr]
    d = d if d.is_absolute() else profile.base_dir / d
    probe = d
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    fix = ("make it writable by the daemon's user, point residuals.directory elsewhere, or under systemd use "
           "StateDirectory=/LogsDirectory= and an absolute path in it")
    if not probe.is_dir():
        raise ProfileError(f"invalid robot profile {source}:\n  residuals.directory: {d} cannot be created: {probe} "
                           f"is not a folder; {fix}")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "is not writable" if probe == d else f"cannot be created: {probe} is not writable"
        raise ProfileError(f"invalid robot profile {source}:\n  residuals.directory: {d} {what} by this user "
                           f"(uid {os.getuid()}); {fix}")
