"""The sensor load of the loop benchmark, as its own process: JointState and Imu at 1 kHz, Image 640x480 rgb8 at 30 Hz.

Every message's ``header.stamp`` is its publish time on the host's wall clock
(``time.time_ns``, ROS time without use_sim_time), so a receiver on the same
host can tell how old it is.

End-to-end latency marker: the wheel velocities toggle between two levels at
random intervals (``TOGGLE_MIN_S``..``TOGGLE_MAX_S``, so the toggles are not
phase-locked to any loop). The publish time of the first JointState of each
new level is saved; wheel positions stay fixed and the gyro reads zero, so a
policy fed from these streams changes its command exactly when (and only
because) the level changes. :mod:`bench.command_probe` then pairs each toggle
with the first command that reflects it.

    python -m bench.sensor_load --domain-id D --duration S --out toggles.npy

The loop benchmark runs it as two processes, as a robot has two drivers: joint states + IMU
(``--no-image``, SCHED_FIFO where permitted, as a motor/IMU driver runs) and the camera (``--image-only``,
normal policy). One Python process publishing both would delay joint states behind each 921 kB frame it
serialises and sends, a delay no robot's joint-state driver has and that would be charged to the system under
test.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time

import numpy as np

JOINTS = ["left_wheel_joint", "right_wheel_joint"]
JOINT_HZ = 1000.0
IMU_HZ = 1000.0
IMAGE_HZ = 30.0
WIDTH, HEIGHT = 640, 480
LEVELS = (0.0, 10.0)  # wheel velocity, rad/s: 0 and 1.0 after the profile's 0.1 scale
TOGGLE_MIN_S = 0.02
TOGGLE_MAX_S = 0.04


def _stamp(m, t_ns: int):  # type: ignore[no-untyped-def]
    return m.Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)


def run(domain_id: int, duration_s: float, out: str | None, image: bool = True, proprio: bool = True) -> dict:
    from edgepilot.daemon.transport import ros_msgs as m
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    t = DdsTransport(domain_id)
    # Writers only for what this process publishes: an idle writer still counts as a second publisher on the topic
    # (the daemon's max_publishers check), which zeroed every command of the loop benchmark.
    pj = t.publisher("/joint_states", m.JointState, reliable=False) if proprio else None
    pi = t.publisher("/imu/data", m.Imu, reliable=False) if proprio else None
    pc = t.publisher("/camera/image_raw", m.Image, reliable=False) if image else None
    frame = np.random.default_rng(1).integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8).tobytes()
    toggles = np.zeros(int(duration_s / TOGGLE_MIN_S) + 16, np.int64)
    levels = np.zeros_like(toggles)
    n_toggles = 0
    counts = {"joint_states": 0, "imu": 0, "image": 0}
    period = int(1e9 / JOINT_HZ)
    img_period = int(1e9 / IMAGE_HZ)
    t0 = time.monotonic_ns()
    next_img = t0
    next_toggle = t0 + int(rng.uniform(TOGGLE_MIN_S, TOGGLE_MAX_S) * 1e9)
    level = 0
    k = 0
    end = t0 + int(duration_s * 1e9)
    while not stop:
        deadline = t0 + k * period
        now = time.monotonic_ns()
        if now >= end:
            break
        if deadline > now:
            time.sleep((deadline - now) * 1e-9)
        k += 1
        mark = False
        if time.monotonic_ns() >= next_toggle:
            level ^= 1
            mark = True
            next_toggle += int(rng.uniform(TOGGLE_MIN_S, TOGGLE_MAX_S) * 1e9)
        v = LEVELS[level]
        if proprio:
            wall = time.time_ns()
            pj.publish(m.JointState(header=m.Header(stamp=_stamp(m, wall), frame_id="base_link"), name=JOINTS,
                                    position=[0.0, 0.0], velocity=[v, v], effort=[]))
            if mark and n_toggles < toggles.size:
                toggles[n_toggles] = wall
                levels[n_toggles] = level
                n_toggles += 1
            counts["joint_states"] += 1
            wall = time.time_ns()
            # Accelerometer noise as a real IMU has (the shipped profile faults a frozen IMU); the policy reads only
            # the gyro's z, so its command stays constant between toggles, as the latency method needs.
            pi.publish(m.Imu(header=m.Header(stamp=_stamp(m, wall), frame_id="imu_link"),
                             linear_acceleration=m.Vector3(x=rng.gauss(0.0, 0.02), z=9.81)))
            counts["imu"] += 1
        if image and time.monotonic_ns() >= next_img:
            next_img += img_period
            wall = time.time_ns()
            pc.publish(m.Image(header=m.Header(stamp=_stamp(m, wall), frame_id="camera"), height=HEIGHT, width=WIDTH,
                               encoding="rgb8", step=WIDTH * 3, data=frame))
            counts["image"] += 1
    elapsed = (time.monotonic_ns() - t0) / 1e9
    t.close()
    if out:
        np.save(out, np.stack([toggles[:n_toggles], levels[:n_toggles]]))
    return {"elapsed_s": elapsed, **{f"{k}_hz": round(v / elapsed, 1) for k, v in counts.items() if v}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", default=None, help="where to save the toggle publish times (.npy)")
    p.add_argument("--no-image", action="store_true", help="joint states and IMU only")
    p.add_argument("--image-only", action="store_true", help="the camera only (a camera driver of its own)")
    p.add_argument("--rt-priority", type=int, default=None, help="SCHED_FIFO priority where permitted")
    a = p.parse_args(argv)
    import json

    if a.rt_priority is not None:
        try:  # before the DDS participant's threads exist, so they inherit it
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(a.rt_priority))
        except (PermissionError, OSError):
            pass
    print(json.dumps(run(a.domain_id, a.duration, a.out, image=not a.no_image, proprio=not a.image_only)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
