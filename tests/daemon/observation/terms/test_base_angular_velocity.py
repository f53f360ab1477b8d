"""base_angular_velocity: the gyro rotated by the IMU's mounting rotation into the base frame."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, loads_with_twist_action
from tests.daemon.observation.terms.rigs import legged_sequence


def test_gyro_in_base_frame_scaled() -> None:
    r, obs = legged_sequence()
    # IMU frame x = base y (mounting yaw +90 deg): gyro (1, 2, 3) in the IMU frame is (-2, 1, 3) in the base frame.
    np.testing.assert_allclose(obs[0][0:3], [-2 * 0.25, 1 * 0.25, 3 * 0.25], atol=1e-6)
    np.testing.assert_allclose(obs[2][0:3], [0.0, 0.0, 0.0], atol=1e-6)
    term = r.profile.observation.terms[0]
    ctx = r.profile.term_context()
    assert term.size(ctx) == 3 and term.streams(ctx) == ("imu",) and term.fields_read(ctx) == (("imu", "angular_velocity"),)


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][0].update(stream="js"),
                 "observation.terms[0] (base_angular_velocity).stream='js' must name an Imu stream; "
                 "streams: ['cmd', 'imu', 'js']")
    assert_error(lambda d: d["streams"]["imu"].update(required=False),
                 "streams.imu.required is false but observation.terms[0] (base_angular_velocity) reads it: "
                 "set required: true")
    assert_error(lambda d: d["observation"]["terms"][0].update(imu_mounting_rpy=[0, 0]),
                 "observation.terms.0.imu_mounting_rpy")
    loads_with_twist_action(0)  # an IMU term needs no joint action
