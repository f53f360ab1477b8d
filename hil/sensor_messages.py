"""The robot's readings as ROS 2 messages, well formed or deliberately malformed.

A reading is a dict of numpy arrays (see :class:`Reading`); :func:`build`
turns it into the message the robot's driver would publish. ``malformed``
names a way to break it that a real driver bug produces, each of which the
daemon must count and drop:

* joint_states ``wrong_lengths``: one velocity fewer than names.
* joint_states ``unknown_joints``: the joints renamed (``joint_a``, ``joint_b``),
  none of the configured ones present.
* joint_states ``extra_joints``: a joint the profile does not list, *added*;
  not malformed at all (the daemon maps joints by name and ignores extras), kept
  here to prove it causes no stop.
* imu ``absent_gyro``: angular velocity flagged "not provided"
  (covariance[0] = -1) while the profile reads it.
* camera ``bad_image_size``: header says 16 px wider than the data is.
* camera ``bad_encoding``: ``mono16`` header on rgb8 data.
* camera ``truncated``: half the pixel data missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MALFORMED_MODES: dict[str, tuple[str, ...]] = {
    "joint_states": ("wrong_lengths", "unknown_joints", "extra_joints"),
    "imu": ("absent_gyro",),
    "camera": ("bad_image_size", "bad_encoding", "truncated"),
}

FRAME_IDS = {"joint_states": "base_link", "imu": "imu_link", "camera": "camera_link"}


@dataclass
class Reading:
    """One reading ready to publish: its values, the header stamp (s since the epoch) and how to break it."""

    values: dict[str, Any]
    stamp_s: float
    malformed: str | None = None


def _time(msgs: Any, t: float) -> Any:
    sec = int(np.floor(t))
    nanosec = min(int(round((t - sec) * 1e9)), 999_999_999)
    return msgs.Time(sec=sec, nanosec=nanosec)


def build(msgs: Any, stream: str, reading: Reading) -> Any:
    """The ROS 2 message (classes from ``msgs``, i.e. :mod:`edgepilot.daemon.transport.ros_msgs`) for ``reading``."""
    v = reading.values
    bad = reading.malformed
    header = msgs.Header(stamp=_time(msgs, reading.stamp_s), frame_id=FRAME_IDS[stream])
    if stream == "joint_states":
        names = list(v["name"])
        pos = [float(p) for p in v["position"]]
        vel = [float(x) for x in v["velocity"]]
        if bad == "wrong_lengths":
            vel = vel[:-1]
        elif bad == "unknown_joints":
            names = [f"joint_{chr(ord('a') + i)}" for i in range(len(names))]
        elif bad == "extra_joints":
            names, pos, vel = names + ["caster_swivel_joint"], pos + [0.0], vel + [0.0]
        return msgs.JointState(header=header, name=names, position=pos, velocity=vel, effort=[])
    if stream == "imu":
        q, w, a = v["orientation"], v["angular_velocity"], v["linear_acceleration"]
        gyro_cov = [0.0] * 9
        if bad == "absent_gyro":
            gyro_cov[0] = -1.0
        return msgs.Imu(
            header=header,
            orientation=msgs.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
            orientation_covariance=[0.0] * 9,
            angular_velocity=msgs.Vector3(x=float(w[0]), y=float(w[1]), z=float(w[2])),
            angular_velocity_covariance=gyro_cov,
            linear_acceleration=msgs.Vector3(x=float(a[0]), y=float(a[1]), z=float(a[2])),
            linear_acceleration_covariance=[0.0] * 9)
    if stream == "camera":
        img = v["image"]
        h, w = img.shape[:2]
        data = img.tobytes()
        width, encoding = w, "rgb8"
        if bad == "bad_image_size":
            width = w + 16
        elif bad == "bad_encoding":
            encoding = "mono16"
        elif bad == "truncated":
            data = data[: len(data) // 2]
        return msgs.Image(header=header, height=h, width=width, encoding=encoding, is_bigendian=0, step=width * 3,
                          data=data)
    raise KeyError(f"unknown stream {stream!r}")
