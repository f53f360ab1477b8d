"""A new term is one file and one test: a toy term, registered here, loads in a profile and builds.

Everything below the fixture's line is what such a file holds (daemon/observation/terms/__init__.py tells the
rule): the config model with its hooks, the computing object, the registration.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
from pydantic import Field

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.observation.terms import (FillTerm, TermConfig, TermContext, TermInputs, register_term,
                                                registered_terms, unregister_term)
from edgepilot.daemon.observation.terms.base import IMU
from tests.daemon.observation.terms.rigs import imu_msg, refresh, twist_pipeline
from tests.shipped_profile import shipped_profile_data

# ----------------------------------------------------------------------------- the toy term's file


class GyroNormTerm(TermConfig):
    """|angular velocity| of an IMU stream (rad/s), ``repeat`` times."""

    kind: Literal["gyro_norm"]
    stream: str = Field(description="Name of an Imu stream in 'streams'.")
    repeat: int = Field(default=1, ge=1, le=4)

    def size(self, ctx: TermContext) -> int:
        return self.repeat

    def streams(self, ctx: TermContext) -> tuple[str, ...]:
        return (self.stream,)

    def fields_read(self, ctx: TermContext) -> tuple[tuple[str, str], ...]:
        return ((self.stream, "angular_velocity"),)

    def check(self, ctx: TermContext, where: str) -> None:
        ctx.stream_of(where, self.stream, (IMU,), "an Imu stream")


class GyroNorm(FillTerm):
    def __init__(self, term: GyroNormTerm, inputs: TermInputs) -> None:
        super().__init__(inputs.raw)
        self._g = inputs.snapshots[term.stream].sample[0:3]

    def fill(self) -> None:
        g = self._g
        self.raw.fill(math.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]))


# ----------------------------------------------------------------------------- its test


@pytest.fixture
def gyro_norm():  # noqa: ANN201
    register_term(GyroNormTerm, GyroNorm)
    yield
    unregister_term(GyroNormTerm)


def diffbot_with(*terms: dict) -> dict:
    d = shipped_profile_data()
    d["observation"]["terms"] += list(terms)
    return d


def test_a_registered_term_loads_sizes_and_builds(gyro_norm: None) -> None:
    p = parse_profile(diffbot_with({"kind": "gyro_norm", "stream": "imu", "repeat": 2, "scale": 2.0, "clip": [0, 9]}),
                      base_dir=default_profile_path().parent)
    assert p.observation_size() == 7
    ingests, snaps, builder = twist_pipeline(p, WheelOdometry(0.05))
    ingests["imu"].on_message(imu_msg(3.0, 0.0, 4.0))
    refresh(snaps)
    np.testing.assert_allclose(builder.build()[5:], [9.0, 9.0])  # |(3, 0, 4)| = 5, x 2, clipped to 9
    assert builder.streams_read == ("joint_states", "imu")


def test_its_check_hook_names_the_field(gyro_norm: None) -> None:
    with pytest.raises(ProfileError, match=r"observation.terms\[3\].stream='joint_states' must name an Imu stream"):
        parse_profile(diffbot_with({"kind": "gyro_norm", "stream": "joint_states"}), base_dir=default_profile_path().parent)
    with pytest.raises(ProfileError, match="observation.terms.3.repeat: Input should be less than or equal to 4"):
        parse_profile(diffbot_with({"kind": "gyro_norm", "stream": "imu", "repeat": 5}),
                      base_dir=default_profile_path().parent)


def test_unknown_until_registered_and_after_removal() -> None:
    d = diffbot_with({"kind": "gyro_norm", "stream": "imu"})
    with pytest.raises(ProfileError, match="Input tag 'gyro_norm' found using 'kind' does not match any of the expected "
                                           "tags: 'joint_position', .*'gait_phase'$"):
        parse_profile(d, base_dir=default_profile_path().parent)
    register_term(GyroNormTerm, GyroNorm)
    try:
        assert parse_profile(d, base_dir=default_profile_path().parent).observation_size() == 6
    finally:
        unregister_term(GyroNormTerm)
    assert "gyro_norm" not in {k for s in registered_terms() for k in s.kinds}
    with pytest.raises(ProfileError, match="'gyro_norm' found using 'kind' does not match"):
        parse_profile(d, base_dir=default_profile_path().parent)


def test_registration_mistakes_are_refused() -> None:
    from edgepilot.daemon.observation.terms import JointTerm

    class Again(TermConfig):
        kind: Literal["joint_velocity"]

    class NoKind(TermConfig):
        x: int = 0

    with pytest.raises(ValueError, match=r"kind\(s\) \['joint_velocity'\] already registered by JointTerm"):
        register_term(Again, GyroNorm)
    with pytest.raises(TypeError, match="needs a field `kind"):
        register_term(NoKind, GyroNorm)
    with pytest.raises(TypeError, match="not a TermConfig subclass"):
        register_term(dict, GyroNorm)  # type: ignore[arg-type]
    assert JointTerm in [s.config for s in registered_terms()]


def test_every_shipped_term_is_registered_in_the_documented_order() -> None:
    kinds = [k for s in registered_terms() for k in s.kinds]
    assert kinds == ["joint_position", "joint_velocity", "imu_angular_velocity", "imu_linear_acceleration",
                     "goal_relative", "twist_command", "base_angular_velocity", "projected_gravity", "velocity_command",
                     "joint_position_relative", "joint_velocity_policy", "last_action", "gait_phase"]
