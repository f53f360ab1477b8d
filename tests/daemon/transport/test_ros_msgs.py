"""Our Cyclone DDS IDL classes produce exactly ROS 2's CDR bytes.

The reference is rosbags' typestore for ROS 2 Humble (its definitions of these
messages are identical in Jazzy, checked below): for random contents the bytes
of ``msg.serialize()`` (Cyclone) must equal ``serialize_cdr`` (rosbags), and
each side must decode the other's bytes to the same values.

Encapsulation header: both produce the 4-byte CDR encapsulation header first,
``00 01 00 00`` (CDR, little endian, options 0), then the payload, with no
trailing padding, so the whole byte strings are compared as they are. (On the
wire, Cyclone's DataWriter.write pads the payload to a multiple of 4 with zero
bytes, as rmw_cyclonedds_cpp does; that padding is not part of ``serialize()``.)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore

from edgepilot.daemon.transport import ros_msgs as m

TS = get_typestore(Stores.ROS2_HUMBLE)
CDR_LE_HEADER = b"\x00\x01\x00\x00"

NUMPY_DTYPES = {
    "float64": np.float64, "float32": np.float32, "uint8": np.uint8, "int8": np.int8, "uint16": np.uint16,
    "int16": np.int16, "uint32": np.uint32, "int32": np.int32, "uint64": np.uint64, "int64": np.int64,
}

# --- conversion and comparison, driven by rosbags' own field definitions ----


def to_rosbags(ours: object, typename: str) -> object:
    """Build the rosbags message from ours, reading our attributes by rosbags' field names."""
    kwargs = {}
    for fname, (kind, spec) in TS.fielddefs[typename][1]:
        value = getattr(ours, fname)
        if kind == Nodetype.NAME:
            kwargs[fname] = to_rosbags(value, spec)
        elif kind == Nodetype.BASE:
            kwargs[fname] = value
        else:
            (subkind, subspec), _ = spec
            if subkind == Nodetype.NAME:
                kwargs[fname] = [to_rosbags(v, subspec) for v in value]
            elif subspec[0] == "string":
                kwargs[fname] = list(value)
            elif subspec[0] == "uint8":
                kwargs[fname] = np.frombuffer(bytes(value), dtype=np.uint8).copy()
            else:
                kwargs[fname] = np.asarray(value, dtype=NUMPY_DTYPES[subspec[0]])
    return TS.types[typename](**kwargs)


def same_number(a: float, b: float) -> bool:
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(float(b)))


def assert_same(ours: object, theirs: object, typename: str, path: str = "") -> None:
    for fname, (kind, spec) in TS.fielddefs[typename][1]:
        a, b, where = getattr(ours, fname), getattr(theirs, fname), f"{path}.{fname}"
        if kind == Nodetype.NAME:
            assert_same(a, b, spec, where)
        elif kind == Nodetype.BASE:
            assert same_number(a, b) if spec[0] != "string" else a == b, where
        else:
            (subkind, subspec), _ = spec
            assert len(a) == len(b), where
            if subkind == Nodetype.NAME:
                for i, (x, y) in enumerate(zip(a, b)):
                    assert_same(x, y, subspec, f"{where}[{i}]")
            elif subspec[0] == "string":
                assert list(a) == list(b), where
            elif subspec[0] == "uint8":
                assert bytes(a) == bytes(np.asarray(b, dtype=np.uint8)), where
            else:
                np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), err_msg=where)


def check_wire_compatible(msg: object, typename: str) -> None:
    cls = type(msg)
    ours = msg.serialize()  # type: ignore[attr-defined]
    theirs = bytes(TS.serialize_cdr(to_rosbags(msg, typename), typename))
    assert ours[:4] == CDR_LE_HEADER and theirs[:4] == CDR_LE_HEADER
    assert ours == theirs
    # rosbags decodes our bytes to our values ...
    assert_same(msg, TS.deserialize_cdr(ours, typename), typename)
    # ... and we decode rosbags' bytes to the same values (and back to the same bytes).
    back = cls.deserialize(theirs)  # type: ignore[attr-defined]
    assert type(back) is cls
    assert_same(back, TS.deserialize_cdr(theirs, typename), typename)
    assert back.serialize() == theirs


# --- strategies -------------------------------------------------------------

ros_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
f64 = st.floats(allow_nan=True, allow_infinity=True, width=64)
f64_lists = st.lists(f64, max_size=12)

times = st.builds(m.Time, sec=st.integers(-(2**31), 2**31 - 1), nanosec=st.integers(0, 2**32 - 1))
headers = st.builds(m.Header, stamp=times, frame_id=ros_text)
vector3s = st.builds(m.Vector3, x=f64, y=f64, z=f64)
quaternions = st.builds(m.Quaternion, x=f64, y=f64, z=f64, w=f64)
twists = st.builds(m.Twist, linear=vector3s, angular=vector3s)
cov9 = st.lists(f64, min_size=9, max_size=9)


@st.composite
def joint_states(draw: st.DrawFn) -> m.JointState:
    n = draw(st.integers(0, 8))
    names = draw(st.lists(ros_text, min_size=n, max_size=n))
    # ROS allows position/velocity/effort to be empty or of any length; use both matching and odd lengths.
    length = st.one_of(st.just(n), st.just(0), st.integers(0, 9))
    pos, vel, eff = (draw(st.lists(f64, min_size=k, max_size=k)) for k in (draw(length), draw(length), draw(length)))
    as_array = draw(st.booleans())  # publishers may hand in numpy arrays
    conv = (lambda v: np.asarray(v, dtype=np.float64)) if as_array else list
    return m.JointState(header=draw(headers), name=names, position=conv(pos), velocity=conv(vel), effort=conv(eff))


imus = st.builds(m.Imu, header=headers, orientation=quaternions, orientation_covariance=cov9,
                 angular_velocity=vector3s, angular_velocity_covariance=cov9,
                 linear_acceleration=vector3s, linear_acceleration_covariance=cov9)

DATA_FORMS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": memoryview,
    "ndarray": lambda b: np.frombuffer(b, dtype=np.uint8).copy(),
    "list": list,
}


@st.composite
def images(draw: st.DrawFn) -> m.Image:
    h, w = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    step = w * 3 + draw(st.integers(0, 5))  # odd sizes and padded rows
    size = draw(st.one_of(st.just(step * h), st.integers(0, 64)))  # data need not match step*height on the wire
    data = draw(st.binary(min_size=size, max_size=size))
    form = draw(st.sampled_from(sorted(DATA_FORMS)))
    return m.Image(header=draw(headers), height=h, width=w, encoding=draw(st.sampled_from(["rgb8", "bgr8", "mono8", ""]) | ros_text),
                   is_bigendian=draw(st.integers(0, 255)), step=step, data=DATA_FORMS[form](data))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the type definitions themselves --------------------------------------


@pytest.mark.parametrize("typename", sorted(m.ROS_TYPES))
def test_type_name_and_field_order_match_ros2(typename: str) -> None:
    cls = m.ROS_TYPES[typename]
    pkg, _, name = typename.split("/")
    assert cls.__idl_typename__ == f"{pkg}::msg::dds_::{name}_"
    assert [f.name for f in dataclasses.fields(cls)] == [n for n, _ in TS.fielddefs[typename][1]]
    # Humble and Jazzy agree on every one of these definitions.
    assert get_typestore(Stores.ROS2_JAZZY).fielddefs[typename] == TS.fielddefs[typename]


@pytest.mark.parametrize("typename", sorted(m.ROS_TYPES))
def test_defaults_match_ros2(typename: str) -> None:
    ours = m.ROS_TYPES[typename]()
    check_wire_compatible(ours, typename)
    if typename == "geometry_msgs/msg/Quaternion":
        assert ours.w == 1.0  # the identity rotation, as in ROS 2


def test_dds_topic_name() -> None:
    assert m.dds_topic_name("/joint_states") == "rt/joint_states"
    assert m.dds_topic_name("/camera/image_raw") == "rt/camera/image_raw"
    assert m.dds_topic_name("cmd_vel") == "rt/cmd_vel"
    for bad in ("", "/", "~/private"):
        with pytest.raises(ValueError):
            m.dds_topic_name(bad)


def test_resolve_type() -> None:
    assert m.resolve_type("sensor_msgs/msg/Imu") is m.Imu
    assert m.resolve_type("sensor_msgs/Imu") is m.Imu
    assert m.resolve_type(m.Twist) is m.Twist
    with pytest.raises(KeyError):
        m.resolve_type("nav_msgs/msg/Odometry")


# --- byte-for-byte against rosbags ------------------------------------------


@SETTINGS
@given(times)
def test_time(msg: m.Time) -> None:
    check_wire_compatible(msg, "builtin_interfaces/msg/Time")


@SETTINGS
@given(headers)
def test_header(msg: m.Header) -> None:
    check_wire_compatible(msg, "std_msgs/msg/Header")


@SETTINGS
@given(st.builds(m.String, data=ros_text))
def test_string(msg: m.String) -> None:
    check_wire_compatible(msg, "std_msgs/msg/String")


@SETTINGS
@given(vector3s)
def test_vector3(msg: m.Vector3) -> None:
    check_wire_compatible(msg, "geometry_msgs/msg/Vector3")


@SETTINGS
@given(quaternions)
def test_quaternion(msg: m.Quaternion) -> None:
    check_wire_compatible(msg, "geometry_msgs/msg/Quaternion")


@SETTINGS
@given(twists)
def test_twist(msg: m.Twist) -> None:
    check_wire_compatible(msg, "geometry_msgs/msg/Twist")


@SETTINGS
@given(st.builds(m.TwistStamped, header=headers, twist=twists))
def test_twist_stamped(msg: m.TwistStamped) -> None:
    check_wire_compatible(msg, "geometry_msgs/msg/TwistStamped")


@SETTINGS
@given(joint_states())
def test_joint_state(msg: m.JointState) -> None:
    check_wire_compatible(msg, "sensor_msgs/msg/JointState")


@SETTINGS
@given(imus)
def test_imu(msg: m.Imu) -> None:
    check_wire_compatible(msg, "sensor_msgs/msg/Imu")


@SETTINGS
@given(images())
def test_image(msg: m.Image) -> None:
    check_wire_compatible(msg, "sensor_msgs/msg/Image")


# --- rclpy-shaped access and the fast uint8[] -------------------------------


def test_deserialised_fields_read_like_rclpy() -> None:
    js = m.JointState.deserialize(m.JointState(header=m.Header(stamp=m.Time(sec=5, nanosec=6), frame_id="base"),
                                               name=["l", "r"], position=[1.0, 2.0], velocity=[3.0, 4.0]).serialize())
    assert (js.header.stamp.sec, js.header.stamp.nanosec, js.header.frame_id) == (5, 6, "base")
    assert js.name == ["l", "r"] and list(js.velocity) == [3.0, 4.0] and len(js.effort) == 0
    imu = m.Imu.deserialize(m.Imu(angular_velocity=m.Vector3(z=0.25)).serialize())
    assert imu.angular_velocity.z == 0.25 and imu.orientation.w == 1.0 and len(imu.orientation_covariance) == 9
    img = m.Image.deserialize(m.Image(height=1, width=2, encoding="rgb8", step=6, data=b"abcdef").serialize())
    assert isinstance(img.data, bytes) and img.data == b"abcdef"
    assert np.frombuffer(img.data, np.uint8).reshape(1, 2, 3)[0, 1, 0] == ord("d")


def test_multidimensional_uint8_array_is_sent_as_its_bytes() -> None:
    frame = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    a = m.Image(height=4, width=5, encoding="rgb8", step=15, data=frame).serialize()
    b = m.Image(height=4, width=5, encoding="rgb8", step=15, data=frame.tobytes()).serialize()
    assert a == b
    # A non-contiguous view is copied in C order, not mangled.
    view = np.arange(4 * 10 * 3, dtype=np.uint8).reshape(4, 10, 3)[:, ::2, :]
    assert m.Image(data=view).serialize() == m.Image(data=np.ascontiguousarray(view).tobytes()).serialize()


def test_truncated_image_is_rejected() -> None:
    raw = m.Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(12)).serialize()
    with pytest.raises(Exception):
        m.Image.deserialize(raw[:-3])


def test_vga_image_is_fast_and_identical() -> None:
    """640x480x3 at 30 Hz must be feasible: serialise + deserialise well under a frame period."""
    frame = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    msg = m.Image(header=m.Header(frame_id="camera"), height=480, width=640, encoding="rgb8", step=1920, data=frame)
    raw = msg.serialize()
    assert raw == bytes(TS.serialize_cdr(to_rosbags(msg, "sensor_msgs/msg/Image"), "sensor_msgs/msg/Image"))
    costs = []
    for _ in range(7):
        t0 = time.perf_counter()
        back = m.Image.deserialize(msg.serialize())
        costs.append(time.perf_counter() - t0)
    assert back.data == frame.tobytes()
    assert statistics.median(costs) < 0.015, f"serialise+deserialise of a VGA frame took {statistics.median(costs) * 1e3:.1f} ms"
