"""Real rosbag2 recordings (MCAP and SQLite3) of a synthetic differential-drive session, written with rosbags.

The session is what the diffbot profile subscribes: /joint_states and
/imu/data at 200 Hz, /camera/image_raw (rgb8 64x48) at 15 Hz, with log times
on the wall-clock epoch like ``ros2 bag record``. The wheels speed up and
turn, so the policy's commands change over time; optional faults make the
command sequence include the watchdog's zeros: an IMU dropout (stale stream)
and malformed JointState messages (dropped, counted).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from edgepilot.daemon.transport import ros_msgs as m

TS = get_typestore(Stores.ROS2_HUMBLE)
T0_NS = 1_700_000_000_000_000_000  # log times on the epoch, as ros2 bag record writes them
WHEEL_RADIUS = 0.05
WHEEL_SEPARATION = 0.30


def _stamp(t_ns: int) -> m.Time:
    return m.Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)


def session_messages(duration_s: float = 3.0, *, imu_gap: tuple[float, float] | None = None,
                     malformed_at: tuple[float, ...] = (), seed: int = 0) -> list[tuple[str, str, int, bytes]]:
    """(topic, type, log time ns, CDR bytes) in time order."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str, int, bytes]] = []
    dt_ns = 5_000_000  # 200 Hz
    pos = np.zeros(2)
    next_cam = 0
    for k in range(int(duration_s * 200)):
        t_ns = T0_NS + k * dt_ns
        t = k * dt_ns / 1e9
        wl = 4.0 + 2.0 * math.sin(0.8 * t)
        wr = 4.0 + 2.0 * math.cos(1.1 * t)
        pos += np.array([wl, wr]) * dt_ns / 1e9
        header = m.Header(stamp=_stamp(t_ns), frame_id="base_link")
        js = m.JointState(header=header, name=["left_wheel_joint", "right_wheel_joint"], position=pos.tolist(),
                          velocity=[wl, wr], effort=[])
        if any(abs(t - a) < 1e-9 for a in malformed_at):
            js.velocity = [wl]  # one velocity for two names: malformed, dropped
        out.append(("/joint_states", "sensor_msgs/msg/JointState", t_ns, js.serialize()))
        if imu_gap is None or not (imu_gap[0] <= t < imu_gap[1]):
            wz = WHEEL_RADIUS * (wr - wl) / WHEEL_SEPARATION
            imu = m.Imu(header=m.Header(stamp=_stamp(t_ns), frame_id="imu_link"),
                        angular_velocity=m.Vector3(z=wz), linear_acceleration=m.Vector3(z=9.81),
                        orientation_covariance=[-1.0] + [0.0] * 8)  # no orientation: a gyro/accel-only IMU
            out.append(("/imu/data", "sensor_msgs/msg/Imu", t_ns + 100_000, imu.serialize()))
        if t_ns >= T0_NS + next_cam:
            next_cam += int(1e9 / 15)
            img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            msg = m.Image(header=m.Header(stamp=_stamp(t_ns), frame_id="camera"), height=48, width=64, encoding="rgb8",
                          is_bigendian=0, step=64 * 3, data=img.tobytes())
            out.append(("/camera/image_raw", "sensor_msgs/msg/Image", t_ns + 200_000, msg.serialize()))
    out.sort(key=lambda r: r[2])
    return out


def write_bag(path: Path, messages: list[tuple[str, str, int, bytes]], storage: str = "mcap") -> Path:
    """Write a rosbag2 bag folder at ``path``; returns the storage file (``<path>/<name>.mcap`` or ``.db3``)."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as w:
        conns = {}
        for topic, typ, t_ns, raw in messages:
            c = conns.get(topic)
            if c is None:
                c = conns[topic] = w.add_connection(topic, typ, typestore=TS)
            w.write(c, t_ns, raw)
    return path / f"{path.name}.{'mcap' if storage == 'mcap' else 'db3'}"
