"""imu_angular_velocity / imu_linear_acceleration: the listed axes, IMU frame, scaled, offset and clipped."""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot.daemon.config.profile import ProfileError
from tests.daemon.observation.terms.rigs import imu_msg, refresh, twist_pipeline, twist_profile


def test_axes_in_policy_order_scaled_and_clipped() -> None:
    p = twist_profile([
        {"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z", "x"], "clip": [-1.0, 1.0]},
        {"kind": "imu_linear_acceleration", "stream": "imu", "axes": ["y", "z", "x"], "offset": -9.81, "scale": 0.5},
    ])
    ingests, snaps, builder = twist_pipeline(p)
    ingests["imu"].on_message(imu_msg(0.5, 7.0, -3.0, ax=1.0, ay=-2.0, az=9.81))
    refresh(snaps)
    obs = builder.build()
    np.testing.assert_allclose(obs, np.array([-1.0, 0.5, (-2.0 - 9.81) * 0.5, 0.0, (1.0 - 9.81) * 0.5], np.float32),
                               rtol=1e-6, atol=1e-6)
    ctx = p.term_context()
    gyro, acc = p.observation.terms
    assert (gyro.size(ctx), acc.size(ctx)) == (2, 3)
    assert gyro.streams(ctx) == acc.latency_streams(ctx) == ("imu",)
    assert gyro.fields_read(ctx) == (("imu", "angular_velocity"),)
    assert acc.fields_read(ctx) == (("imu", "linear_acceleration"),)
    assert builder.streams_read == ("imu",)


@pytest.mark.parametrize("term, fragment", [
    ({"stream": "joint_states"}, "observation.terms[0].stream='joint_states' must name an Imu stream"),
    ({"axes": ["w"]}, "observation.terms.0.axes.0: Input should be 'x', 'y' or 'z'"),
    ({"axes": []}, "observation.terms.0.axes: Tuple should have at least 1 item"),
])
def test_errors_name_the_field(term: dict, fragment: str) -> None:
    with pytest.raises(ProfileError) as e:
        twist_profile([{"kind": "imu_angular_velocity", "stream": "imu", "axes": ["z"], **term}])
    assert fragment in str(e.value)
