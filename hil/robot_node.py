"""The simulated robot as a ROS 2 node: MuJoCo physics publishing its sensors, driven by /cmd_vel.

It behaves like the robot's base controller would: sensors published at
their real rates with wall-clock header stamps, the last Twist converted to
wheel velocity targets, and the wheels stopped when no command arrived for
``cmd_timeout_s`` (0.5 s, as ros2_controllers' diff_drive_controller does).
:class:`SensorFaults` lets a test or rig stop a stream or poison it with NaN
while the node runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.daemon.fixed_rate_loop import FixedRateLoop


@dataclass
class SensorFaults:
    """Fault switches, flipped from another thread while the node runs. Stream names: joint_states, imu, camera."""

    stopped: set[str] = field(default_factory=set)
    nan: set[str] = field(default_factory=set)


@dataclass
class CommandLog:
    """Every /cmd_vel the robot received: monotonic receipt time (s), vx (m/s), wz (rad/s)."""

    t: list[float] = field(default_factory=list)
    vx: list[float] = field(default_factory=list)
    wz: list[float] = field(default_factory=list)

    def since(self, t0: float) -> list[tuple[float, float, float]]:
        return [(t, v, w) for t, v, w in zip(self.t, self.vx, self.wz) if t >= t0]


def _stamp(msgs: Any, wall: float) -> Any:
    sec = int(wall)
    return msgs.Time(sec=sec, nanosec=int((wall - sec) * 1e9))


class RobotNode:
    """Publishes /joint_states and /imu/data at ``sensor_hz`` and /camera/image_raw at ``camera_hz``; applies /cmd_vel."""

    def __init__(self, transport: Any, sim: Any, goal_xy: tuple[float, float], *, sensor_hz: float = 200.0,
                 camera_hz: float = 15.0, camera_size: tuple[int, int] = (64, 48), cmd_timeout_s: float = 0.5,
                 goal_tolerance_m: float = 0.15, faults: SensorFaults | None = None, verbose: bool = True) -> None:
        from edgepilot.daemon.transport import ros_msgs as msgs

        self.msgs = msgs
        self.transport = transport
        self.sim = sim
        self.goal = goal_xy
        self.sensor_hz = sensor_hz
        self.camera_period = 1.0 / camera_hz
        self.camera_size = camera_size
        self.cmd_timeout_s = cmd_timeout_s
        self.tolerance = goal_tolerance_m
        self.faults = faults or SensorFaults()
        self.verbose = verbose
        self.commands = CommandLog()
        self._cmd = (0.0, 0.0, -1.0)  # vx, wz, receipt time
        self.joint_pub = transport.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
        self.imu_pub = transport.publisher("/imu/data", "sensor_msgs/msg/Imu", reliable=False)
        self.cam_pub = transport.publisher("/camera/image_raw", "sensor_msgs/msg/Image", reliable=False)
        transport.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", self._on_cmd)
        self.published = {"joint_states": 0, "imu": 0, "camera": 0}
        self.stop_event = threading.Event()
        self.goal_held = threading.Event()

    def _on_cmd(self, msg: Any) -> None:
        t = time.monotonic()
        vx, wz = float(msg.linear.x), float(msg.angular.z)
        self._cmd = (vx, wz, t)
        c = self.commands
        c.t.append(t)
        c.vx.append(vx)
        c.wz.append(wz)

    def distance_to_goal(self) -> float:
        x, y, _ = self.sim.pose()
        return math.hypot(self.goal[0] - x, self.goal[1] - y)

    def _publish_sensors(self, wall: float, publish_camera: bool) -> None:
        m = self.msgs
        f = self.faults
        header = m.Header(stamp=_stamp(m, wall), frame_id="base_link")
        if "joint_states" not in f.stopped:
            names, pos, vel = self.sim.joint_state()
            if "joint_states" in f.nan:
                vel = np.full_like(vel, np.nan)
            self.joint_pub.publish(m.JointState(header=header, name=list(names), position=[float(p) for p in pos],
                                                velocity=[float(v) for v in vel], effort=[]))
            self.published["joint_states"] += 1
        if "imu" not in f.stopped:
            gyro, acc, quat = self.sim.imu()
            if "imu" in f.nan:
                gyro = np.full(3, np.nan)
            cov = [0.0] * 9
            self.imu_pub.publish(m.Imu(
                header=m.Header(stamp=header.stamp, frame_id="imu_link"),
                orientation=m.Quaternion(x=float(quat[0]), y=float(quat[1]), z=float(quat[2]), w=float(quat[3])),
                orientation_covariance=list(cov),
                angular_velocity=m.Vector3(x=float(gyro[0]), y=float(gyro[1]), z=float(gyro[2])),
                angular_velocity_covariance=list(cov),
                linear_acceleration=m.Vector3(x=float(acc[0]), y=float(acc[1]), z=float(acc[2])),
                linear_acceleration_covariance=list(cov)))
            self.published["imu"] += 1
        if publish_camera and "camera" not in f.stopped:
            w, h = self.camera_size
            img = self.sim.camera_rgb(w, h)
            self.cam_pub.publish(m.Image(header=m.Header(stamp=header.stamp, frame_id="camera_link"), height=h, width=w,
                                         encoding="rgb8", is_bigendian=0, step=w * 3, data=img.tobytes()))
            self.published["camera"] += 1

    def run(self, duration_s: float, goal_hold_s: float = 1.0, exit_at_goal: bool = False) -> dict[str, Any]:
        """Run in real time until ``duration_s`` or :attr:`stop_event`; return the result.

        Once the robot has stayed within the goal tolerance for ``goal_hold_s`` the node prints ``GOAL HELD`` and
        sets :attr:`goal_held`; it keeps publishing (so the daemon sees healthy streams until it is stopped)
        unless ``exit_at_goal``.
        """
        loop = FixedRateLoop(self.sensor_hz)
        dt = 1.0 / self.sensor_hz
        t0 = time.monotonic()
        next_cam = t0
        next_report = t0 + 1.0
        at_goal_since: float | None = None
        first_motion: float | None = None
        reached_at: float | None = None
        min_dist = self.distance_to_goal()
        while not self.stop_event.is_set():
            loop.wait_next()
            now = time.monotonic()
            if now - t0 >= duration_s:
                break
            vx, wz, t_cmd = self._cmd
            if t_cmd < 0 or now - t_cmd > self.cmd_timeout_s:
                vx, wz = 0.0, 0.0  # command timeout: the base controller stops the wheels
            if first_motion is None and (abs(vx) > 1e-6 or abs(wz) > 1e-6):
                first_motion = now
            self.sim.set_wheel_targets_from_twist(vx, wz)
            self.sim.step(dt)
            cam = now >= next_cam
            if cam:
                next_cam += self.camera_period
            self._publish_sensors(time.time(), cam)
            dist = self.distance_to_goal()
            min_dist = min(min_dist, dist)
            if dist <= self.tolerance:
                at_goal_since = at_goal_since if at_goal_since is not None else now
                if reached_at is None:
                    reached_at = now
                if not self.goal_held.is_set() and now - at_goal_since >= goal_hold_s:
                    self.goal_held.set()
                    print(f"GOAL HELD for {goal_hold_s:.1f} s at distance {dist:.3f} m", flush=True)
                    if exit_at_goal:
                        break
            else:
                at_goal_since = None
            if self.verbose and now >= next_report:
                next_report += 1.0
                x, y, yaw = self.sim.pose()
                print(f"t={now - t0:5.1f}s pose=({x:+.2f}, {y:+.2f}, {math.degrees(yaw):+.0f}deg) "
                      f"distance_to_goal={dist:.2f}m cmd=(vx {vx:+.2f} m/s, wz {wz:+.2f} rad/s)", flush=True)
            loop.end_tick()
        # GL contexts belong to the thread that made them: release the camera renderer here, not in a finaliser
        # on whatever thread the garbage collector happens to run.
        self.sim.close()
        x, y, yaw = self.sim.pose()
        final = self.distance_to_goal()
        reached = self.goal_held.is_set() and final <= self.tolerance
        return {
            "goal_reached": bool(reached),
            "goal_xy": list(self.goal),
            "final_pose": [round(x, 4), round(y, 4), round(yaw, 4)],
            "final_distance_m": round(final, 4),
            "min_distance_m": round(min_dist, 4),
            "time_to_goal_s": None if reached_at is None or first_motion is None else round(reached_at - first_motion, 3),
            "commands_received": len(self.commands.t),
            "published": dict(self.published),
            "sensor_rate_hz": round(loop.measured_rate_hz(), 2),
            "wall_s": round(time.monotonic() - t0, 3),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Simulated differential-drive robot publishing ROS 2 sensors over Cyclone DDS.")
    p.add_argument("--domain-id", type=int, default=0)
    p.add_argument("--goal", type=float, nargs=2, default=(2.0, 1.0), metavar=("X", "Y"))
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--result-json", type=Path, default=None)
    a = p.parse_args(argv)

    from edgepilot.daemon.transport.dds import DdsTransport
    from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

    sim = DiffDriveSim(SimParams(), np.random.default_rng(a.seed))
    transport = DdsTransport(a.domain_id)
    node = RobotNode(transport, sim, (a.goal[0], a.goal[1]))
    import signal

    signal.signal(signal.SIGTERM, lambda *_: node.stop_event.set())
    print(f"simulated robot up: publishing /joint_states, /imu/data at 200 Hz, /camera/image_raw at 15 Hz; "
          f"goal ({a.goal[0]:.2f}, {a.goal[1]:.2f})", flush=True)
    try:
        result = node.run(a.duration)
    finally:
        transport.close()
    print(f"{'goal reached' if result['goal_reached'] else 'goal NOT reached'}: final distance {result['final_distance_m']} m",
          flush=True)
    if a.result_json:
        tmp = a.result_json.with_name(a.result_json.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.result_json)
    return 0 if result["goal_reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
