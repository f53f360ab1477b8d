"""Train the diffbot example policy: drive to a goal and stop there.

The policy is a small MLP (obs 5 -> 16 tanh -> 2 tanh) whose weights are found
by sep-CMA-ES (CMA-ES with a diagonal covariance, Ros & Hansen 2008), in
numpy, on the CPU: no gradients, no torch. Every episode runs the simulated
robot (edgepilot.hil.sim_robot.DiffDriveSim) under fresh domain randomisation
(wheel radius and asymmetry, chassis mass, ground friction, motor gain,
command latency, gyro bias and noise, encoder noise; see
SimParams.randomized), from a random heading, towards a random goal (0.5 to
3 m away, any bearing) or the deployment goal (2, 1) m.

Training matches deployment exactly: every tick is the daemon's own
ControlTick (daemon/tick.py) on the simulated sensors written into the
daemon's stream rings: its WheelOdometry, ObservationBuilder, watchdog checks
and TwistActionMapper, all configured from daemon/profiles/diffbot.yaml, at
the profile's loop rate (50 Hz); the policy being trained is its inference
backend (PolicyBackend).

Fitness (ground truth, per episode): progress towards the goal, a bonus for
every second spent within 0.15 m, a penalty on actions near the goal and on
action changes (so the robot stops and stays), and a terminal bonus for ending
within 0.15 m at rest. All candidates of a generation are scored on the same
episodes (common random numbers); the search mean is checked on a fixed
validation set every few generations and the best one is kept.

The result is written as ONNX (MatMul/Add/Tanh, opset 17, input "obs"
float32 [1, 5], output "action" float32 [1, 2]) and checked with
onnxruntime on 20 randomised episodes to the deployment goal and 20 to random
goals, 15 s each.

Usage: python examples/diffbot/train.py [--seed N] [--out PATH] [--generations G] [--workers W]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edgepilot.daemon.config.profile import Profile, default_profile_path, parse_profile
from edgepilot.engines.backend import TensorSpec
from edgepilot.hil.sim_robot import DiffDriveSim, SimParams
from edgepilot.hil.sim_tick import SimTick

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = REPO / "daemon" / "profiles" / "diffbot_policy.onnx"
RECORD_PATH = HERE / "training_record.json"

DEPLOY_GOAL = (2.0, 1.0)
HIDDEN = 16
OBS_SIZE = 5
ACT_SIZE = 2
N_PARAMS = OBS_SIZE * HIDDEN + HIDDEN + HIDDEN * ACT_SIZE + ACT_SIZE

TRAIN_EPISODE_S = 9.0
EVAL_EPISODE_S = 15.0
SUCCESS_RADIUS_M = 0.15
SUCCESS_SPEED_MPS = 0.05

# Fitness weights.
W_PROGRESS = 2.0  # per metre of progress towards the goal
W_IN_GOAL = 1.0  # per second within SUCCESS_RADIUS_M
NEAR_GOAL_M = 0.3
W_ACTION_NEAR = 1.0  # per second of |a|^2 within NEAR_GOAL_M
W_JERK = 0.05  # per step of |a_t - a_{t-1}|^2
W_FINAL_DIST = 2.0  # per metre of final distance
W_SUCCESS = 5.0  # ending within SUCCESS_RADIUS_M at rest


# --------------------------------------------------------------------------- profile and policy


def profile_data() -> dict:
    """The embedded diffbot profile as plain data (the YAML mapping)."""
    return yaml.safe_load(default_profile_path().read_text())


def profile_with_goal(data: dict, goal_xy: tuple[float, float]) -> Profile:
    """The diffbot profile with its goal_relative term pointed at ``goal_xy`` (odometry frame, m)."""
    terms = []
    for t in data["observation"]["terms"]:
        t = dict(t)
        if t["kind"] == "goal_relative":
            t["goal_xy"] = [float(goal_xy[0]), float(goal_xy[1])]
        terms.append(t)
    d = dict(data)
    d["observation"] = {**data["observation"], "terms": terms}
    return parse_profile(d, base_dir=default_profile_path().parent, source="training profile")


def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat parameter vector -> (W1 [5,H], b1 [H], W2 [H,2], b2 [2]), float32."""
    theta = np.asarray(theta, dtype=np.float32)
    i = 0
    w1 = theta[i : i + OBS_SIZE * HIDDEN].reshape(OBS_SIZE, HIDDEN)
    i += OBS_SIZE * HIDDEN
    b1 = theta[i : i + HIDDEN]
    i += HIDDEN
    w2 = theta[i : i + HIDDEN * ACT_SIZE].reshape(HIDDEN, ACT_SIZE)
    i += HIDDEN * ACT_SIZE
    b2 = theta[i : i + ACT_SIZE]
    return w1, b1, w2, b2


class NumpyPolicy:
    """The MLP in float32 numpy, the same arithmetic as the exported ONNX graph."""

    def __init__(self, theta: np.ndarray) -> None:
        self.w1, self.b1, self.w2, self.b2 = (np.ascontiguousarray(a) for a in unpack(theta))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        h = np.tanh(obs @ self.w1 + self.b1)
        return np.tanh(h @ self.w2 + self.b2)


class OnnxPolicy:
    """The exported model run with onnxruntime, one observation at a time (as the daemon runs it)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._buf = np.zeros((1, OBS_SIZE), dtype=np.float32)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self._buf[0] = obs
        return self.session.run(["action"], {"obs": self._buf})[0][0]


class PolicyBackend:
    """A policy callable (NumpyPolicy, OnnxPolicy) as the tick's inference backend (engines/backend.py's protocol).

    The policy is called on the 1-D observation, as before the tick was shared, so its arithmetic (and every
    training result) is unchanged.
    """

    def __init__(self, policy) -> None:  # type: ignore[no-untyped-def]
        self.inputs = {"obs": np.zeros((1, OBS_SIZE), np.float32)}
        self.outputs = {"action": np.zeros((1, ACT_SIZE), np.float32)}
        self.obs = self.inputs["obs"][0]
        self.action = self.outputs["action"][0]
        self._policy = policy

    def describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return ([TensorSpec(n, a.shape, a.dtype) for n, a in self.inputs.items()],
                [TensorSpec(n, a.shape, a.dtype) for n, a in self.outputs.items()])

    def run(self) -> None:
        np.copyto(self.action, self._policy(self.obs))

    def close(self) -> None:
        pass


def export_onnx(theta: np.ndarray, path: Path) -> None:
    """Write the MLP as an ONNX graph: obs [1,5] -> MatMul/Add/Tanh -> MatMul/Add/Tanh -> action [1,2]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, b1, w2, b2 = unpack(theta)
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(w1, dtype=np.float32), "W1"),
        numpy_helper.from_array(np.ascontiguousarray(b1, dtype=np.float32), "b1"),
        numpy_helper.from_array(np.ascontiguousarray(w2, dtype=np.float32), "W2"),
        numpy_helper.from_array(np.ascontiguousarray(b2, dtype=np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["obs", "W1"], ["h_lin"], name="fc1"),
        helper.make_node("Add", ["h_lin", "b1"], ["h_pre"], name="fc1_bias"),
        helper.make_node("Tanh", ["h_pre"], ["h"], name="fc1_tanh"),
        helper.make_node("MatMul", ["h", "W2"], ["a_lin"], name="fc2"),
        helper.make_node("Add", ["a_lin", "b2"], ["a_pre"], name="fc2_bias"),
        helper.make_node("Tanh", ["a_pre"], ["action"], name="fc2_tanh"),
    ]
    graph = helper.make_graph(
        nodes,
        "diffbot_goal_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, OBS_SIZE])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, ACT_SIZE])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="edgepilot examples/diffbot/train.py", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # the lowest IR that carries opset 17: readable by any onnxruntime >= 1.13
    model.doc_string = (
        "diffbot goal-reaching policy. obs: [wheel speeds L,R (rad/s) x0.1, gyro z (rad/s) x0.5, "
        "goal in body frame x,y (m) x0.5], clipped as in daemon/profiles/diffbot.yaml. "
        "action: [linear.x / 0.4 m/s, angular.z / 1.5 rad/s] in [-1, 1]."
    )
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


# --------------------------------------------------------------------------- episodes


@dataclass(frozen=True)
class EpisodeSpec:
    """One randomised episode: the goal (odometry frame = start pose, m), start heading (world, rad), robot, noise seed."""

    goal_xy: tuple[float, float]
    yaw0: float
    params: SimParams
    seed: int


def sample_spec(rng: np.random.Generator, p_deploy: float = 0.5) -> EpisodeSpec:
    if rng.uniform() < p_deploy:
        goal = DEPLOY_GOAL
    else:
        dist = rng.uniform(0.5, 3.0)
        bearing = rng.uniform(-math.pi, math.pi)
        goal = (dist * math.cos(bearing), dist * math.sin(bearing))
    return EpisodeSpec(
        goal_xy=(float(goal[0]), float(goal[1])),
        yaw0=float(rng.uniform(-math.pi, math.pi)),
        params=SimParams.randomized(rng),
        seed=int(rng.integers(2**31)),
    )


def run_episode(policy, spec: EpisodeSpec, data: dict, duration_s: float) -> dict:
    """Close the loop exactly as the daemon does and score the episode on ground truth.

    Each tick: SimTick writes the simulated sensors into the daemon's
    joint-state and IMU rings and runs ControlTick.step (odometry,
    observation, the policy, the action mapping); send (linear.x, angular.z)
    to the robot, step physics (hil/sim_tick.py: driven from the first tick).
    """
    profile = profile_with_goal(data, spec.goal_xy)
    dt = 1.0 / profile.loop.rate_hz
    period_ns = int(round(dt * 1e9))
    backend = PolicyBackend(policy)
    loop = SimTick(profile, backend)

    sim = DiffDriveSim(spec.params, np.random.default_rng(spec.seed), render_backend="raycast")
    sim.reset(0.0, 0.0, spec.yaw0)
    c, s = math.cos(spec.yaw0), math.sin(spec.yaw0)
    gx = c * spec.goal_xy[0] - s * spec.goal_xy[1]  # goal in the world frame
    gy = s * spec.goal_xy[0] + c * spec.goal_xy[1]

    n_steps = int(round(duration_s / dt))
    d_prev = math.hypot(gx, gy)
    d0 = d_prev
    ret = 0.0
    prev_a0 = prev_a1 = 0.0
    reached_t = None
    action = backend.action
    for k in range(n_steps):
        cmd = loop.step(sim, k * period_ns)  # the zero command on a faulted tick, as the robot would get it
        sim.set_wheel_targets_from_twist(cmd[0], cmd[5])
        sim.step(dt)

        x, y, _ = sim.pose()
        d = math.hypot(gx - x, gy - y)
        a0 = float(action[0])
        a1 = float(action[1])
        ret += W_PROGRESS * (d_prev - d)
        if d < SUCCESS_RADIUS_M:
            ret += W_IN_GOAL * dt
            if reached_t is None:
                reached_t = (k + 1) * dt
        if d < NEAR_GOAL_M:
            ret -= W_ACTION_NEAR * dt * (a0 * a0 + a1 * a1)
        ret -= W_JERK * ((a0 - prev_a0) ** 2 + (a1 - prev_a1) ** 2)
        prev_a0, prev_a1 = a0, a1
        d_prev = d
    v, w = sim.body_velocity()
    success = d_prev < SUCCESS_RADIUS_M and abs(v) < SUCCESS_SPEED_MPS
    ret += -W_FINAL_DIST * d_prev + (W_SUCCESS if success else 0.0)
    return {"return": ret, "final_dist": d_prev, "final_speed": abs(v), "success": bool(success), "reached_t": reached_t, "d0": d0}


# --------------------------------------------------------------------------- parallel evaluation

_DATA: dict | None = None


def _worker_init() -> None:
    global _DATA
    os.environ["OMP_NUM_THREADS"] = "1"
    _DATA = profile_data()


def _evaluate_chunk(args: tuple[np.ndarray, list[EpisodeSpec], float]) -> np.ndarray:
    thetas, specs, duration = args
    data = _DATA if _DATA is not None else profile_data()
    out = np.zeros((len(thetas), len(specs), 2))
    for i, theta in enumerate(thetas):
        pol = NumpyPolicy(theta)
        for j, spec in enumerate(specs):
            r = run_episode(pol, spec, data, duration)
            out[i, j] = (r["return"], float(r["success"]))
    return out


def evaluate(pool, thetas: np.ndarray, specs: list[EpisodeSpec], duration: float, workers: int) -> np.ndarray:
    """(returns, successes), each shape (len(thetas), len(specs)); independent of how the work is split."""
    if pool is None:
        res = _evaluate_chunk((thetas, specs, duration))
    else:
        # Split by candidate x episode so both workers stay busy even for a single candidate.
        jobs = []
        if len(thetas) >= workers:
            for chunk in np.array_split(np.arange(len(thetas)), workers * 2):
                if len(chunk):
                    jobs.append(("cand", chunk, (thetas[chunk], specs, duration)))
            parts = pool.map(_evaluate_chunk, [j[2] for j in jobs])
            res = np.concatenate(parts, axis=0)
        else:
            idx = np.array_split(np.arange(len(specs)), workers * 2)
            parts = pool.map(_evaluate_chunk, [(thetas, [specs[i] for i in ch], duration) for ch in idx if len(ch)])
            res = np.concatenate(parts, axis=1)
    return res[..., 0], res[..., 1]


# --------------------------------------------------------------------------- sep-CMA-ES


class SepCMAES:
    """CMA-ES with a diagonal covariance matrix (Ros & Hansen, PPSN 2008); maximises."""

    def __init__(self, mean: np.ndarray, sigma: float, popsize: int, rng: np.random.Generator) -> None:
        n = len(mean)
        self.n = n
        self.mean = mean.astype(np.float64).copy()
        self.sigma = float(sigma)
        self.lam = popsize
        self.mu = popsize // 2
        w = math.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.weights = w / w.sum()
        self.mueff = 1.0 / np.sum(self.weights**2)
        mueff = self.mueff
        self.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        self.cs = (mueff + 2) / (n + mueff + 5)
        c1 = 2 / ((n + 1.3) ** 2 + mueff)
        cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        self.c1 = min(1.0, c1 * (n + 2) / 3)
        self.cmu = min(1 - self.c1, cmu * (n + 2) / 3)
        self.damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + self.cs
        self.chin = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self.diag_c = np.ones(n)
        self.pc = np.zeros(n)
        self.ps = np.zeros(n)
        self.gen = 0
        self.rng = rng
        self._z = None

    def ask(self) -> np.ndarray:
        self._z = self.rng.standard_normal((self.lam, self.n))
        return self.mean + self.sigma * self._z * np.sqrt(self.diag_c)

    def tell(self, fitness: np.ndarray) -> None:
        order = np.argsort(-fitness, kind="stable")[: self.mu]
        z = self._z[order]
        y = z * np.sqrt(self.diag_c)
        zw = self.weights @ z
        yw = self.weights @ y
        self.mean = self.mean + self.sigma * yw
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * zw
        norm_ps = np.linalg.norm(self.ps)
        hsig = norm_ps / math.sqrt(1 - (1 - self.cs) ** (2 * (self.gen + 1))) / self.chin < 1.4 + 2 / (self.n + 1)
        self.pc = (1 - self.cc) * self.pc + (math.sqrt(self.cc * (2 - self.cc) * self.mueff) * yw if hsig else 0.0)
        self.diag_c = (
            (1 - self.c1 - self.cmu) * self.diag_c
            + self.c1 * (self.pc**2 + (0.0 if hsig else self.cc * (2 - self.cc)) * self.diag_c)
            + self.cmu * (self.weights @ (y**2))
        )
        self.sigma *= math.exp((self.cs / self.damps) * (norm_ps / self.chin - 1))
        self.gen += 1


def initial_mean(rng: np.random.Generator) -> np.ndarray:
    """Glorot-style random hidden layer, near-zero output layer (the robot starts out almost still)."""
    w1 = rng.normal(0.0, math.sqrt(2.0 / (OBS_SIZE + HIDDEN)), (OBS_SIZE, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0.0, 0.05, (HIDDEN, ACT_SIZE))
    b2 = np.zeros(ACT_SIZE)
    return np.concatenate([w1.ravel(), b1, w2.ravel(), b2])


# --------------------------------------------------------------------------- main


_ONNX: dict[str, "OnnxPolicy"] = {}


def _evaluate_onnx_chunk(args: tuple[str, list[EpisodeSpec], float]) -> list[dict]:
    path, specs, duration = args
    pol = _ONNX.get(path)
    if pol is None:
        pol = _ONNX[path] = OnnxPolicy(Path(path))
    data = _DATA if _DATA is not None else profile_data()
    return [run_episode(pol, spec, data, duration) for spec in specs]


def _summary(res: list[dict]) -> dict:
    dists = np.array([r["final_dist"] for r in res])
    reached = [r["reached_t"] for r in res if r["reached_t"] is not None]
    return {
        "episodes": len(res),
        "success_rate": float(np.mean([r["success"] for r in res])),
        "final_dist_m_mean": round(float(dists.mean()), 4),
        "final_dist_m_max": round(float(dists.max()), 4),
        "final_speed_mps_max": round(float(max(r["final_speed"] for r in res)), 4),
        "time_to_goal_s_mean": round(float(np.mean(reached)), 2) if reached else None,
    }


def final_evaluation(pool, model_path: Path, seed: int, n: int = 20, n_extended: int = 100) -> dict:
    """Run the exported model with onnxruntime on fresh randomised episodes (EVAL_EPISODE_S each).

    ``n`` to the deployment goal and ``n`` to random goals, as specified for
    the example; plus ``n_extended`` more to the deployment goal, because 20
    episodes measure a success rate near 90 % only to about +/-7 %.
    """
    rng = np.random.default_rng(seed + 7919)
    groups = {
        "deployment_goal": [sample_spec(rng, p_deploy=1.0) for _ in range(n)],
        "random_goals": [sample_spec(rng, p_deploy=0.0) for _ in range(n)],
        f"deployment_goal_{n_extended}": [sample_spec(rng, p_deploy=1.0) for _ in range(n_extended)],
    }
    out = {}
    for name, specs in groups.items():
        chunks = [list(c) for c in np.array_split(np.array(specs, dtype=object), 4) if len(c)]
        jobs = [(str(model_path), c, EVAL_EPISODE_S) for c in chunks]
        parts = pool.map(_evaluate_onnx_chunk, jobs) if pool is not None else [_evaluate_onnx_chunk(j) for j in jobs]
        out[name] = _summary([r for part in parts for r in part])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="ONNX output path (default: daemon/profiles/diffbot_policy.onnx)")
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--popsize", type=int, default=24)
    ap.add_argument("--episodes", type=int, default=6, help="episodes per candidate per generation")
    ap.add_argument("--sigma", type=float, default=0.15, help="initial CMA step size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--record", type=Path, default=RECORD_PATH)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    es = SepCMAES(initial_mean(rng), args.sigma, args.popsize, np.random.default_rng(args.seed + 1))
    val_specs = [sample_spec(np.random.default_rng(args.seed + 1000 + i), p_deploy=0.5) for i in range(24)]
    pool = mp.get_context("fork").Pool(args.workers, initializer=_worker_init) if args.workers > 1 else None
    best = (-np.inf, -np.inf, es.mean.copy(), -1)
    history = []
    try:
        for g in range(args.generations):
            specs = [sample_spec(rng) for _ in range(args.episodes)]
            pop = es.ask()
            rets, succ = evaluate(pool, pop, specs, TRAIN_EPISODE_S, args.workers)
            fit = rets.mean(axis=1)
            es.tell(fit)
            line = f"gen {g + 1:3d}  fit mean {fit.mean():7.3f} best {fit.max():7.3f}  succ {succ.mean():.2f}  sigma {es.sigma:.3f}"
            if (g + 1) % 10 == 0 or g + 1 == args.generations:
                vr, vs = evaluate(pool, es.mean[None, :], val_specs, EVAL_EPISODE_S, args.workers)
                score = (float(vs.mean()), float(vr.mean()))
                if score > best[:2]:
                    best = (score[0], score[1], es.mean.copy(), g + 1)
                line += f"  | mean policy: val succ {score[0]:.2f} ret {score[1]:.3f}"
                history.append({"generation": g + 1, "val_success": score[0], "val_return": score[1]})
            print(line + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
        train_s = time.perf_counter() - t0
        theta = best[2]
        print(f"training done in {train_s:.1f} s; keeping the search mean of generation {best[3]} (val success {best[0]:.2f})")

        export_onnx(theta, args.out)
        print(f"wrote {args.out}")
        t1 = time.perf_counter()
        ev = final_evaluation(pool, args.out, args.seed)
        eval_s = time.perf_counter() - t1
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    for k, v in ev.items():
        print(f"onnxruntime eval, {k}: success {v['success_rate'] * 100:.0f}% of {v['episodes']}, "
              f"final distance mean {v['final_dist_m_mean']:.3f} m max {v['final_dist_m_max']:.3f} m, "
              f"time to goal {v['time_to_goal_s_mean']}")
    record = {
        "seed": args.seed,
        "generations": args.generations,
        "popsize": args.popsize,
        "episodes_per_candidate": args.episodes,
        "initial_sigma": args.sigma,
        "workers": args.workers,
        "optimiser": "sep-CMA-ES",
        "policy": f"MLP {OBS_SIZE}-{HIDDEN}-{ACT_SIZE}, tanh",
        "kept_generation": best[3],
        "train_episode_s": TRAIN_EPISODE_S,
        "eval_episode_s": EVAL_EPISODE_S,
        "success": f"within {SUCCESS_RADIUS_M} m of the goal and slower than {SUCCESS_SPEED_MPS} m/s at the end",
        "final_eval": ev,
        "validation_history": history,
        "train_wall_time_s": round(train_s, 1),
        "eval_wall_time_s": round(eval_s, 1),
        "total_wall_time_s": round(time.perf_counter() - t0, 1),
        "output": str(args.out.resolve().relative_to(REPO)) if args.out.resolve().is_relative_to(REPO) else str(args.out),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    args.record.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.record}; total wall time {record['total_wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
