"""The robots the rig can play, by name (``edgepilot rig --robot NAME``).

Each entry knows how to build its simulator and which daemon profile drives
it by default. One today: ``diffbot``, the MuJoCo differential-drive robot of
``hil/robots/diffbot.xml`` with the embedded profile
``daemon/profiles/diffbot.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class RobotSpec:
    name: str
    description: str
    make_sim: Callable[[int], Any]   # seed -> simulator (DiffDriveSim interface)
    default_profile: Callable[[], Path]


def _diffbot_sim(seed: int) -> Any:
    from .sim_robot import DiffDriveSim, SimParams

    return DiffDriveSim(SimParams(), np.random.default_rng(seed))


def _diffbot_profile() -> Path:
    from edgepilot.daemon.config.profile import default_profile_path

    return default_profile_path()


ROBOTS: dict[str, RobotSpec] = {
    "diffbot": RobotSpec("diffbot", "MuJoCo differential-drive robot: wheel encoders and IMU at 200 Hz, rgb8 64x48 "
                         "camera at 15 Hz, Twist on /cmd_vel", _diffbot_sim, _diffbot_profile),
}


def robot(name: str) -> RobotSpec:
    try:
        return ROBOTS[name]
    except KeyError:
        raise KeyError(f"unknown robot {name!r}; the rig can play: {sorted(ROBOTS)}") from None
