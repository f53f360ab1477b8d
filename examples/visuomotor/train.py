"""Train the visuomotor example policy: find the red target with the camera and drive to it.

The target (hil/robots/visuomotor.xml) stands at a random place each episode, 0.8 to 2.5 m away at any
bearing; the policy is told nothing about it: its inputs are ``image`` (the 64x48 camera frame, through the
daemon's image encoder as daemon/profiles/visuomotor.yaml configures it: float32 [1, 3, 48, 64] in [-1, 1])
and ``obs`` (proprioception: both wheel speeds and the yaw rate, float32 [1, 3]); its output is ``action``
(normalised linear and angular speed, float32 [1, 2], tanh).

Method: behaviour cloning from a privileged expert (hil/visuomotor_sim.py ``expert_action``, which knows the
target's range and bearing), with DAgger (Ross et al. 2011): round 0 drives the expert with noise injected
into its actions (DART, Laskey et al. 2017) so the data covers recoveries; every later round drives the
current policy and labels the frames it saw with what the expert would have done; the policy is refitted on
everything so far. Loss: mean squared error on the normalised actions. Brightness, contrast and per-channel
gain jitter on the training images make the policy indifferent to the renderer (ray caster or OpenGL).

Training matches deployment: every tick is the daemon's own ControlTick (hil/visuomotor_tick.py) configured from
visuomotor.yaml at 50 Hz, the camera at 15 Hz into the daemon's camera ring, the image encoded by the daemon's
image encoder; the policy is the tick's inference backend (RecordingBackend). Every simulated robot is
domain-randomised (SimParams.randomized). Rendering: the ray caster (fast, no GL); the final evaluation also
runs with OpenGL (EGL) where available.

The result: ONNX (torch.onnx.export, opset 17), evaluated with the daemon's onnxruntime backend on
``--eval-episodes`` new random targets; the record goes to training_record.json.

Usage: python examples/visuomotor/train.py [--seed N] [--out PATH] [--rounds R] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from torch import nn  # noqa: E402

from edgepilot.daemon.config.profile import Profile, parse_profile  # noqa: E402
from edgepilot.engines.backend import TensorSpec  # noqa: E402
from edgepilot.hil.sim_robot import SimParams  # noqa: E402
from edgepilot.hil.visuomotor_sim import SUCCESS_DISTANCE_M, TargetSim, expert_action  # noqa: E402
from edgepilot.hil.visuomotor_tick import EpisodeResult, run_episode  # noqa: E402

HERE = Path(__file__).resolve().parent
PROFILE_PATH = HERE.parents[1] / "daemon" / "profiles" / "visuomotor.yaml"
DEFAULT_OUT = HERE.parents[1] / "daemon" / "profiles" / "visuomotor_policy.onnx"
RECORD_PATH = HERE / "training_record.json"
IMAGE_SHAPE = (1, 3, 48, 64)
OBS_SIZE = 3
ACT_SIZE = 2
TRAIN_EPISODE_S = 16.0
EVAL_EPISODE_S = 20.0
RECORD_EVERY = 3  # ticks between recorded samples (50 Hz loop: ~17 Hz, about the camera's rate)
DART_NOISE = 0.25  # std of the noise added to the expert's executed actions in round 0


def load_profile_data() -> dict:
    return yaml.safe_load(PROFILE_PATH.read_text())


def training_profile() -> Profile:
    """visuomotor.yaml as deployed (the model file need not exist yet: the backend is the policy being trained)."""
    return parse_profile(load_profile_data(), base_dir=HERE, source=str(PROFILE_PATH))


class VisuomotorNet(nn.Module):
    """CNN on the image (3 strided convs, 64x48 -> 8x6), concatenated with obs, MLP to 2 tanh outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * 6 * 8, 64), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(64 + OBS_SIZE, 64), nn.ReLU(), nn.Linear(64, ACT_SIZE), nn.Tanh())

    def forward(self, image: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.conv(image), obs], dim=1))


class Dataset:
    """Recorded (image, obs, expert action) triples, grown by every round."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.obs: list[np.ndarray] = []
        self.actions: list[tuple[float, float]] = []

    def __len__(self) -> int:
        return len(self.actions)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(np.stack(self.images)), torch.from_numpy(np.stack(self.obs)),
                torch.tensor(self.actions, dtype=torch.float32))


class RecordingBackend:
    """The tick's inference backend during data collection (engines/backend.py's protocol).

    Drives with the expert (plus DART noise) or with ``net``; every RECORD_EVERY-th step stores the inputs the
    daemon wrote (encoded image, observation) with the expert's action for the same moment.
    """

    def __init__(self, sim: TargetSim, data: Dataset, net: VisuomotorNet | None, rng: np.random.Generator) -> None:
        self.inputs = {"image": np.zeros(IMAGE_SHAPE, np.float32), "obs": np.zeros((1, OBS_SIZE), np.float32)}
        self.outputs = {"action": np.zeros((1, ACT_SIZE), np.float32)}
        self.state_pairs: list = []
        self._sim, self._data, self._net, self._rng = sim, data, net, rng
        self._k = 0

    def describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return ([TensorSpec(n, a.shape, a.dtype) for n, a in self.inputs.items()],
                [TensorSpec(n, a.shape, a.dtype) for n, a in self.outputs.items()])

    def run(self) -> None:
        label = expert_action(*self._sim.target_range_bearing())
        if self._k % RECORD_EVERY == 0:
            self._data.images.append(self.inputs["image"][0].copy())
            self._data.obs.append(self.inputs["obs"][0].copy())
            self._data.actions.append(label)
        self._k += 1
        if self._net is None:
            act = np.clip(np.asarray(label) + self._rng.normal(0.0, DART_NOISE, ACT_SIZE), -1.0, 1.0)
        else:
            with torch.no_grad():
                act = self._net(torch.from_numpy(self.inputs["image"]), torch.from_numpy(self.inputs["obs"]))[0].numpy()
        self.outputs["action"][0] = act

    def close(self) -> None:
        pass


def new_episode(seed: int, render_backend: str = "raycast") -> TargetSim:
    """A domain-randomised robot at the origin (random heading) and a random target, both from ``seed``."""
    rng = np.random.default_rng(seed)
    sim = TargetSim(SimParams.randomized(rng), rng, render_backend=render_backend)  # type: ignore[arg-type]
    sim.reset_episode(rng)
    return sim


def collect(profile: Profile, data: Dataset, net: VisuomotorNet | None, seeds: list[int], episode_s: float) -> float:
    """Run one episode per seed, recording into ``data``; the success rate of what drove."""
    wins = 0
    for seed in seeds:
        sim = new_episode(seed)
        res = run_episode(profile, RecordingBackend(sim, data, net, np.random.default_rng(seed + 7)), sim, episode_s)
        wins += res.success
        sim.close()
    return wins / max(1, len(seeds))


def augment(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and per-channel gain jitter on normalised images ([-1, 1])."""
    n = img.shape[0]
    contrast = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen)
    gain = 0.9 + 0.2 * torch.rand(n, 3, 1, 1, generator=gen)
    shift = 0.3 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    return (img * contrast * gain + shift).clamp(-1.0, 1.0)


def fit(net: VisuomotorNet, data: Dataset, epochs: int, gen: torch.Generator, batch: int = 128) -> float:
    """Adam on the whole dataset for ``epochs``; the last epoch's mean loss."""
    images, obs, actions = data.tensors()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = len(actions)
    loss_sum = 0.0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            pred = net(augment(images[idx], gen), obs[idx])
            loss = ((pred - actions[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
    return loss_sum / max(1, n)


def export_onnx(net: VisuomotorNet, path: Path) -> None:
    net.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, (torch.zeros(IMAGE_SHAPE), torch.zeros(1, OBS_SIZE)), str(path),
                      input_names=["image", "obs"], output_names=["action"], opset_version=17, dynamo=False)


def evaluate(profile: Profile, model: Path, seeds: list[int], render_backend: str) -> dict:
    """The exported model on the daemon's onnxruntime backend, one episode per seed."""
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    results: list[EpisodeResult] = []
    used = set()
    for seed in seeds:
        sim = new_episode(seed, render_backend)
        used.add(sim.render_backend)  # "auto" resolves to "gl" where an EGL context can be made
        backend = OnnxRuntimeBackend(model, 1)
        try:
            results.append(run_episode(profile, backend, sim, EVAL_EPISODE_S))
        finally:
            backend.close()
            sim.close()
    reached = [r.time_to_target_s for r in results if math.isfinite(r.time_to_target_s)]
    return {
        "renderer": "+".join(sorted(used)),
        "episodes": len(results),
        "success_rate": round(sum(r.success for r in results) / max(1, len(results)), 3),
        "final_dist_m_mean": round(float(np.mean([r.final_distance_m for r in results])), 4),
        "final_dist_m_max": round(float(np.max([r.final_distance_m for r in results])), 4),
        "time_to_target_s_mean": round(float(np.mean(reached)), 2) if reached else None,
        "faults": int(sum(r.faults for r in results)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--record", type=Path, default=RECORD_PATH)
    ap.add_argument("--expert-episodes", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="DAgger rounds after the expert round")
    ap.add_argument("--round-episodes", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=8, help="epochs of the fit after the expert round")
    ap.add_argument("--round-epochs", type=int, default=4, help="epochs of each later refit (warm-started)")
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--gl-eval-episodes", type=int, default=10, help="0: skip the OpenGL evaluation")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run that exercises every stage")
    args = ap.parse_args(argv)
    episode_s = TRAIN_EPISODE_S
    if args.smoke:
        args.expert_episodes, args.rounds, args.round_episodes, args.epochs, args.round_epochs = 1, 1, 1, 1, 1
        args.eval_episodes, args.gl_eval_episodes, episode_s = 1, 0, 1.0

    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    gen = torch.Generator().manual_seed(args.seed)
    profile = training_profile()
    net, data = VisuomotorNet(), Dataset()
    next_seed = 1000 * args.seed
    rounds = []
    for r in range(args.rounds + 1):
        count = args.expert_episodes if r == 0 else args.round_episodes
        seeds = list(range(next_seed, next_seed + count))
        next_seed += count
        net.eval()
        drove = collect(profile, data, None if r == 0 else net, seeds, episode_s)
        net.train()
        loss = fit(net, data, args.epochs if r == 0 else args.round_epochs, gen)
        rounds.append({"round": r, "driver": "expert+noise" if r == 0 else "policy", "episodes": count,
                       "driver_success": round(drove, 3), "dataset_size": len(data), "loss": round(loss, 5)})
        print(f"round {r}: {rounds[-1]}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    t_train = time.perf_counter() - t0
    export_onnx(net, args.out)
    eval_seeds = list(range(10**6, 10**6 + args.eval_episodes))  # never used in training
    evals = {"raycast": evaluate(profile, args.out, eval_seeds, "raycast")}
    if args.gl_eval_episodes:
        evals["gl"] = evaluate(profile, args.out, eval_seeds[: args.gl_eval_episodes], "auto")
    print(json.dumps(evals, indent=1))
    record = {
        "seed": args.seed,
        "method": "behaviour cloning from a privileged expert + DAgger (round 0: expert with DART noise)",
        "policy": "CNN 3x(conv, stride 2) 3-16-16-16 on 3x48x64 -> fc 64; concat obs 3 -> fc 64 -> 2 tanh",
        "parameters": sum(p.numel() for p in net.parameters()),
        "epochs": {"expert_round": args.epochs, "later_rounds": args.round_epochs},
        "train_episode_s": episode_s,
        "eval_episode_s": EVAL_EPISODE_S,
        "success": f"episode ends with the target centre within {SUCCESS_DISTANCE_M} m of the axle midpoint, "
                   "no fault",
        "rounds": rounds,
        "dataset_size": len(data),
        "final_loss": rounds[-1]["loss"],
        "final_eval": evals,
        "train_wall_time_s": round(t_train, 1),
        "total_wall_time_s": round(time.perf_counter() - t0, 1),
        "output": str(args.out.resolve().relative_to(HERE.parents[1])) if args.out.resolve().is_relative_to(
            HERE.parents[1]) else str(args.out),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"torch {torch.__version__}",
    }
    args.record.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
