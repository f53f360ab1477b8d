"""edgepilot: run simulation-trained policies on robots at a fixed rate, safely.

Subpackages: :mod:`edgepilot.daemon` (the control loop and everything it needs),
:mod:`edgepilot.engines` (inference backends), :mod:`edgepilot.calibration`
(sim-to-real), :mod:`edgepilot.hil` (the simulated robot and fault injection).
"""

__version__ = "0.1.0"


def _check_calibration_sections(profile: object, source: str) -> None:
    """load_profile's check of ``compensation``/``residuals`` (edgepilot.calibration.profile_checks), imported on use."""
    from edgepilot.calibration.profile_checks import check_calibration_sections

    check_calibration_sections(profile, source)  # type: ignore[arg-type]


# The package root wires the layers together: calibration sits above the daemon, which never imports it, but
# every load_profile must check those sections. This runs before any module of the package is imported.
from edgepilot.daemon.config.section_checks import register_section_check as _register  # noqa: E402

_register(_check_calibration_sections)
