"""``geometry_msgs/msg/Twist`` and ``TwistStamped`` as inputs (a commanded velocity, e.g. a teleop stream).

Sample: float64 (6,): linear x, y, z (m/s), angular x, y, z (rad/s). Plain Twist has no header, so the stamp
checks (``max_stamp_skew_s``, ``reject_out_of_order``) cannot apply to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.streams.kinds.base import Clock, ConverterBase, Ring, StreamKind, number

LINEAR = slice(0, 3)
ANGULAR = slice(3, 6)
# A Twist field's index in the sample (and in a twist command vector, daemon/action/twist.py).
FIELD_INDEX = {"linear.x": 0, "linear.y": 1, "linear.z": 2, "angular.x": 3, "angular.y": 4, "angular.z": 5}


class TwistConverter(ConverterBase):
    def __init__(self, config: Any, clock: Clock, reads: frozenset[str], *, stamped: bool = False) -> None:
        self._clock = clock
        self._stamped = stamped

    def write(self, msg: Any, ring: Ring) -> None:
        t = msg.twist if self._stamped else msg
        lin, ang = t.linear, t.angular
        values = (
            number(lin.x, "linear.x"), number(lin.y, "linear.y"), number(lin.z, "linear.z"),
            number(ang.x, "angular.x"), number(ang.y, "angular.y"), number(ang.z, "angular.z"),
        )
        slot = ring.begin_write()
        slot[:] = values
        ring.commit_write(self._clock())


def _stamped_converter(config: Any, clock: Clock, reads: frozenset[str]) -> TwistConverter:
    return TwistConverter(config, clock, reads, stamped=True)


def _layout(config: Any) -> tuple[tuple[int, ...], Any]:
    return (6,), np.float64


TWIST = StreamKind(
    type="geometry_msgs/msg/Twist",
    layout=_layout,
    converter=TwistConverter,
    value_fields={"linear": LINEAR, "angular": ANGULAR},
    has_header=False,
)

TWIST_STAMPED = StreamKind(
    type="geometry_msgs/msg/TwistStamped",
    layout=_layout,
    converter=_stamped_converter,
    value_fields={"linear": LINEAR, "angular": ANGULAR},
)
