"""twist_command: fields of a Twist input stream, in policy order; a command, not a sensor, for the latency."""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot.daemon.config.profile import ProfileError
from edgepilot.daemon.transport import ros_msgs as m
from tests.daemon.observation.terms.rigs import refresh, twist_pipeline, twist_profile

CMD = {"cmd_in": {"topic": "/cmd_vel_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10, "max_age_s": 0.5}}


def test_fields_in_policy_order() -> None:
    p = twist_profile([{"kind": "joint_velocity", "stream": "joint_states", "joints": ["left_wheel_joint"]},
                       {"kind": "twist_command", "stream": "cmd_in", "fields": ["angular.z", "linear.x", "linear.y"],
                        "scale": 2.0, "clip": [-1.0, 1.0]}], extra_streams=CMD)
    ingests, snaps, builder = twist_pipeline(p)
    ingests["cmd_in"].on_message(m.Twist(linear=m.Vector3(x=0.25, y=3.0), angular=m.Vector3(z=-0.125)))
    refresh(snaps)
    np.testing.assert_allclose(builder.build()[1:], [-0.25, 0.5, 1.0])
    term = p.observation.terms[1]
    ctx = p.term_context()
    assert term.size(ctx) == 3 and term.streams(ctx) == ("cmd_in",)
    assert term.latency_streams(ctx) == ()  # as daemon/service.py counted it before the registry
    assert builder.streams_read == ("joint_states",)


@pytest.mark.parametrize("change, fragment", [
    ({"stream": "imu"}, "observation.terms[0].stream='imu' must name a Twist or TwistStamped stream"),
    ({"fields": ["linear.w"]}, "observation.terms.0.fields.0: Input should be 'linear.x'"),
])
def test_errors_name_the_field(change: dict, fragment: str) -> None:
    with pytest.raises(ProfileError) as e:
        twist_profile([{"kind": "twist_command", "stream": "cmd_in", "fields": ["linear.x"], **change}], extra_streams=CMD)
    assert fragment in str(e.value)


def test_stream_must_be_required() -> None:
    with pytest.raises(ProfileError, match="streams.cmd_in.required is false but the observation reads it"):
        twist_profile([{"kind": "twist_command", "stream": "cmd_in", "fields": ["linear.x"]}],
                      extra_streams={"cmd_in": {**CMD["cmd_in"], "required": False}})
