"""The simulated quadruped as a ROS 2 node over DDS: publishes /joint_states and /imu/data, applies joint commands.

``/joint_states`` lists the joints in ``publish_order`` (default: the model's
order reversed, so that a daemon that did not map by name would drive the
wrong joints). Commands: sensor_msgs/JointState position targets by name, or
std_msgs/Float64MultiArray in ``command_joints`` order as positions (a
forward position controller) or torques (``command_mode='torque'``, an effort
controller). Before the first command, and ``cmd_timeout_s`` after the last,
the joints hold the start pose (a joint controller's hold), so nothing the
daemon did not command can make the robot stand.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

import numpy as np

from edgepilot.daemon.timing.fixed_rate_loop import FixedRateLoop

from .legged_sim import QuadrupedSim


class LeggedNode:
    def __init__(self, transport: Any, sim: QuadrupedSim, *, sensor_hz: float = 200.0,
                 publish_order: Sequence[str] | None = None, command_topic: str = "/joint_commands",
                 command_message: str = "joint_state", command_joints: Sequence[str] | None = None,
                 command_mode: str = "position", cmd_timeout_s: float = 0.5, trace_hz: float = 50.0) -> None:
        from edgepilot.daemon.transport import ros_msgs

        self.msgs = ros_msgs
        self.sim = sim
        self.sensor_hz = sensor_hz
        names = sim.joint_names
        self.publish_order = tuple(publish_order) if publish_order is not None else tuple(reversed(names))
        self._pub_index = np.array([names.index(j) for j in self.publish_order])
        self.command_joints = tuple(command_joints) if command_joints is not None else names
        self._cmd_index = np.array([names.index(j) for j in self.command_joints])
        self.command_mode = command_mode
        self.cmd_timeout_s = cmd_timeout_s
        self._hold = sim.joint_state()[1]
        self._cmd: tuple[str, np.ndarray, float] = ("position", self._hold.copy(), -1.0)
        self._lock = threading.Lock()
        self.commands_received = 0
        self.bad_commands = 0
        self.joint_pub = transport.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
        self.imu_pub = transport.publisher("/imu/data", "sensor_msgs/msg/Imu", reliable=False)
        mtype = "sensor_msgs/msg/JointState" if command_message == "joint_state" else "std_msgs/msg/Float64MultiArray"
        transport.subscribe(command_topic, mtype, self._on_command, reliable=True)
        self.stop_event = threading.Event()
        self.trace_t: list[float] = []
        self.trace_height: list[float] = []
        self.trace_up: list[float] = []
        self.trace_q: list[np.ndarray] = []
        self._trace_period = 1.0 / trace_hz

    def _on_command(self, msg: Any) -> None:
        now = time.monotonic()
        if hasattr(msg, "name"):  # JointState: by name
            values = self._hold.copy() if self._cmd[2] < 0 else self._cmd[1].copy()
            names = self.sim.joint_names
            try:
                for n, p in zip(msg.name, msg.position):
                    values[names.index(n)] = float(p)
            except ValueError:
                self.bad_commands += 1
                return
            kind = "position"
        else:
            data = np.asarray(list(msg.data), dtype=np.float64)
            if data.shape != (len(self.command_joints),):
                self.bad_commands += 1  # a controller rejects a command of the wrong size
                return
            values = np.zeros(len(self.sim.joint_names))
            values[self._cmd_index] = data
            kind = self.command_mode
        with self._lock:
            self._cmd = (kind, values, now)
            self.commands_received += 1

    def _apply(self, now: float) -> None:
        with self._lock:
            kind, values, t = self._cmd
        if t < 0 or now - t > self.cmd_timeout_s:
            self.sim.set_position_targets(self._hold)
        elif kind == "position":
            self.sim.set_position_targets(values)
        else:
            self.sim.set_torques(values)

    def _publish(self) -> None:
        m = self.msgs
        names, q, qd = self.sim.joint_state()
        sec, nsec = divmod(time.time_ns(), 1_000_000_000)
        hdr = m.Header(stamp=m.Time(sec=sec, nanosec=nsec), frame_id="base")
        idx = self._pub_index
        self.joint_pub.publish(m.JointState(header=hdr, name=list(self.publish_order), position=q[idx].tolist(),
                                            velocity=qd[idx].tolist(), effort=[]))
        gyro, acc, quat = self.sim.imu()
        self.imu_pub.publish(m.Imu(
            header=m.Header(stamp=m.Time(sec=sec, nanosec=nsec), frame_id="imu"),
            orientation=m.Quaternion(x=float(quat[0]), y=float(quat[1]), z=float(quat[2]), w=float(quat[3])),
            angular_velocity=m.Vector3(x=float(gyro[0]), y=float(gyro[1]), z=float(gyro[2])),
            linear_acceleration=m.Vector3(x=float(acc[0]), y=float(acc[1]), z=float(acc[2]))))

    def run(self, duration_s: float) -> None:
        """Real time: physics at the model's timestep, sensors at ``sensor_hz``, until ``duration_s`` or stop_event."""
        loop = FixedRateLoop(self.sensor_hz)
        substeps = max(1, int(round(1.0 / (self.sensor_hz * self.sim.timestep))))
        t0 = time.monotonic()
        next_trace = t0
        while not self.stop_event.is_set():
            now_ns = loop.wait_next()
            now = now_ns * 1e-9
            if now - t0 > duration_s:
                break
            self._apply(now)
            self.sim.step(substeps)
            self._publish()
            if now >= next_trace:
                next_trace += self._trace_period
                self.trace_t.append(now - t0)
                self.trace_height.append(self.sim.base_height())
                self.trace_up.append(self.sim.base_up_z())
                self.trace_q.append(self.sim.joint_state()[1])
            loop.end_tick()
