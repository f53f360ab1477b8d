"""projected_gravity: world [0, 0, -1] in the base frame, from the IMU orientation and its mounting."""

from __future__ import annotations

import numpy as np

from tests.daemon.observation.terms.legged_errors import assert_error, loads_with_twist_action
from tests.daemon.observation.terms.rigs import legged_sequence


def test_gravity_in_base_frame() -> None:
    r, obs = legged_sequence()
    # Gravity (0,0,-1) in a frame rolled +90 deg about x is (0, -1, 0) in the IMU frame; yaw +90 to base: (1, 0, 0).
    np.testing.assert_allclose(obs[0][3:6], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[2][3:6], [0.0, 0.0, -1.0], atol=1e-6)  # upright
    term = r.profile.observation.terms[1]
    ctx = r.profile.term_context()
    assert term.size(ctx) == 3 and term.fields_read(ctx) == (("imu", "orientation"),)


def test_absent_quaternion_gives_nan_for_the_watchdog() -> None:
    r, _ = legged_sequence()
    r.imu((0, 0, 0), (0, 0, 0, 0))
    assert np.isnan(r.build()[3:6]).all()


def test_errors() -> None:
    assert_error(lambda d: d["observation"]["terms"][1].update(stream="nope"),
                 "observation.terms[1] (projected_gravity).stream='nope' must name an Imu stream")
    loads_with_twist_action(1)
