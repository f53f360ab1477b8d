"""Detector and tensor messages as Cyclone DDS IDL classes: vision_msgs 4.x and Isaac ROS TensorList.

The same scheme as :mod:`ros_msgs` (its module docstring explains the type names, defaults and CDR): each class
carries rosidl's DDS type name and the ROS 2 Humble/Jazzy definition's fields in order, so ``serialize()`` gives
the bytes a ROS 2 node on ``rmw_cyclonedds_cpp`` exchanges. tests/daemon/transport/test_ros_vision_msgs.py checks
them against rosbags with these packages' message definitions registered from their text.

* ``vision_msgs`` (4.x, the Humble and Jazzy package): Detection2DArray and what it nests; note that
  ``BoundingBox2D.center`` is ``vision_msgs/Pose2D`` (``position.x``, ``position.y``, ``theta``), not the
  ``geometry_msgs/Pose2D`` of vision_msgs 3.x (Foxy/Galactic).
* ``geometry_msgs`` Point, Pose, PoseWithCovariance: nested in ObjectHypothesisWithPose.
* ``isaac_ros_tensor_list_interfaces``: TensorList, Tensor, TensorShape (``Tensor.data_type`` codes in
  :data:`TENSOR_DATA_TYPES`; ``strides`` in bytes). ``Tensor.data`` is (de)serialised as one block of bytes,
  like ``Image.data``.

Kept apart from ros_msgs.py (which holds the daemon's own stream and command types, and whose tests compare
against rosbags' built-in Humble store, where these packages are absent). :data:`VISION_TYPES` maps the ROS
names to the classes.

Do not add ``from __future__ import annotations`` here: Cyclone resolves the field annotations at runtime.
"""

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import array, float64, int32, sequence, uint8, uint32, uint64

from edgepilot.daemon.transport.ros_msgs import Header, Quaternion, _OctetSequenceMachine, _swap_machine

__all__ = [
    "Point",
    "Pose",
    "PoseWithCovariance",
    "Point2D",
    "Pose2D",
    "BoundingBox2D",
    "ObjectHypothesis",
    "ObjectHypothesisWithPose",
    "Detection2D",
    "Detection2DArray",
    "TensorShape",
    "Tensor",
    "TensorList",
    "TENSOR_DATA_TYPES",
    "VISION_TYPES",
]


# --- geometry_msgs -----------------------------------------------------------


@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


def _zeros36() -> list:
    return [0.0] * 36


@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    pose: Pose = field(default_factory=Pose)
    covariance: array[float64, 36] = field(default_factory=_zeros36)  # row-major 6x6 (x, y, z, rot x, y, z)


# --- vision_msgs -------------------------------------------------------------


@dataclass
class Point2D(IdlStruct, typename="vision_msgs::msg::dds_::Point2D_"):
    x: float64 = 0.0
    y: float64 = 0.0


@dataclass
class Pose2D(IdlStruct, typename="vision_msgs::msg::dds_::Pose2D_"):
    position: Point2D = field(default_factory=Point2D)
    theta: float64 = 0.0  # radians, counter-clockwise


@dataclass
class BoundingBox2D(IdlStruct, typename="vision_msgs::msg::dds_::BoundingBox2D_"):
    # Pixels of the source image: the centre and the full size (not half sizes).
    center: Pose2D = field(default_factory=Pose2D)
    size_x: float64 = 0.0
    size_y: float64 = 0.0


@dataclass
class ObjectHypothesis(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesis_"):
    class_id: str = ""
    score: float64 = 0.0


@dataclass
class ObjectHypothesisWithPose(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesisWithPose_"):
    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@dataclass
class Detection2D(IdlStruct, typename="vision_msgs::msg::dds_::Detection2D_"):
    header: Header = field(default_factory=Header)
    results: sequence[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ""  # tracking id; empty when the detector does not track


@dataclass
class Detection2DArray(IdlStruct, typename="vision_msgs::msg::dds_::Detection2DArray_"):
    header: Header = field(default_factory=Header)
    detections: sequence[Detection2D] = field(default_factory=list)


# --- isaac_ros_tensor_list_interfaces ---------------------------------------

#: ``Tensor.data_type`` codes, as isaac_ros_tensor_list_interfaces/msg/Tensor.msg lists them.
TENSOR_DATA_TYPES: dict[int, str] = {
    1: "int8", 2: "uint8", 3: "int16", 4: "uint16", 5: "int32",
    6: "uint32", 7: "int64", 8: "uint64", 9: "float32", 10: "float64",
}


@dataclass
class TensorShape(IdlStruct, typename="isaac_ros_tensor_list_interfaces::msg::dds_::TensorShape_"):
    rank: uint8 = 0
    dims: sequence[uint32] = field(default_factory=list)


@dataclass
class Tensor(IdlStruct, typename="isaac_ros_tensor_list_interfaces::msg::dds_::Tensor_"):
    name: str = ""
    shape: TensorShape = field(default_factory=TensorShape)
    data_type: int32 = 0
    strides: sequence[uint64] = field(default_factory=list)  # bytes per step of each dimension
    data: sequence[uint8] = b""


@dataclass
class TensorList(IdlStruct, typename="isaac_ros_tensor_list_interfaces::msg::dds_::TensorList_"):
    header: Header = field(default_factory=Header)
    tensors: sequence[Tensor] = field(default_factory=list)


_swap_machine(Tensor, "data", _OctetSequenceMachine, "B")


VISION_TYPES: dict[str, type] = {
    "geometry_msgs/msg/Point": Point,
    "geometry_msgs/msg/Pose": Pose,
    "geometry_msgs/msg/PoseWithCovariance": PoseWithCovariance,
    "vision_msgs/msg/Point2D": Point2D,
    "vision_msgs/msg/Pose2D": Pose2D,
    "vision_msgs/msg/BoundingBox2D": BoundingBox2D,
    "vision_msgs/msg/ObjectHypothesis": ObjectHypothesis,
    "vision_msgs/msg/ObjectHypothesisWithPose": ObjectHypothesisWithPose,
    "vision_msgs/msg/Detection2D": Detection2D,
    "vision_msgs/msg/Detection2DArray": Detection2DArray,
    "isaac_ros_tensor_list_interfaces/msg/TensorShape": TensorShape,
    "isaac_ros_tensor_list_interfaces/msg/Tensor": Tensor,
    "isaac_ros_tensor_list_interfaces/msg/TensorList": TensorList,
}
