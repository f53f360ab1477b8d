"""The daemon's :class:`~edgepilot.daemon.tick.ControlTick` closed around :class:`~.visuomotor_sim.TargetSim`, in
process, camera included: the in-process rig of the visuomotor example, for its training and its tests.

hil/sim_tick.py with the camera: every tick writes the joint state and IMU into the daemon's rings, and a
newly rendered frame into the camera's ring at the camera's rate, all stamped with the simulated time; the
policy's image input is then the daemon's own image encoder on that ring's newest frame (daemon/inference/
image_feeds.py), as deployed. All of the profile's streams are checked, so a stale or frozen camera is a fault
here too. The watchdog asks for one healthy tick (the robot is driven from the first tick, as in training).

:func:`run_episode` drives one episode and reports how it ended (:class:`EpisodeResult`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


from edgepilot.daemon.config.profile import Profile
from edgepilot.hil.sim_tick import SimTick
from edgepilot.hil.visuomotor_sim import SUCCESS_DISTANCE_M, TargetSim


class VisionSimTick(SimTick):
    """``step(sim, now_ns)``: the simulator's sensors and, when due, a camera frame into the rings, one tick.

    ``camera_stream``: the profile's camera stream (its ``rate_hz``, ``width`` and ``height`` are used).
    Returns the tick's command array (the twist mapper's [lin x y z, ang x y z]).
    """

    def __init__(self, profile: Profile, backend: Any, camera_stream: str = "camera") -> None:
        super().__init__(profile, backend, camera_stream=camera_stream)


@dataclass(frozen=True)
class EpisodeResult:
    """How an episode ended: distance from the axle midpoint to the target centre (m), speed (m/s), the first
    time the robot came within the success distance (s; inf if never), and whether it ended there."""

    final_distance_m: float
    final_speed_mps: float
    time_to_target_s: float
    faults: int

    @property
    def success(self) -> bool:
        return self.final_distance_m <= SUCCESS_DISTANCE_M and self.faults == 0


def run_episode(profile: Profile, backend: Any, sim: TargetSim, episode_s: float,
                on_tick: Callable[[VisionSimTick], None] | None = None) -> EpisodeResult:
    """Drive ``sim`` (already reset, target placed) with the profile's tick on ``backend`` for ``episode_s``."""
    loop = VisionSimTick(profile, backend)
    dt = 1.0 / profile.loop.rate_hz
    reached = math.inf
    faults = 0
    for k in range(int(round(episode_s / dt))):
        cmd = loop.step(sim, int(round(k * dt * 1e9)))
        faults += not loop.tick.ok
        if on_tick is not None:
            on_tick(loop)
        sim.set_wheel_targets_from_twist(float(cmd[0]), float(cmd[5]))
        sim.step(dt)
        if reached == math.inf and sim.target_range_bearing()[0] <= SUCCESS_DISTANCE_M:
            reached = sim.time
    v, _ = sim.body_velocity()
    return EpisodeResult(sim.target_range_bearing()[0], abs(v), reached, faults)
