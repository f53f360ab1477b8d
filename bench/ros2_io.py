"""ROS 2 I/O bench: converter cost per message, fast-replay speed and recording throughput.

Figures (median of repeated runs, this machine, no ROS):

* converter cost per message on the transport's thread (``on_message``:
  checks, mapping, ring write) for JointState (2 and 30 joints), Imu,
  Image 640x480 rgb8 / bgr8 / mono16 with padded rows, CompressedImage
  640x480 jpeg;
* fast replay of a synthetic 30 s diffbot session (200 Hz joints and IMU,
  15 Hz 64x48 camera, 50 Hz loop with the real policy): wall time and the
  speed factor (bag seconds per wall second);
* the same replay while recording everything to MCAP.

    .venv/bin/python bench/ros2_io.py [--duration 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgepilot.daemon.config.profile import default_profile_path, parse_profile  # noqa: E402
from edgepilot.daemon.streams.ingest import make_ingest  # noqa: E402
from edgepilot.daemon.transport import ros_msgs as m  # noqa: E402


def per_message_us(ingest, msg, n: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            ingest.on_message(msg)
        runs.append((time.perf_counter() - t0) / n * 1e6)
    assert ingest.dropped == 0, ingest.last_error
    return round(statistics.median(runs), 2)


def converters() -> dict[str, float]:
    base = yaml.safe_load(default_profile_path().read_text())
    out: dict[str, float] = {}
    p = parse_profile(base, base_dir=default_profile_path().parent)
    js = make_ingest("joint_states", p.streams["joint_states"], None, p)
    out["joint_state_2_joints_us"] = per_message_us(js, m.JointState(name=["left_wheel_joint", "right_wheel_joint"],
                                                                     position=[1.0, 2.0], velocity=[3.0, 4.0]), 20000)
    names = [f"j{i}" for i in range(30)]
    d = yaml.safe_load(default_profile_path().read_text())
    d["streams"]["joint_states"]["joints"] = names + ["left_wheel_joint", "right_wheel_joint"]
    p30 = parse_profile(d, base_dir=default_profile_path().parent)
    js30 = make_ingest("joint_states", p30.streams["joint_states"], None, p30)
    allnames = list(reversed(names)) + ["left_wheel_joint", "right_wheel_joint"]
    out["joint_state_32_joints_us"] = per_message_us(js30, m.JointState(name=allnames, position=[0.1] * 32, velocity=[0.2] * 32), 20000)
    imu = make_ingest("imu", p.streams["imu"], None, p)
    out["imu_us"] = per_message_us(imu, m.Imu(angular_velocity=m.Vector3(z=0.1), linear_acceleration=m.Vector3(z=9.8)), 20000)
    rng = np.random.default_rng(0)
    for enc, ch, dtype in (("rgb8", 3, np.uint8), ("bgr8", 3, np.uint8), ("mono16", 1, np.uint16)):
        d = yaml.safe_load(default_profile_path().read_text())
        d["streams"]["camera"].update(width=640, height=480, encoding=enc)
        pc = parse_profile(d, base_dir=default_profile_path().parent)
        cam = make_ingest("camera", pc.streams["camera"], None, pc)
        row = 640 * ch * np.dtype(dtype).itemsize
        step = row + 64
        data = rng.integers(0, 256, 480 * step, dtype=np.uint8).tobytes()
        out[f"image_640x480_{enc}_us"] = per_message_us(
            cam, m.Image(height=480, width=640, encoding=enc, step=step, data=data), 200)
    import cv2

    d = yaml.safe_load(default_profile_path().read_text())
    d["streams"]["camera"].update(width=640, height=480, encoding="rgb8", type="sensor_msgs/msg/CompressedImage")
    pc = parse_profile(d, base_dir=default_profile_path().parent)
    cam = make_ingest("camera", pc.streams["camera"], None, pc)
    img = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (9, 9), 0)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    out["compressed_jpeg_640x480_us"] = per_message_us(cam, NS(format="jpeg", data=jpg), 50)
    return out


def replay(duration_s: float) -> dict[str, float]:
    from tests.daemon.transport.bag.synthetic_bags import session_messages, write_bag

    from edgepilot.replay import run_replay

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_bag(Path(tmp) / "session", session_messages(duration_s, imu_gap=(duration_s / 2, duration_s / 2 + 0.3)))
        devnull = open("/dev/null", "w")
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            summary, _ = run_replay(bag, default_profile_path(), log=devnull)
            walls.append(time.perf_counter() - t0)
        wall = statistics.median(walls)
        out["replay_bag_s"] = duration_s
        out["replay_messages"] = sum(summary["replay"]["delivered"].values())
        out["replay_ticks"] = summary["ticks"]
        out["replay_wall_s"] = round(wall, 3)
        out["replay_speed_factor"] = round(duration_s / wall, 1)
        walls = []
        for i in range(3):
            t0 = time.perf_counter()
            summary, _ = run_replay(bag, default_profile_path(), record=Path(tmp) / f"rec{i}.mcap", log=devnull)
            walls.append(time.perf_counter() - t0)
        out["replay_record_wall_s"] = round(statistics.median(walls), 3)
        out["replay_record_speed_factor"] = round(duration_s / statistics.median(walls), 1)
        out["recorded_messages"] = summary["recording"]["recorded"]
        out["recorded_mb"] = round((Path(tmp) / "rec0.mcap").stat().st_size / 1e6, 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=30.0, help="synthetic session length, s")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result = {**converters(), **replay(a.duration)}
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
