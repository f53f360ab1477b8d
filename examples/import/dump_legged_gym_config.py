"""Dump a legged_gym ``LeggedRobotCfg`` to YAML for `edgepilot profile import --format legged_gym`.

Run it where legged_gym is installed (it imports the task registry), e.g.::

    python examples/import/dump_legged_gym_config.py --task go2 --output go2_cfg.yaml \\
        [--dof-names FL_hip_joint,FL_thigh_joint,...] [--observation-terms base_ang_vel,projected_gravity,...]

What it writes: the config classes as nested mappings (legged_gym's own ``class_to_dict``), plus
``dof_names`` (the policy's joint order: Isaac Gym's DOF order of the asset, ``gym.get_asset_dof_names``; give
``--dof-names`` to skip loading the asset) and, where the robot's ``compute_observations`` differs from
legged_gym's standard one (base_lin_vel, base_ang_vel, projected_gravity, commands, dof_pos, dof_vel, actions),
``observation_terms`` in its order. Edit the file by hand if need be; the importer checks it against
``env.num_observations``.
"""

from __future__ import annotations

import argparse
import sys

import yaml


def dof_names_of(env_cfg) -> list[str]:  # type: ignore[no-untyped-def]
    """Isaac Gym's DOF order of the robot asset (what legged_gym's ``self.dof_names`` holds)."""
    import os

    from isaacgym import gymapi  # noqa: F401 - legged_gym needs it imported before torch
    from legged_gym import LEGGED_GYM_ROOT_DIR

    gym = gymapi.acquire_gym()
    sim = gym.create_sim(0, -1, gymapi.SIM_PHYSX, gymapi.SimParams())
    path = env_cfg.asset.file.format(LEGGED_GYM_ROOT_DIR=LEGGED_GYM_ROOT_DIR)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    asset = gym.load_asset(sim, os.path.dirname(path), os.path.basename(path), opts)
    return list(gym.get_asset_dof_names(asset))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, help="a registered legged_gym task, e.g. anymal_c_flat, go2")
    p.add_argument("--output", required=True, help="YAML file to write")
    p.add_argument("--dof-names", default=None, help="the policy's joint order, comma-separated (default: the asset's)")
    p.add_argument("--observation-terms", default=None, help="the observation's parts in order, comma-separated")
    args = p.parse_args(argv)
    from legged_gym.envs import task_registry  # noqa: F401 - registers the tasks
    from legged_gym.utils.helpers import class_to_dict

    env_cfg, _ = task_registry.get_cfgs(name=args.task)
    data = class_to_dict(env_cfg)
    data["dof_names"] = args.dof_names.split(",") if args.dof_names else dof_names_of(env_cfg)
    if args.observation_terms:
        data["observation_terms"] = args.observation_terms.split(",")
    with open(args.output, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
