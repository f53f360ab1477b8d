"""The message layouts added for outputs and compressed images produce exactly ROS 2's CDR bytes.

Same method as test_ros_msgs.py (whose helpers are reused): random contents,
our Cyclone bytes against rosbags' ``serialize_cdr``, and each side decoding
the other's. Covers Float64MultiArray (with its MultiArrayLayout and
MultiArrayDimension), DiagnosticArray/DiagnosticStatus/KeyValue and
CompressedImage; their type names and field order are checked by the
parametrised tests over ``ROS_TYPES`` in test_ros_msgs.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgepilot.daemon.transport import ros_msgs as m

from .test_ros_msgs import DATA_FORMS, SETTINGS, TS, check_wire_compatible, f64, headers, ros_text

u32 = st.integers(0, 2**32 - 1)
dims = st.builds(m.MultiArrayDimension, label=ros_text, size=u32, stride=u32)
layouts = st.builds(m.MultiArrayLayout, dim=st.lists(dims, max_size=4), data_offset=u32)
key_values = st.builds(m.KeyValue, key=ros_text, value=ros_text)
# ROS 2 ``byte`` is one octet; rosbags packs it as a signed char, so only 0-127 (the levels are 0-3) read the same.
statuses = st.builds(m.DiagnosticStatus, level=st.integers(0, 127), name=ros_text, message=ros_text,
                     hardware_id=ros_text, values=st.lists(key_values, max_size=5))


@st.composite
def float64_multi_arrays(draw: st.DrawFn) -> m.Float64MultiArray:
    data = draw(st.lists(f64, max_size=12))
    as_array = draw(st.booleans())  # joint targets are handed in as numpy arrays by the daemon
    return m.Float64MultiArray(layout=draw(layouts), data=np.asarray(data, dtype=np.float64) if as_array else data)


@st.composite
def compressed_images(draw: st.DrawFn) -> m.CompressedImage:
    data = draw(st.binary(max_size=64))
    form = draw(st.sampled_from(sorted(DATA_FORMS)))
    fmt = draw(st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth png"]) | ros_text)
    return m.CompressedImage(header=draw(headers), format=fmt, data=DATA_FORMS[form](data))


@SETTINGS
@given(dims)
def test_multi_array_dimension(msg: m.MultiArrayDimension) -> None:
    check_wire_compatible(msg, "std_msgs/msg/MultiArrayDimension")


@SETTINGS
@given(layouts)
def test_multi_array_layout(msg: m.MultiArrayLayout) -> None:
    check_wire_compatible(msg, "std_msgs/msg/MultiArrayLayout")


@SETTINGS
@given(float64_multi_arrays())
def test_float64_multi_array(msg: m.Float64MultiArray) -> None:
    check_wire_compatible(msg, "std_msgs/msg/Float64MultiArray")


@SETTINGS
@given(key_values)
def test_key_value(msg: m.KeyValue) -> None:
    check_wire_compatible(msg, "diagnostic_msgs/msg/KeyValue")


@SETTINGS
@given(statuses)
def test_diagnostic_status(msg: m.DiagnosticStatus) -> None:
    check_wire_compatible(msg, "diagnostic_msgs/msg/DiagnosticStatus")


@SETTINGS
@given(st.builds(m.DiagnosticArray, header=headers, status=st.lists(statuses, max_size=4)))
def test_diagnostic_array(msg: m.DiagnosticArray) -> None:
    check_wire_compatible(msg, "diagnostic_msgs/msg/DiagnosticArray")


@SETTINGS
@given(compressed_images())
def test_compressed_image(msg: m.CompressedImage) -> None:
    check_wire_compatible(msg, "sensor_msgs/msg/CompressedImage")


def test_diagnostic_level_constants_match_ros2() -> None:
    cls = TS.types["diagnostic_msgs/msg/DiagnosticStatus"]
    assert (cls.OK, cls.WARN, cls.ERROR, cls.STALE) == (0, 1, 2, 3)
    raw = m.DiagnosticStatus(level=cls.ERROR, name="edgepilot: loop").serialize()
    assert TS.deserialize_cdr(raw, "diagnostic_msgs/msg/DiagnosticStatus").level == 2
