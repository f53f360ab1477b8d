"""How the tick's cost grows (issue 19 item 4): tick time and jitter against one parameter at a time.

Axes, each from the shipped diffbot profile (the others as shipped):

* ``observation``: observation size 10 -> 1,000 (a JointState stream of that many joints, positions and
  velocities read; the MLP's input follows);
* ``model``: MLP hidden width 64 -> 1,024 (two hidden layers, ReLU) and an LSTM (one layer, one step per tick,
  hidden 64 and 256), built here with ``onnx.helper`` on the shipped observation;
* ``streams``: 3 -> 16 streams (the shipped three plus IMUs, each read by one term);
* ``camera``: 320x240 -> 1920x1080 rgb8, the frame read by the tick (its snapshot copies it every tick, as a
  policy with an image input would), plus the ingest's conversion of one frame (``ingest_us``: where ingest runs
  in a child, that is the child's cost per frame, not the tick's);
* ``rate``: loop rate 50 Hz -> 1 kHz;
* ``spin``: at 500 Hz, how long before each deadline the loop stops sleeping and spins (FixedRateLoop's
  ``spin_s``; the daemon's is 200 us, 50 us under SCHED_FIFO): a thread that slept most of the period runs its
  tick on a core that went idle (caches, frequency, a VM's halted vCPU), and the tick is slower for it.

Each point: ControlTick.step with the ONNX Runtime backend on fed rings at a clock that stands still (the samples
stay fresh; bench/fusion_cost.py does the same), paced by the daemon's FixedRateLoop at the loop rate for
``seconds`` on one thread at the normal policy, in this process, no DDS: the daemon's own cost and how it
scales, not the transport's. ``tick_us`` is the step (fusion, inference, action), ``jitter_us`` the loop's
|interval - period|. Figures move with the machine; the shape is what carries over.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .floor import pct_us

BASE_OBS = 5  # the shipped observation: 2 wheel velocities, gyro z, goal (2)
MODEL_DIR_NAME = "growth_models"


def _mlp(path: Path, n_in: int, hidden: int, n_out: int = 2) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    dims = [n_in, hidden, hidden, n_out]
    inits, nodes, x = [], [], "obs"
    for k in range(3):
        w = (rng.standard_normal((dims[k], dims[k + 1])) / np.sqrt(dims[k])).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(np.zeros(dims[k + 1], np.float32), f"b{k}")]
        y = "action" if k == 2 else f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], [y if k == 2 else f"g{k}"]))
        if k < 2:
            nodes.append(helper.make_node("Relu", [f"g{k}"], [y]))
        x = y
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, n_out])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def _lstm(path: Path, n_in: int, hidden: int, n_out: int = 2) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    s = 1 / np.sqrt(hidden)
    inits = [numpy_helper.from_array((rng.standard_normal((1, 4 * hidden, n_in)) * s).astype(np.float32), "W"),
             numpy_helper.from_array((rng.standard_normal((1, 4 * hidden, hidden)) * s).astype(np.float32), "R"),
             numpy_helper.from_array(np.zeros((1, 8 * hidden), np.float32), "B"),
             numpy_helper.from_array(np.array([1, 1, n_in], np.int64), "seq_shape"),
             numpy_helper.from_array(np.array([1, hidden], np.int64), "h_shape"),
             numpy_helper.from_array((rng.standard_normal((hidden, n_out)) * s).astype(np.float32), "wo"),
             numpy_helper.from_array(np.zeros(n_out, np.float32), "bo")]
    nodes = [helper.make_node("Reshape", ["obs", "seq_shape"], ["seq"]),
             helper.make_node("LSTM", ["seq", "W", "R", "B"], ["", "y_h"], hidden_size=hidden),
             helper.make_node("Reshape", ["y_h", "h_shape"], ["h"]),
             helper.make_node("Gemm", ["h", "wo", "bo"], ["action"])]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, n_out])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def _base() -> dict:
    from edgepilot.daemon.config.profile import default_profile_path
    from edgepilot.daemon.streams.integrity import OPT_IN_LIMITS

    d = yaml.safe_load(default_profile_path().read_text())
    for cfg in d["streams"].values():
        for key in OPT_IN_LIMITS:
            cfg.pop(key, None)
    d["loop"].pop("sync", None)  # no phase lock: no sensor arrives here, the loop paces on its own deadlines
    d["realtime"] = {"gc_freeze": True}
    d["loop"]["rate_hz"] = DEFAULT_RATE_HZ  # the loop bench's rate; the shipped profile's is 50 Hz
    return d


def variant(axis: str, value: Any) -> tuple[dict, int]:
    """The profile (as a dict) for one point of ``axis`` and its observation size."""
    d = _base()
    n_obs = BASE_OBS
    if axis == "observation":
        # positions of n_pos joints + velocities of the first n_vel + gyro z + goal (2) = value
        n_pos = max(2, (int(value) - 2) // 2)
        n_vel = max(1, int(value) - 3 - n_pos)
        joints = ["left_wheel_joint", "right_wheel_joint", *[f"j{i}" for i in range(n_pos - 2)]]
        d["streams"]["joint_states"]["joints"] = joints
        d["observation"]["terms"] = [
            {"kind": "joint_position", "stream": "joint_states", "joints": joints},
            {"kind": "joint_velocity", "stream": "joint_states", "joints": joints[:n_vel], "scale": 0.1},
            *d["observation"]["terms"][1:]]
        n_obs = n_pos + n_vel + 3
    elif axis == "streams":
        for i in range(int(value) - 3):
            d["streams"][f"imu{i}"] = {**d["streams"]["imu"], "topic": f"/imu{i}/data"}
            d["observation"]["terms"].append({"kind": "imu_angular_velocity", "stream": f"imu{i}", "axes": ["z"]})
        n_obs += int(value) - 3
    elif axis == "camera":
        w, h = value
        d["streams"]["camera"].update(width=int(w), height=int(h))
    elif axis == "rate":
        d["loop"]["rate_hz"] = float(value)
    return d, n_obs


def _fed(profile, camera_frames: bool):  # type: ignore[no-untyped-def]
    from edgepilot.daemon.streams.ingest import make_ingest
    from edgepilot.daemon.transport import ros_msgs as m

    ingests, ingest_ns = {}, 0
    # The camera first: timing its conversion takes long enough to age the other streams' samples.
    for name, c in sorted(profile.streams.items(), key=lambda kv: not kv[1].type.endswith("/Image")):
        ing = make_ingest(name, c, None, profile)
        if c.type.endswith("JointState"):
            n = len(c.joints)
            ing.on_message(m.JointState(name=list(c.joints), position=[0.1] * n, velocity=[1.0] * n))
        elif c.type.endswith("Imu"):
            ing.on_message(m.Imu(angular_velocity=m.Vector3(z=0.2), linear_acceleration=m.Vector3(z=9.81)))
        elif c.type.endswith("/Image"):
            msg = m.Image(height=c.height, width=c.width, encoding=c.encoding, step=c.width * 3,
                          data=bytes(c.width * c.height * 3))
            if camera_frames:  # the conversion of one frame into a ring, as the ingest does per message; on a
                # ring of its own first, so the samples the tick reads are not aged by it
                timed = make_ingest(name, c, None, profile)
                t0 = time.perf_counter_ns()
                for _ in range(10):
                    timed.on_message(msg)
                ingest_ns = (time.perf_counter_ns() - t0) // 10
            ing.on_message(msg)
        assert ing.ring.count >= 1, (name, ing.last_error)
        ingests[name] = ing
    return ingests, ingest_ns


def run_point(axis: str, value: Any, model: tuple[str, int], seconds: float, model_dir: Path) -> dict[str, Any]:
    from edgepilot.daemon.action.twist import TwistActionMapper
    from edgepilot.daemon.config.profile import parse_profile
    from edgepilot.daemon.observation.builder import ObservationBuilder
    from edgepilot.daemon.observation.odometry import WheelOdometry
    from edgepilot.daemon.safety.watchdog import Watchdog
    from edgepilot.daemon.streams.ingest import StreamSnapshot
    from edgepilot.daemon.tick import ControlTick
    from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    d, n_obs = variant(axis, value)
    kind, hidden = model
    path = model_dir / f"{kind}{hidden}_in{n_obs}.onnx"
    if not path.exists():
        (_lstm if kind == "lstm" else _mlp)(path, n_obs, hidden)
    d["engine"]["model"] = str(path)
    profile = parse_profile(d, base_dir=model_dir)
    backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    ingests, ingest_ns = _fed(profile, axis == "camera")  # after the model's load: the samples' age counts from here
    snaps = {name: StreamSnapshot(i) for name, i in ingests.items()}
    if axis == "camera":
        snaps["camera"].sample  # a reader of the frame: every refresh copies it (StreamSnapshot)
    odo = WheelOdometry(profile.odometry.wheel_radius_m)
    now = time.monotonic_ns()
    tick = ControlTick(profile, snaps, backend, ObservationBuilder(profile, snaps, odo),
                       TwistActionMapper(profile.action, np.float32), Watchdog(profile.streams, 1), odometry=odo,
                       clock_ns=lambda: now)
    tick.started(now - int(profile.watchdog.startup_grace_s * 1e9))
    try:
        rate = profile.loop.rate_hz
        n = max(50, int(seconds * rate))
        for _ in range(100):
            tick.step(now)
        assert tick.ok, tick.watchdog.active_names()
        loop = FixedRateLoop(rate, spin_s=(value if axis == "spin" else 200) * 1e-6, history=n + 1)
        step, wait, end = tick.step, loop.wait_next, loop.end_tick
        for _ in range(n):
            wait()
            step(now)
            end()
    finally:
        backend.close()
    drop = min(10, n // 10)
    jitter = np.abs(np.diff(loop.start_ns[drop:n]) - loop.period_ns)
    inf = tick.inference_ns[100 + drop:100 + n]
    shown = f"{kind} {hidden}" if axis == "model" else f"{value} us" if axis == "spin" else f"{value[0]}x{value[1]}" if isinstance(value, tuple) else value
    out = {"axis": axis, "value": shown,
           "model": f"{kind} {hidden}", "observation_size": n_obs, "rate_hz": rate, "ticks": n,
           "tick_us": pct_us(loop.duration_ns[drop:n]), "inference_us": pct_us(inf), "jitter_us": pct_us(jitter),
           "overruns": int((np.diff(loop.start_ns[drop:n]) > 1.5 * loop.period_ns).sum())}
    if axis == "camera":
        out["ingest_us_per_frame"] = round(ingest_ns / 1e3, 1)
    return out


AXES: dict[str, list[Any]] = {
    "observation": [10, 100, 300, 1000],
    "model": [("mlp", 64), ("mlp", 256), ("mlp", 1024), ("lstm", 64), ("lstm", 256)],
    "streams": [3, 6, 10, 16],
    "camera": [(320, 240), (640, 480), (1280, 720), (1920, 1080)],
    "rate": [50, 100, 250, 500, 1000],
    "spin": [50, 200, 1000, 1900],
}
DEFAULT_MODEL = ("mlp", 64)
DEFAULT_RATE_HZ = 500


def measure(seconds: float, out_dir: Path) -> dict[str, Any]:
    """Every axis's points; writes growth.png and growth.md into ``out_dir``; returns the figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = out_dir / MODEL_DIR_NAME
    model_dir.mkdir(exist_ok=True)
    points = []
    for axis, values in AXES.items():
        for v in values:
            if axis == "model":
                points.append(run_point(axis, None, v, seconds, model_dir))
            else:
                points.append(run_point(axis, v, DEFAULT_MODEL, seconds, model_dir))
    md = markdown(points)
    (out_dir / "growth.md").write_text(md)
    plot(points, out_dir / "growth.png")
    return {"seconds_per_point": seconds, "method": (__doc__ or "").strip(), "points": points,
            "table_md": str(out_dir / "growth.md"), "png": str(out_dir / "growth.png")}


def markdown(points: list[dict]) -> str:
    rows = ["| axis | value | model | obs | rate Hz | tick p50 us | tick p99 us | inference p50 us | jitter p50 us "
            "| jitter p99 us | overruns | ingest us/frame |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in points:
        rows.append(f"| {p['axis']} | {p['value']} | {p['model']} | {p['observation_size']} | {p['rate_hz']:g} "
                    f"| {p['tick_us']['p50']} | {p['tick_us']['p99']} | {p['inference_us']['p50']} "
                    f"| {p['jitter_us']['p50']} | {p['jitter_us']['p99']} | {p['overruns']} "
                    f"| {p.get('ingest_us_per_frame', '')} |")
    return "\n".join(rows) + "\n"


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = list(AXES)
    cols = 3
    rows = (len(axes) + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(13, 3.6 * rows), squeeze=False)
    subs = grid.ravel()
    for ax in subs[len(axes):]:
        ax.set_visible(False)
    for ax, name in zip(subs, axes):
        pts = [p for p in points if p["axis"] == name]
        labels = [str(p["value"]) if name != "model" else p["model"] for p in pts]
        x = np.arange(len(pts))
        for key, style in (("tick_us", "o-"), ("jitter_us", "s--")):
            ax.plot(x, [p[key]["p50"] for p in pts], style, label=f"{key[:-3]} p50")
            ax.plot(x, [p[key]["p99"] for p in pts], style, alpha=0.5, label=f"{key[:-3]} p99")
        ax.set_xticks(x, labels, rotation=30, fontsize=8)
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_ylabel("us")
        ax.grid(alpha=0.3)
    subs[0].legend(fontsize=7)
    fig.suptitle("edgepilot tick cost growth (ControlTick + ONNX Runtime, FixedRateLoop, no DDS)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
