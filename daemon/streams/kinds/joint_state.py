"""``sensor_msgs/msg/JointState``: joint positions and velocities by name, in the stream's ``joints`` order.

Sample: float64 (2, n), row 0 positions (rad), row 1 velocities (rad/s), columns in ``joints`` order whatever
order the message used. Names the profile does not list are ignored (counted in ``unknown_joint_messages``, kept
in ``ignored_joints``); a message with none of the profile's joints, a name twice, or a ``position``/``velocity``
neither empty nor one per name is dropped. A *partial* message (some of the joints) merges into the latest
state: a sample is published once every joint has been seen, stamped with the receipt time of the joint heard
from longest ago, so the stream's age is that of its stalest joint. A missing field (ROS allows an empty
``velocity``) drops the message when the profile reads it; otherwise the field keeps its previous value (0 at
start). Effort is never read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.streams.kinds.base import Clock, ConverterBase, MalformedMessage, Ring, StreamKind, numbers


class JointStateConverter(ConverterBase):
    def __init__(self, config: Any, clock: Clock, reads: frozenset[str]) -> None:
        self._joints = tuple(config.joints)
        self._clock = clock
        self._wanted = {j: i for i, j in enumerate(config.joints)}
        self._n = len(config.joints)
        self.needs_position = "position" in reads
        self.needs_velocity = "velocity" in reads
        self._state = np.zeros((2, self._n))
        self._heard_ns = np.full(self._n, -1, np.int64)
        self._complete = False
        # Most robots publish the same names in the same order every time: map them once.
        self._cached_names: list[str] | None = None
        self._cached_dst = np.zeros(0, np.intp)
        self._cached_src = np.zeros(0, np.intp)
        self._cached_unknown = 0
        self.unknown_joint_messages = 0
        self.ignored_joints: set[str] = set()
        self.partial_messages = 0

    def missing_detail(self, received: int) -> str:
        unheard = [j for j, t in zip(self._joints, self._heard_ns) if t < 0]
        if received and unheard:  # messages come, but never with these joints: a name mismatch, most often
            return f"joints never published: {unheard}"
        return "no message received since start"

    def diagnostic_values(self) -> tuple[tuple[str, str], ...]:
        return (("unknown_joint_messages", str(self.unknown_joint_messages)),
                ("ignored_joints", ",".join(sorted(self.ignored_joints))),
                ("partial_messages", str(self.partial_messages)))

    def _map_names(self, names: Any) -> tuple[np.ndarray, np.ndarray, int]:
        if names.__class__ is list and names == self._cached_names:
            return self._cached_dst, self._cached_src, self._cached_unknown
        names = list(names)
        dst: list[int] = []
        src: list[int] = []
        unknown = 0
        wanted = self._wanted
        for k, joint in enumerate(names):
            if not isinstance(joint, str):
                raise MalformedMessage(f"JointState.name[{k}] is a {type(joint).__name__}, expected a string")
            i = wanted.get(joint)
            if i is None:
                unknown += 1
                if joint not in self.ignored_joints and len(self.ignored_joints) < 256:
                    self.ignored_joints.add(joint)
            else:
                dst.append(i)
                src.append(k)
        if len(set(names)) != len(names):
            raise MalformedMessage(f"JointState names a joint twice: {sorted({n for n in names if names.count(n) > 1})}")
        if not dst:
            raise MalformedMessage(f"JointState has none of the configured joints {list(self._joints)} "
                                   f"(it names {names[:8]}{'...' if len(names) > 8 else ''})")
        mapped = (np.array(dst, np.intp), np.array(src, np.intp), unknown)
        self._cached_names, self._cached_dst, self._cached_src, self._cached_unknown = names, *mapped
        return mapped

    def write(self, msg: Any, ring: Ring) -> None:
        names = msg.name
        # hasattr: the message is foreign data (any transport's class); a name field without a length is malformed.
        if names.__class__ is not list and (isinstance(names, (str, bytes)) or not hasattr(names, "__len__")):
            raise MalformedMessage(f"JointState.name is a {type(names).__name__}, expected a sequence of strings")
        pos = numbers(msg.position, "JointState.position")
        vel = numbers(msg.velocity, "JointState.velocity")
        m = len(names)
        if len(pos) not in (0, m) or len(vel) not in (0, m):
            raise MalformedMessage(
                f"JointState has {m} names, {len(pos)} positions and {len(vel)} velocities; "
                "each must be empty or one per name"
            )
        if self.needs_position and len(pos) == 0:
            raise MalformedMessage("JointState has no positions, and this stream's positions are read (joint_position or odometry)")
        if self.needs_velocity and len(vel) == 0:
            raise MalformedMessage("JointState has no velocities, and a joint_velocity term reads them")
        dst, src, unknown = self._map_names(names)
        if unknown:
            self.unknown_joint_messages += 1
        now = self._clock()
        state = self._state
        if len(pos):
            state[0, dst] = pos[src]
        if len(vel):
            state[1, dst] = vel[src]
        heard = self._heard_ns
        heard[dst] = now
        if len(dst) != self._n:
            self.partial_messages += 1
            if not self._complete:
                if heard.min() < 0:
                    return  # not every joint heard yet: nothing to publish, nothing wrong
                self._complete = True
        slot = ring.begin_write()
        np.copyto(slot, state)
        ring.commit_write(int(heard.min()))


def _layout(config: Any) -> tuple[tuple[int, ...], Any]:
    return (2, len(config.joints)), np.float64


def _check(config: Any) -> None:
    if not config.joints:
        raise ValueError("a JointState stream needs 'joints': the joint names to keep, e.g. [left_wheel_joint, right_wheel_joint]")
    if len(set(config.joints)) != len(config.joints):
        raise ValueError(f"'joints' lists a name twice: {list(config.joints)}")


JOINT_STATE = StreamKind(
    type="sensor_msgs/msg/JointState",
    layout=_layout,
    converter=JointStateConverter,
    value_fields={"position": 0, "velocity": 1},
    default_reads=frozenset({"position", "velocity"}),
    check_config=_check,
)
