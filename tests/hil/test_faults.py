"""Sensor fault injection and sensor models, checked against the daemon's own message ingest.

The rig's broken messages are only useful if the daemon really sees them as
broken: every malformed mode is fed through the daemon's ingest (the code
that runs on the robot) and must be dropped, except ``extra_joints``, which
must be accepted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from tests.shipped_profile import shipped_profile_data
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.transport import ros_msgs
from edgepilot.hil.faults import SensorFaultInjector, SensorFaults
from edgepilot.hil.sensor_messages import MALFORMED_MODES, Reading, build
from edgepilot.hil.sensor_models import SensorModel, SensorModelState

PERIODS = {"joint_states": 0.005, "imu": 0.005, "camera": 1 / 15}
T = 1_700_000_000.25


def readings() -> dict[str, dict]:
    return {
        "joint_states": {"name": ("left_wheel_joint", "right_wheel_joint"), "position": np.array([1.0, 2.0]),
                         "velocity": np.array([3.0, 4.0])},
        "imu": {"orientation": np.array([0.0, 0.0, 0.0, 1.0]), "angular_velocity": np.array([0.1, 0.2, 0.3]),
                "linear_acceleration": np.array([0.0, 0.0, 9.81])},
        "camera": {"image": np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)},
    }


def injector() -> tuple[SensorFaults, SensorFaultInjector]:
    f = SensorFaults()
    return f, SensorFaultInjector(f, PERIODS)


def test_clean_reading_passes_unchanged() -> None:
    _, inj = injector()
    r = readings()["imu"]
    out = inj.apply("imu", r, T)
    assert len(out) == 1 and out[0].values is r and out[0].stamp_s == T and out[0].malformed is None


def test_stop_freeze_and_value_faults() -> None:
    f, inj = injector()
    f.set("stop", "imu", True)
    assert inj.apply("imu", readings()["imu"], T) == []
    f.set("stop", "imu", False)
    f.set("freeze", "imu", True)
    first = inj.apply("imu", readings()["imu"], T)[0]
    later = {**readings()["imu"], "angular_velocity": np.array([9.0, 9.0, 9.0])}
    frozen = inj.apply("imu", later, T + 0.005)[0]
    np.testing.assert_array_equal(frozen.values["angular_velocity"], first.values["angular_velocity"])
    assert frozen.stamp_s == T + 0.005  # fresh stamps
    f.set("freeze", "imu", False)
    assert inj.apply("imu", later, T + 0.01)[0].values["angular_velocity"][0] == 9.0
    f.nan.add("joint_states")
    assert np.isnan(inj.apply("joint_states", readings()["joint_states"], T)[0].values["velocity"]).all()
    f.nan.clear()
    f.set("inf", "imu", True)
    assert np.isinf(inj.apply("imu", readings()["imu"], T)[0].values["angular_velocity"]).all()
    f.set("inf", "imu", False)
    f.set("out_of_range", "imu", True)
    w = inj.apply("imu", readings()["imu"], T)[0].values["angular_velocity"]
    assert list(w) == [0.1, 0.2, 100.0]  # one value only: a range check must catch a single element
    f.set("out_of_range", "joint_states", True, field="position", value=-7.0)
    assert list(inj.apply("joint_states", readings()["joint_states"], T)[0].values["position"]) == [1.0, -7.0]
    assert readings()["imu"]["angular_velocity"][2] == 0.3
    assert inj.counts()["imu.bad_values"] == 2


def test_stamps_duplicates_reordering_bursts() -> None:
    f, inj = injector()
    f.set("stale_stamps", "imu", True, age_s=0.5)
    assert inj.apply("imu", readings()["imu"], T)[0].stamp_s == pytest.approx(T - 0.5)
    f.set("stale_stamps", "imu", False)
    f.set("clock_jump", None, True, offset_s=2.0)
    assert inj.apply("camera", readings()["camera"], T)[0].stamp_s == pytest.approx(T + 2.0)
    f.set("clock_jump", None, False)
    f.set("duplicate", "imu", True)
    out = inj.apply("imu", readings()["imu"], T)
    assert len(out) == 2 and out[0].stamp_s == out[1].stamp_s
    f.set("duplicate", "imu", False)
    f.set("reorder", "joint_states", True)
    stamps = []
    for k in range(6):
        stamps += [r.stamp_s for r in inj.apply("joint_states", readings()["joint_states"], T + 0.005 * k)]
    f.set("reorder", "joint_states", False)
    stamps += [r.stamp_s for r in inj.apply("joint_states", readings()["joint_states"], T + 0.03)]
    assert stamps == pytest.approx([T + 0.005, T, T + 0.015, T + 0.01, T + 0.025, T + 0.02, T + 0.03])
    assert inj.counts()["joint_states.reordered"] == 3
    f.set("rate_burst", "imu", True, factor=10)
    out = inj.apply("imu", readings()["imu"], T)
    s = [r.stamp_s for r in out]
    assert len(out) == 10 and s == sorted(set(s)) and s[-1] - s[0] < PERIODS["imu"]


def test_malformed_one_in_every() -> None:
    f, inj = injector()
    f.set("malformed", "joint_states", True, mode="wrong_lengths", every=3)
    marks = [inj.apply("joint_states", readings()["joint_states"], T + k)[0].malformed for k in range(7)]
    assert marks == ["wrong_lengths", None, None, "wrong_lengths", None, None, "wrong_lengths"]


def test_clear_switches_everything_off() -> None:
    f, inj = injector()
    for kind, stream, params in [("stop", "imu", {}), ("freeze", "camera", {}), ("rate_burst", "imu", {"factor": 3}),
                                 ("clock_jump", None, {"offset_s": 1.0}), ("delay_spike", "imu", {"delay_s": 0.1})]:
        f.set(kind, stream, True, **params)
    f.clear()
    assert f == SensorFaults()


@pytest.fixture(scope="module")
def daemon_ingests() -> dict:
    d = shipped_profile_data()  # its stamp limits would refuse the fixed stamp T (2023): decoding is tested here
    profile = parse_profile(d, base_dir=default_profile_path().parent)
    return {name: (profile, cfg) for name, cfg in profile.streams.items()}


@pytest.mark.parametrize("stream, mode", [(s, m) for s, modes in MALFORMED_MODES.items() for m in modes])
def test_every_malformed_mode_is_dropped_by_the_daemon(daemon_ingests: dict, stream: str, mode: str) -> None:
    profile, cfg = daemon_ingests[stream]
    ingest = make_ingest(stream, cfg, profile=profile)
    values = readings()[stream]
    ingest.on_message(build(ros_msgs, stream, Reading(values, T)))
    assert ingest.dropped == 0, ingest.last_error
    msg = build(ros_msgs, stream, Reading(values, T + 0.005, mode))
    # Through CDR and back: what the daemon really receives.
    ingest.on_message(type(msg).deserialize(msg.serialize()))
    if mode == "extra_joints":
        assert ingest.dropped == 0 and ingest.converter.unknown_joint_messages == 1  # counted, mapped by name, accepted
    else:
        assert ingest.dropped == 1, f"{stream}/{mode} was accepted"
        assert ingest.last_error


def test_well_formed_messages_carry_the_reading(daemon_ingests: dict) -> None:
    for stream, values in readings().items():
        profile, cfg = daemon_ingests[stream]
        ingest = make_ingest(stream, cfg, profile=profile)
        msg = build(ros_msgs, stream, Reading(values, T))
        assert msg.header.stamp.sec == int(T) and msg.header.stamp.nanosec == 250_000_000
        ingest.on_message(type(msg).deserialize(msg.serialize()))
        snap = StreamSnapshot(ingest)
        snap.refresh(ingest._clock())
        if stream == "joint_states":
            np.testing.assert_array_equal(snap.sample, [[1.0, 2.0], [3.0, 4.0]])
        elif stream == "imu":
            np.testing.assert_array_equal(snap.sample[:3], [0.1, 0.2, 0.3])
        else:
            np.testing.assert_array_equal(snap.sample, values["image"])


def test_sensor_model_noise_bias_and_dropout() -> None:
    model = SensorModel.realistic()
    state = SensorModelState(model, np.random.default_rng(3))
    gyro = np.array([state.apply("imu", readings()["imu"])["angular_velocity"] for _ in range(4000)])
    np.testing.assert_allclose(gyro.mean(axis=0), np.array([0.1, 0.2, 0.3]) + model.imu.gyro_bias_radps, atol=5e-4)
    np.testing.assert_allclose(gyro.std(axis=0), model.imu.gyro_noise_std_radps, rtol=0.1)
    vel = np.array([state.apply("joint_states", readings()["joint_states"])["velocity"] for _ in range(4000)])
    np.testing.assert_allclose(vel.std(axis=0), model.joint_states.velocity_noise_std_radps, rtol=0.1)
    img = state.apply("camera", readings()["camera"])["image"]
    assert img.dtype == np.uint8 and 0.5 < float(np.abs(img.astype(int) - readings()["camera"]["image"]).mean()) < 3
    lost = sum(state.drop("camera") for _ in range(20000))
    assert lost == state.dropped["camera"] and abs(lost / 20000 - model.camera.dropout) < 0.003
    assert model.latency_s("camera") == 0.035 and model.latency_s("joint_states") == 0.0
    ideal = SensorModelState(SensorModel.ideal(), np.random.default_rng(0))
    out = ideal.apply("imu", readings()["imu"])
    np.testing.assert_array_equal(out["angular_velocity"], [0.1, 0.2, 0.3])
    assert not any(ideal.drop("imu") for _ in range(1000))
    assert math.isclose(SensorModel.named("realistic").imu.gyro_noise_std_radps, 0.005)
