"""Stream kinds (daemon/streams/kinds/): every built-in kind is consistent with the parts that use it, and a new
kind is one descriptor: a toy kind registered here is accepted by the profile, ingested, range-checked and placed
in an ingest process without any other edit."""

from __future__ import annotations

import copy
import tracemalloc
from itertools import repeat
from types import SimpleNamespace as NS
from typing import Any, Iterator

import numpy as np
import pytest

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.streams.ingest_process import ingest_groups
from edgepilot.daemon.streams.kinds import registry
from edgepilot.daemon.streams.kinds.base import Clock, ConverterBase, MalformedMessage, Ring, StreamKind, number
from edgepilot.daemon.transport import ros_msgs
from tests.shipped_profile import shipped_profile_data

BUILT_IN = ("sensor_msgs/msg/JointState", "sensor_msgs/msg/Imu", "sensor_msgs/msg/Image",
            "sensor_msgs/msg/CompressedImage", "geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")


def _config(kind: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {"topic": "/t", "type": kind, "rate_hz": 100, "max_age_s": 0.1}
    if kind.endswith("JointState"):
        cfg["joints"] = ["a", "b", "c"]
    if "Image" in kind:
        cfg.update(width=8, height=4, encoding="mono16")
    return cfg


def _profile(**streams: dict[str, Any]) -> Any:
    d = shipped_profile_data()
    d["streams"].update(copy.deepcopy(streams))
    return parse_profile(d, base_dir=default_profile_path().parent)


def test_built_in_kinds_in_profile_order_each_with_a_dds_class() -> None:
    assert registry.type_names()[:len(BUILT_IN)] == BUILT_IN  # the order pydantic's message lists them in
    for name in BUILT_IN:
        assert name in ros_msgs.ROS_TYPES, name  # the DDS transport can subscribe every kind


@pytest.mark.parametrize("kind", BUILT_IN)
def test_layout_and_value_fields_fit_the_ring(kind: str) -> None:
    p = _profile(extra=_config(kind))
    cfg = p.streams["extra"]
    k = registry.kind_for(kind)
    ing = make_ingest("extra", cfg, lambda: 0, p)
    shape, dtype = k.layout(cfg)
    assert ing.kind is k and ing.ring.shape == tuple(shape) and ing.ring.dtype == np.dtype(dtype)
    sample = np.zeros(ing.ring.shape, ing.ring.dtype)
    for field, where in k.value_fields.items():
        assert sample[where].size > 0, (kind, field)


def test_unknown_type_lists_every_registered_kind() -> None:
    with pytest.raises(ProfileError, match=r"streams.extra.type: Input should be 'sensor_msgs/msg/JointState', .* or "
                                           r"'geometry_msgs/msg/TwistStamped' \(got 'example_msgs/msg/Scalar'\)"):
        _profile(extra={**_config("sensor_msgs/msg/Imu"), "type": "example_msgs/msg/Scalar"})


def test_a_second_kind_of_the_same_name_is_refused() -> None:
    imu = registry.kind_for("sensor_msgs/msg/Imu")
    registry.register(imu)  # the same descriptor again: a no-op
    with pytest.raises(ValueError, match="already registered"):
        registry.register(StreamKind(type=imu.type, layout=imu.layout, converter=imu.converter))


# ----------------------------------------------------------------------------- a toy kind: one descriptor


class ScalarConverter(ConverterBase):
    """``example_msgs/msg/Scalar``: one float ``data``, no header."""

    def __init__(self, config: Any, clock: Clock, reads: frozenset[str]) -> None:
        self._clock = clock

    def write(self, msg: Any, ring: Ring) -> None:
        value = number(msg.data, "Scalar.data")
        slot = ring.begin_write()
        slot[0] = value
        ring.commit_write(self._clock())

    def diagnostic_values(self) -> tuple[tuple[str, str], ...]:
        return (("toy", "yes"),)


def _scalar_check(config: Any) -> None:
    if config.joints:
        raise ValueError("a Scalar stream has no 'joints'")


SCALAR = StreamKind(type="example_msgs/msg/Scalar", layout=lambda cfg: ((1,), np.float64), converter=ScalarConverter,
                    value_fields={"data": slice(0, 1)}, has_header=False, check_config=_scalar_check)


@pytest.fixture
def scalar_kind() -> Iterator[StreamKind]:
    registry.register(SCALAR)
    try:
        yield SCALAR
    finally:
        registry.unregister(SCALAR.type)


def test_a_toy_kind_is_one_descriptor(scalar_kind: StreamKind) -> None:
    cfg = {"topic": "/scalar", "type": scalar_kind.type, "rate_hz": 50, "max_age_s": 0.1, "value_range": {"data": [-1, 1]}}
    p = _profile(scalar=cfg)
    # The kind's own checks and its value fields are the profile's.
    with pytest.raises(ProfileError, match="streams.scalar: .*a Scalar stream has no 'joints'"):
        _profile(scalar={**cfg, "joints": ["a"]})
    with pytest.raises(ProfileError, match=r"value_range.x: example_msgs/msg/Scalar has no such field; allowed: one of \['data'\]"):
        _profile(scalar={**cfg, "value_range": {"x": [0, 1]}})
    with pytest.raises(ProfileError, match="has no header"):
        _profile(scalar={**cfg, "max_stamp_skew_s": 0.1})
    # Ingested through its converter, into its layout; malformed messages are dropped with the reason.
    t = [1_000]
    ing = make_ingest("scalar", p.streams["scalar"], lambda: t[0], p)
    ing.on_message(NS(data=0.5))
    ing.on_message(NS(data="0.7"))
    assert ing.received == 2 and ing.dropped == 1 and "Scalar.data is a str" in ing.last_error
    snap = StreamSnapshot(ing)
    snap.refresh(2_000)
    assert snap.sample.tolist() == [0.5] and snap.stamp_ns == 1_000
    assert ing.diagnostic_values() == (("toy", "yes"),)
    # value_range through the kind's fields: out of range faults.
    raised: list[int] = []
    assert ing.integrity is not None
    ids = tuple(range(10))
    assert not ing.integrity.check(snap, 2_000, True, raised.append, ids)
    t[0] = 3_000
    ing.on_message(NS(data=5.0))
    snap.refresh(4_000)
    assert ing.integrity.check(snap, 4_000, True, raised.append, ids) and raised
    # A small stream: it shares the real-time ingest process with the others.
    assert "scalar" in ingest_groups(p)[0][0]


def test_unregistered_toy_kind_is_unknown_again() -> None:
    with pytest.raises(KeyError, match="unknown stream type 'example_msgs/msg/Scalar'"):
        registry.kind_for("example_msgs/msg/Scalar")
    with pytest.raises(MalformedMessage):  # the shared helpers refuse strings where numbers belong
        number("1", "x")


# ----------------------------------------------------------------------------- hot path


@pytest.mark.parametrize("stream, msg", [
    ("imu", NS(angular_velocity=NS(x=0.1, y=0.2, z=0.3), linear_acceleration=NS(x=0.0, y=0.0, z=9.8),
               orientation=NS(x=0.0, y=0.0, z=0.0, w=1.0), angular_velocity_covariance=[0.0] * 9,
               linear_acceleration_covariance=[0.0] * 9, orientation_covariance=[0.0] * 9)),
    ("joint_states", NS(name=["left_wheel_joint", "right_wheel_joint"], position=np.zeros(2), velocity=np.zeros(2),
                        effort=[])),
])
def test_on_message_keeps_nothing(stream: str, msg: Any) -> None:
    """The transport callback -> ring write keeps no memory per message (a converter's buffers are made once)."""
    p = _profile()
    ing = make_ingest(stream, p.streams[stream], lambda: 1, p)
    on_message = ing.on_message
    for _ in repeat(None, 10):
        on_message(msg)
    tracemalloc.start()
    try:
        base_mem, _ = tracemalloc.get_traced_memory()
        for _ in repeat(None, 2000):
            on_message(msg)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ing.dropped == 0, ing.last_error
    # What stays is the counters' current ints (received, the ring's count: made after tracing began), not per message.
    assert current - base_mem < 128, current - base_mem
