"""The visuomotor example's robot over DDS: :class:`~.robot_node.RobotNode` on :class:`~.visuomotor_sim.TargetSim`.

``python -m edgepilot.hil.visuomotor_node --domain-id D --seed S`` puts the target at a random place drawn
from ``S`` (the same draw as training's episodes: 0.8 to 2.5 m, any bearing, random start heading) and
publishes /joint_states and /imu/data at 200 Hz and the rendered, noisy camera (/camera/image_raw, 64x48
rgb8) at 15 Hz; the daemon (``edgepilot run --config daemon/profiles/visuomotor.yaml``) drives it. The
node's "goal" is the target; it reports ``GOAL HELD`` once the robot has stayed within the success distance
(hil/visuomotor_sim.py SUCCESS_DISTANCE_M of the target centre) for a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.hil.robot_node import RobotNode
from edgepilot.hil.sim_robot import SimParams
from edgepilot.hil.visuomotor_sim import SUCCESS_DISTANCE_M, TargetSim


def target_node(transport: Any, seed: int, *, randomized: bool = True, verbose: bool = True) -> RobotNode:
    """A robot node on a fresh TargetSim: robot and target placed from ``seed``, the robot domain-randomised."""
    rng = np.random.default_rng(seed)
    params = SimParams.randomized(rng) if randomized else SimParams()
    sim = TargetSim(params, rng)
    target = sim.reset_episode(rng)
    return RobotNode(transport, sim, target, goal_tolerance_m=SUCCESS_DISTANCE_M, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Simulated diff-drive robot with a red target, over Cyclone DDS.")
    p.add_argument("--domain-id", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--exit-at-goal", action="store_true", help="stop publishing once the target is reached and held")
    p.add_argument("--result-json", type=Path, default=None)
    a = p.parse_args(argv)

    import signal

    from edgepilot.daemon.transport.dds.participant import DdsTransport

    transport = DdsTransport(a.domain_id)
    node = target_node(transport, a.seed)
    signal.signal(signal.SIGTERM, lambda *_: node.stop_event.set())
    tx, ty = node.goal
    print(f"simulated robot up: target at ({tx:+.2f}, {ty:+.2f}) m, visible only to /camera/image_raw (15 Hz, "
          f"{node.sim.render_backend} renderer)",
          flush=True)
    try:
        result = node.run(a.duration, exit_at_goal=a.exit_at_goal)
    finally:
        transport.close()
    print(f"{'target reached' if result['goal_reached'] else 'target NOT reached'}: final distance "
          f"{result['final_distance_m']} m", flush=True)
    if a.result_json:
        from edgepilot.common.atomic_file import write_json_atomic

        write_json_atomic(a.result_json, result)
    return 0 if result["goal_reached"] else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
