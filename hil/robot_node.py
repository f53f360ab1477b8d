"""The simulated robot as a ROS 2 node: MuJoCo physics publishing its sensors, driven by /cmd_vel.

It behaves like the robot's base controller would: sensors published at
their real rates with wall-clock header stamps (the time each reading was
taken), the last Twist (or wheel-velocity targets, when
``joint_command_topic`` is set) applied to the wheels, and the wheels
stopped when no command arrived for ``cmd_timeout_s`` (0.5 s, as
ros2_controllers' diff_drive_controller does).

Between the simulator and the wire sit a :class:`~edgepilot.hil.sensor_models.SensorModel`
(noise, bias, latency, dropout; default ideal) and the fault switches of
:class:`~edgepilot.hil.faults.SensorFaults`, which a test or the rig flips
while the node runs (stop a stream, poison it with NaN, freeze it, restamp,
duplicate, reorder, break, delay or flood its messages).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop

from .faults import SensorFaultInjector, SensorFaults
from .sensor_messages import build as build_message
from .sensor_models import STREAMS, SensorModel, SensorModelState

#: A robot tick this much later than the previous one is a publishing gap of the rig (5 sensor periods at 200 Hz,
#: half the shipped profiles' smallest max_age_s): shorter ones cannot make a stream stale.
PUBLISH_GAP_S = 0.025

__all__ = ["RobotNode", "SensorFaults", "CommandLog", "PoseTrace"]


@dataclass
class CommandLog:
    """Every /cmd_vel the robot received: monotonic receipt time (s), vx (m/s), wz (rad/s)."""

    t: list[float] = field(default_factory=list)
    vx: list[float] = field(default_factory=list)
    wz: list[float] = field(default_factory=list)

    def since(self, t0: float) -> list[tuple[float, float, float]]:
        return [(t, v, w) for t, v, w in zip(self.t, self.vx, self.wz) if t >= t0]


@dataclass
class PoseTrace:
    """Ground-truth pose sampled while running: monotonic time (s), x, y (m, world frame), distance to goal (m)."""

    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)


class _Outbox:
    """Messages waiting for their publish time, one FIFO per stream.

    A message goes out at the first robot tick at or after it is due, never
    before the ones queued ahead of it: a link that stalls releases its
    backlog in order, as a real one does.
    """

    def __init__(self) -> None:
        self.queues: dict[str, deque[tuple[float, Any]]] = {}

    def put(self, stream: str, due: float, msg: Any) -> None:
        self.queues.setdefault(stream, deque()).append((due, msg))

    def due(self, now: float) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for stream, q in self.queues.items():
            while q and q[0][0] <= now + 1e-4:
                out.append((stream, q.popleft()[1]))
        return out


class RobotNode:
    """Publishes /joint_states and /imu/data at ``sensor_hz`` and /camera/image_raw at ``camera_hz``; applies /cmd_vel.

    ``joint_command_topic``: also accept wheel velocity targets (std_msgs/Float64MultiArray, [left, right] rad/s,
    as ros2_control's forward_command_controller takes them); the newest command of either kind drives the wheels.
    """

    def __init__(self, transport: Any, sim: Any, goal_xy: tuple[float, float], *, sensor_hz: float = 200.0,
                 camera_hz: float = 15.0, camera_size: tuple[int, int] = (64, 48), cmd_timeout_s: float = 0.5,
                 goal_tolerance_m: float = 0.15, faults: SensorFaults | None = None, verbose: bool = True,
                 sensor_model: SensorModel | None = None, seed: int = 0, joint_command_topic: str | None = None,
                 trace_hz: float = 20.0) -> None:
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
        self.sensor_model = sensor_model or SensorModel.ideal()
        self.sensors = SensorModelState(self.sensor_model, np.random.default_rng(seed))
        self.injector = SensorFaultInjector(self.faults, {"joint_states": 1.0 / sensor_hz, "imu": 1.0 / sensor_hz,
                                                          "camera": self.camera_period})
        self.commands = CommandLog()
        self.trace = PoseTrace()
        self._trace_period = 1.0 / trace_hz
        self._cmd: tuple[str, float, float, float] = ("twist", 0.0, 0.0, -1.0)  # kind, a, b, receipt time
        self._outbox = _Outbox()
        self._publishers = {
            "joint_states": transport.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False),
            "imu": transport.publisher("/imu/data", "sensor_msgs/msg/Imu", reliable=False),
            "camera": transport.publisher("/camera/image_raw", "sensor_msgs/msg/Image", reliable=False),
        }
        self.joint_pub = self._publishers["joint_states"]
        self.imu_pub = self._publishers["imu"]
        self.cam_pub = self._publishers["camera"]
        transport.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", self._on_cmd)
        self.joint_commands_received = 0
        if joint_command_topic:
            transport.subscribe(joint_command_topic, "std_msgs/msg/Float64MultiArray", self._on_joint_cmd)
        self.published = {"joint_states": 0, "imu": 0, "camera": 0}
        #: Stretches (CLOCK_MONOTONIC s) in which this node itself published nothing for longer than
        #: PUBLISH_GAP_S: the simulated robot was descheduled (a busy machine). The daemon then rightly sees its
        #: sensors late; hil/measure.py excuses the stops inside them as the rig's, and says so.
        self.publish_gaps: list[tuple[float, float]] = []
        self.stop_event = threading.Event()
        self.goal_held = threading.Event()

    def _on_cmd(self, msg: Any) -> None:
        t = time.monotonic()
        vx, wz = float(msg.linear.x), float(msg.angular.z)
        self._cmd = ("twist", vx, wz, t)
        c = self.commands
        c.t.append(t)
        c.vx.append(vx)
        c.wz.append(wz)

    def _on_joint_cmd(self, msg: Any) -> None:
        data = list(msg.data)
        if len(data) != 2:
            return  # a controller ignores a command of the wrong size (and logs it); so does the robot
        self.joint_commands_received += 1
        self._cmd = ("wheels", float(data[0]), float(data[1]), time.monotonic())

    def distance_to_goal(self) -> float:
        x, y, _ = self.sim.pose()
        return math.hypot(self.goal[0] - x, self.goal[1] - y)

    def _read(self, stream: str) -> dict[str, Any]:
        if stream == "joint_states":
            names, pos, vel = self.sim.joint_state()
            return {"name": tuple(names), "position": np.array(pos, dtype=np.float64),
                    "velocity": np.array(vel, dtype=np.float64)}
        if stream == "imu":
            gyro, acc, quat = self.sim.imu()
            return {"orientation": np.array(quat, dtype=np.float64), "angular_velocity": np.array(gyro, dtype=np.float64),
                    "linear_acceleration": np.array(acc, dtype=np.float64)}
        w, h = self.camera_size
        return {"image": self.sim.camera_rgb(w, h)}

    def _publish_sensors(self, wall: float, publish_camera: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        f = self.faults
        for stream in STREAMS:
            if stream == "camera" and not publish_camera:
                continue
            if stream in f.stopped:
                self.injector.apply(stream, {}, wall)  # counts the stop; reads nothing (no render)
                continue
            if self.sensors.drop(stream):
                continue
            values = self.sensors.apply(stream, self._read(stream))
            due = now + self.sensor_model.latency_s(stream) + f.delay_s.get(stream, 0.0)
            for reading in self.injector.apply(stream, values, wall):
                self._outbox.put(stream, due, build_message(self.msgs, stream, reading))
        for stream, msg in self._outbox.due(now):
            self._publishers[stream].publish(msg)
            self.published[stream] += 1

    def _apply_command(self, now: float) -> tuple[float, float]:
        """Drive the wheels from the newest command (zero after the timeout); return it as (vx, wz) for reports."""
        kind, a, b, t_cmd = self._cmd
        if t_cmd < 0 or now - t_cmd > self.cmd_timeout_s:
            self.sim.set_wheel_targets_from_twist(0.0, 0.0)  # command timeout: the base controller stops the wheels
            return 0.0, 0.0
        if kind == "wheels":
            self.sim.set_wheel_targets(a, b)
            return a, b
        self.sim.set_wheel_targets_from_twist(a, b)
        return a, b

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
        next_trace = t0
        at_goal_since: float | None = None
        first_motion: float | None = None
        reached_at: float | None = None
        min_dist = self.distance_to_goal()
        prev = t0
        while not self.stop_event.is_set():
            loop.wait_next()
            now = time.monotonic()
            if now - t0 >= duration_s:
                break
            if now - prev > PUBLISH_GAP_S:
                self.publish_gaps.append((prev, now))
            prev = now
            vx, wz = self._apply_command(now)
            if first_motion is None and (abs(vx) > 1e-6 or abs(wz) > 1e-6):
                first_motion = now
            self.sim.step(dt)
            cam = now >= next_cam
            if cam:
                next_cam += self.camera_period
            self._publish_sensors(time.time(), cam, now)
            dist = self.distance_to_goal()
            min_dist = min(min_dist, dist)
            if now >= next_trace:
                next_trace += self._trace_period
                x, y, _ = self.sim.pose()
                tr = self.trace
                tr.t.append(now)
                tr.x.append(x)
                tr.y.append(y)
                tr.distance.append(dist)
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
            "joint_commands_received": self.joint_commands_received,
            "published": dict(self.published),
            "sensor_dropouts": dict(self.sensors.dropped),
            "injected": self.injector.counts(),
            "sensor_rate_hz": round(loop.measured_rate_hz(), 2),
            "publish_gaps": len(self.publish_gaps),
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

    from edgepilot.daemon.transport.dds.participant import DdsTransport
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
        from edgepilot.common.atomic_file import write_json_atomic

        write_json_atomic(a.result_json, result)
    return 0 if result["goal_reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
