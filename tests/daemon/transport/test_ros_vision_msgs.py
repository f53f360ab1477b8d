"""vision_msgs and Isaac ROS TensorList classes produce exactly ROS 2's CDR bytes.

The independent serializer is rosbags, with the packages' message definitions registered from their text
(``get_types_from_msg``): vision_msgs 4.x (the Humble/Jazzy package; its BoundingBox2D centre is
``vision_msgs/Pose2D``) and isaac_ros_tensor_list_interfaces, as their .msg files define them, comments dropped.
The geometry_msgs types they nest come from rosbags' own Humble store. For random contents our ``serialize()``
must equal rosbags' ``serialize_cdr`` byte for byte, and each side must decode the other's bytes to the same values.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from edgepilot.daemon.transport import ros_msgs
from edgepilot.daemon.transport import ros_vision_msgs as v

MSG_TEXT = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": "ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    "vision_msgs/msg/Detection2D": ("std_msgs/Header header\nObjectHypothesisWithPose[] results\n"
                                    "BoundingBox2D bbox\nstring id\n"),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nDetection2D[] detections\n",
    "isaac_ros_tensor_list_interfaces/msg/TensorShape": "uint8 rank\nuint32[] dims\n",
    "isaac_ros_tensor_list_interfaces/msg/Tensor": ("string name\nTensorShape shape\nint32 data_type\n"
                                                    "uint64[] strides\nuint8[] data\n"),
    "isaac_ros_tensor_list_interfaces/msg/TensorList": "std_msgs/Header header\nTensor[] tensors\n",
}

TS = get_typestore(Stores.ROS2_HUMBLE)
for _name, _text in MSG_TEXT.items():
    TS.register(get_types_from_msg(_text, _name))

NUMPY = {"float64": np.float64, "uint8": np.uint8, "uint32": np.uint32, "uint64": np.uint64}


def to_rosbags(ours: object, typename: str) -> object:
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
                kwargs[fname] = [to_rosbags(x, subspec) for x in value]
            elif subspec[0] == "uint8":
                kwargs[fname] = np.frombuffer(bytes(value), dtype=np.uint8).copy()
            else:
                kwargs[fname] = np.asarray(value, dtype=NUMPY[subspec[0]])
    return TS.types[typename](**kwargs)


def assert_same(ours: object, theirs: object, typename: str, path: str = "") -> None:
    for fname, (kind, spec) in TS.fielddefs[typename][1]:
        a, b, where = getattr(ours, fname), getattr(theirs, fname), f"{path}.{fname}"
        if kind == Nodetype.NAME:
            assert_same(a, b, spec, where)
        elif kind == Nodetype.BASE:
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), where
        else:
            (subkind, subspec), _ = spec
            assert len(a) == len(b), where
            if subkind == Nodetype.NAME:
                for i, (x, y) in enumerate(zip(a, b)):
                    assert_same(x, y, subspec, f"{where}[{i}]")
            elif subspec[0] == "uint8":
                assert bytes(a) == bytes(np.asarray(b, dtype=np.uint8)), where
            else:
                np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), where)


def check_wire_compatible(msg: object, typename: str) -> None:
    ours = msg.serialize()  # type: ignore[attr-defined]
    theirs = bytes(TS.serialize_cdr(to_rosbags(msg, typename), typename))
    assert ours[:4] == b"\x00\x01\x00\x00"
    assert ours == theirs
    assert_same(msg, TS.deserialize_cdr(ours, typename), typename)
    back = type(msg).deserialize(theirs)  # type: ignore[attr-defined]
    assert_same(back, TS.deserialize_cdr(theirs, typename), typename)
    assert back.serialize() == theirs


# --- strategies --------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16)
f64 = st.floats(allow_nan=True, allow_infinity=True, width=64)
headers = st.builds(ros_msgs.Header, stamp=st.builds(ros_msgs.Time, sec=st.integers(-(2**31), 2**31 - 1),
                                                     nanosec=st.integers(0, 2**32 - 1)), frame_id=text)
points = st.builds(v.Point, x=f64, y=f64, z=f64)
quaternions = st.builds(ros_msgs.Quaternion, x=f64, y=f64, z=f64, w=f64)
poses = st.builds(v.PoseWithCovariance, pose=st.builds(v.Pose, position=points, orientation=quaternions),
                  covariance=st.lists(f64, min_size=36, max_size=36))
hypotheses = st.builds(v.ObjectHypothesisWithPose, hypothesis=st.builds(v.ObjectHypothesis, class_id=text, score=f64),
                       pose=poses)
boxes = st.builds(v.BoundingBox2D, center=st.builds(v.Pose2D, position=st.builds(v.Point2D, x=f64, y=f64), theta=f64),
                  size_x=f64, size_y=f64)
detections = st.builds(v.Detection2D, header=headers, results=st.lists(hypotheses, max_size=3), bbox=boxes, id=text)
detection_arrays = st.builds(v.Detection2DArray, header=headers, detections=st.lists(detections, max_size=4))
shapes = st.builds(v.TensorShape, rank=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1), max_size=5))
tensors = st.builds(v.Tensor, name=text, shape=shapes, data_type=st.integers(-(2**31), 2**31 - 1),
                    strides=st.lists(st.integers(0, 2**64 - 1), max_size=5), data=st.binary(max_size=64))
tensor_lists = st.builds(v.TensorList, header=headers, tensors=st.lists(tensors, max_size=3))

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("typename", sorted(v.VISION_TYPES))
def test_type_name_fields_and_defaults(typename: str) -> None:
    cls = v.VISION_TYPES[typename]
    pkg, _, name = typename.split("/")
    assert cls.__idl_typename__ == f"{pkg}::msg::dds_::{name}_"
    assert [f.name for f in dataclasses.fields(cls)] == [n for n, _ in TS.fielddefs[typename][1]]
    check_wire_compatible(cls(), typename)


@SETTINGS
@given(detection_arrays)
def test_detection2d_array(msg: v.Detection2DArray) -> None:
    check_wire_compatible(msg, "vision_msgs/msg/Detection2DArray")


@SETTINGS
@given(tensor_lists)
def test_tensor_list(msg: v.TensorList) -> None:
    check_wire_compatible(msg, "isaac_ros_tensor_list_interfaces/msg/TensorList")


def test_tensor_data_is_bytes_and_takes_numpy() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    msg = v.TensorList(tensors=[v.Tensor(name="input_tensor", shape=v.TensorShape(rank=2, dims=[2, 3]),
                                         data_type=9, strides=[12, 4], data=arr)])
    back = v.TensorList.deserialize(msg.serialize())
    assert isinstance(back.tensors[0].data, bytes)
    np.testing.assert_array_equal(np.frombuffer(back.tensors[0].data, np.float32).reshape(2, 3), arr)
    assert v.TENSOR_DATA_TYPES[back.tensors[0].data_type] == "float32"
