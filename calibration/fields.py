"""Names for every value the calibration tools talk about, resolved against a robot profile.

A *field* is one scalar the daemon sees each tick, named the way a person
would say it:

* ``joint.<joint name>.position`` (rad) and ``joint.<joint name>.velocity``
  (rad/s), from any JointState stream that lists the joint;
* ``<imu stream>.angular_velocity.<x|y|z>`` (rad/s) and
  ``<imu stream>.linear_acceleration.<x|y|z>`` (m/s^2), IMU frame, from an Imu
  stream (``imu.angular_velocity.z`` for the stream called ``imu``);
* ``cmd.<twist field>`` (m/s, rad/s): the command the daemon asked for (the
  policy's, before compensation; zero while the watchdog holds the robot);
* ``cmd_sent.<twist field>``: what actually went on the wire, after the
  action compensation;
* ``odom.x``, ``odom.y`` (m), ``odom.yaw`` (rad): the daemon's odometry;
* ``obs.<i>``: element ``i`` of the model's observation input.

A stream field is located by (stream name, flat index into the stream's
snapshot sample, see daemon/streams/ingest.py for the layouts).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgepilot.daemon.config.profile import Profile

IMU_VECTORS = (("angular_velocity", 0), ("linear_acceleration", 3))
AXES = ("x", "y", "z")
ODOMETRY_FIELDS = ("odom.x", "odom.y", "odom.yaw")
HEADER_FIELDS = ("t_s", "tick", "policy", "compensation")


class FieldError(ValueError):
    """A field name that the profile does not provide; the message lists the ones it does."""


@dataclass(frozen=True)
class StreamField:
    """One scalar of a stream's snapshot sample."""

    name: str
    stream: str
    flat_index: int


def stream_fields(profile: Profile) -> list[StreamField]:
    """Every scalar field the profile's JointState and Imu streams provide, in profile order."""
    out: list[StreamField] = []
    seen: set[str] = set()
    for sname, cfg in profile.streams.items():
        if cfg.type == "sensor_msgs/msg/JointState":
            n = len(cfg.joints)
            for row, kind in ((0, "position"), (1, "velocity")):
                for col, joint in enumerate(cfg.joints):
                    name = f"joint.{joint}.{kind}"
                    if name not in seen:  # the same joint on two streams: the first stream wins
                        seen.add(name)
                        out.append(StreamField(name, sname, row * n + col))
        elif cfg.type == "sensor_msgs/msg/Imu":
            for vec, base in IMU_VECTORS:
                for k, axis in enumerate(AXES):
                    out.append(StreamField(f"{sname}.{vec}.{axis}", sname, base + k))
    return out


def resolve_stream_field(profile: Profile, name: str) -> StreamField:
    for f in stream_fields(profile):
        if f.name == name:
            return f
    known = [f.name for f in stream_fields(profile)]
    raise FieldError(f"{name!r} is not a sensor field of profile {profile.name!r}; it has: {', '.join(known)}")


def command_fields(profile: Profile) -> tuple[str, ...]:
    """The Twist fields the profile's action drives, in channel order (e.g. ``linear.x``, ``angular.z``)."""
    return tuple(c.field for c in profile.action.channels)


def record_fields(profile: Profile) -> tuple[str, ...]:
    """The layout of one residual-log record: header, commands, sensor fields, odometry, observation.

    Header: ``t_s`` (s since the first record), ``tick`` (loop tick),
    ``policy`` (1 when the policy's command was published, 0 when the
    watchdog's zero was), ``compensation`` (generation of the compensation in
    force: 0 none, then 1, 2, ... with each load or reload).
    """
    cmd = command_fields(profile)
    names = list(HEADER_FIELDS)
    names += [f"cmd.{c}" for c in cmd]
    names += [f"cmd_sent.{c}" for c in cmd]
    names += [f.name for f in stream_fields(profile)]
    if profile.odometry is not None:
        names += list(ODOMETRY_FIELDS)
    names += [f"obs.{i}" for i in range(profile.observation_size())]
    return tuple(names)


def topic_for(field: str) -> str:
    """The ROS 2 topic suffix for a field: dots become slashes (``imu.angular_velocity.z`` -> ``imu/angular_velocity/z``).

    Joint names may hold characters a ROS name may not; those become ``_``.
    """
    parts = []
    for p in field.split("."):
        clean = "".join(ch if (ch.isalnum() or ch == "_") else "_" for ch in p)
        if not clean or clean[0].isdigit():
            clean = "_" + clean
        parts.append(clean)
    return "/".join(parts)
