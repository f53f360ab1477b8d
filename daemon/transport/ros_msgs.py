"""ROS 2 messages as Cyclone DDS IDL classes: the ROS 2 wire format without a ROS install.

Each class has the DDS type name that ``rosidl`` generates for the message
(``pkg::msg::dds_::Type_``) and the fields of the ROS 2 Humble/Jazzy
definition, in the same order and with the same IDL types, so the plain
(XCDR1, little-endian) CDR that ``msg.serialize()`` produces is byte-for-byte
what a ROS 2 node using ``rmw_cyclonedds_cpp`` sends and expects. The tests in
``tests/daemon/transport/test_ros_msgs.py`` check that against the ``rosbags``
typestore for random contents.

Field access matches rclpy: ``msg.header.stamp.sec``, ``msg.name``,
``msg.velocity``, ``msg.angular_velocity.z``, ``msg.data`` ... Every field has
the ROS default, so ``Twist()`` or ``JointState(name=[...])`` work as in rclpy.

Representation of sequences once deserialised:

* ``string[]`` and ``float64[]``: Python lists (rclpy gives ``array.array``
  for ``float64[]``; both index, iterate and ``len()`` the same way). On
  publish, ``float64[]`` takes lists, tuples, ``array.array`` or numpy arrays.
* ``float64[9]`` (the Imu covariances): lists of exactly 9 floats.
* ``uint8[]`` (``Image.data``): ``bytes``. Cyclone's generic
  ``sequence[uint8]`` would (de)serialise through a Python list of ints, about
  45 ms to serialise one 640x480x3 frame; ``Image.data`` instead goes through
  a dedicated machine (see :class:`_OctetSequenceMachine`; swapped in by
  :func:`_swap_machine`) that copies the
  bytes as one block (under 1 ms for the same frame) and writes the identical
  CDR (uint32 length, then the raw octets). On publish it accepts anything
  with the buffer protocol: ``bytes``, ``bytearray``, ``memoryview``,
  ``array.array('B')`` or a C-contiguous uint8 ``numpy`` array (its raw bytes,
  in memory order); a list of ints also works. ``np.frombuffer(msg.data,
  np.uint8)`` gives a zero-copy view on receipt.

Do not add ``from __future__ import annotations`` here: Cyclone resolves the
field annotations at runtime.
"""

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl._machinery import PlainCdrV2SequenceOfPrimitiveMachine
from cyclonedds.idl.types import array, byte, float64, int32, sequence, uint8, uint32

__all__ = [
    "Time",
    "Header",
    "String",
    "Vector3",
    "Quaternion",
    "Twist",
    "TwistStamped",
    "JointState",
    "Imu",
    "Image",
    "CompressedImage",
    "MultiArrayDimension",
    "MultiArrayLayout",
    "Float64MultiArray",
    "KeyValue",
    "DiagnosticStatus",
    "DiagnosticArray",
    "ROS_TYPES",
    "dds_topic_name",
    "resolve_type",
]


# --- builtin_interfaces ------------------------------------------------------


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


# --- std_msgs ----------------------------------------------------------------


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str = ""


@dataclass
class MultiArrayDimension(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    label: str = ""
    size: uint32 = 0
    stride: uint32 = 0


@dataclass
class MultiArrayLayout(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    dim: sequence[MultiArrayDimension] = field(default_factory=list)
    data_offset: uint32 = 0


@dataclass
class Float64MultiArray(IdlStruct, typename="std_msgs::msg::dds_::Float64MultiArray_"):
    # What ros2_control's forward_command_controller subscribes to (joint targets, in its joint order).
    layout: MultiArrayLayout = field(default_factory=MultiArrayLayout)
    data: sequence[float64] = field(default_factory=list)


# --- geometry_msgs -----------------------------------------------------------


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    # ROS 2 Quaternion.msg defaults to the identity rotation (w = 1).
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0


@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)


@dataclass
class TwistStamped(IdlStruct, typename="geometry_msgs::msg::dds_::TwistStamped_"):
    header: Header = field(default_factory=Header)
    twist: Twist = field(default_factory=Twist)


# --- sensor_msgs -------------------------------------------------------------


def _zeros9() -> list:
    return [0.0] * 9


@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    header: Header = field(default_factory=Header)
    name: sequence[str] = field(default_factory=list)
    position: sequence[float64] = field(default_factory=list)
    velocity: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)


@dataclass
class Imu(IdlStruct, typename="sensor_msgs::msg::dds_::Imu_"):
    header: Header = field(default_factory=Header)
    orientation: Quaternion = field(default_factory=Quaternion)
    orientation_covariance: array[float64, 9] = field(default_factory=_zeros9)
    angular_velocity: Vector3 = field(default_factory=Vector3)
    angular_velocity_covariance: array[float64, 9] = field(default_factory=_zeros9)
    linear_acceleration: Vector3 = field(default_factory=Vector3)
    linear_acceleration_covariance: array[float64, 9] = field(default_factory=_zeros9)


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    # Declared as sequence<uint8> so the XTypes type information Cyclone
    # advertises is exactly ROS 2's; (de)serialised as bytes, see below.
    data: sequence[uint8] = b""


@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header = field(default_factory=Header)
    format: str = ""  # "jpeg", "png", or image_transport's "rgb8; jpeg compressed bgr8"
    data: sequence[uint8] = b""


# --- diagnostic_msgs ---------------------------------------------------------


@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    # ROS 2 ``byte`` is IDL ``octet``: an int 0-255 here (rclpy uses a 1-byte ``bytes``).
    level: byte = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: sequence[KeyValue] = field(default_factory=list)


@dataclass
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    header: Header = field(default_factory=Header)
    status: sequence[DiagnosticStatus] = field(default_factory=list)


# --- sequence machines -------------------------------------------------------


class _OctetSequenceMachine(PlainCdrV2SequenceOfPrimitiveMachine):
    """``sequence<uint8>`` as one block copy: bytes-like in, ``bytes`` out.

    The CDR is the generic one's: align to 4, uint32 element count, then the
    octets (alignment 1, no padding). Subclassing keeps everything else
    (XCDR2 length codes, key scanning) identical to the generic machine.
    """

    def __init__(self) -> None:
        super().__init__(uint8)

    def serialize(self, buffer, value, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(value, (bytes, bytearray)):
            try:
                value = memoryview(value).cast("B")  # ndarray, array.array, memoryview: no copy
            except TypeError:
                value = bytes(value)  # list of ints, non-contiguous buffers
        buffer.align(4)
        buffer.write("I", 4, len(value))
        buffer.write_bytes(value)

    def deserialize(self, buffer, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        buffer.align(4)
        n = buffer.read("I", 4)
        data = buffer.read_bytes(n)
        if len(data) != n:
            raise ValueError(f"truncated uint8[]: header says {n} bytes, {len(data)} present")
        return data

    def default_initialize(self) -> bytes:
        return b""


class _Float64SequenceMachine(PlainCdrV2SequenceOfPrimitiveMachine):
    """``sequence<double>`` that also takes numpy arrays (the generic one tests ``if value:``).

    Same CDR: align to 4, uint32 count, then (if any) align to 8 and the
    doubles. Deserialises to a list of floats, like the generic machine.
    """

    def __init__(self) -> None:
        super().__init__(float64)

    def serialize(self, buffer, value, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        n = len(value)
        buffer.align(4)
        buffer.write("I", 4, n)
        if n:
            buffer.align(8)
            buffer.write_multi(f"{n}d", 8 * n, *value)


def _swap_machine(cls: type, member: str, machine_type: type, code: str) -> None:
    """Swap the generic machine of ``cls.member`` for ``machine_type()``.

    Cyclone builds the machines once per class, lazily; building them now and
    swapping the one member keeps the type's name, layout and XTypes type
    information untouched. Fails loudly if a future cyclonedds lays them out
    differently (the CDR tests would catch any change in the bytes too).
    """
    idl = cls.__idl__  # type: ignore[attr-defined]
    idl.populate()
    for machine in (idl.v1_machine, idl.v2_machine):
        # getattr: cyclonedds' internal serialisation machines (not a stable API; absent: nothing swapped).
        members = getattr(machine, "members_machines", None)
        old = members.get(member) if isinstance(members, dict) else None
        if type(old) is not PlainCdrV2SequenceOfPrimitiveMachine or old.code != code:
            raise RuntimeError(f"cyclonedds internals changed: cannot install {machine_type.__name__} on {cls.__name__}.{member}")
        members[member] = machine_type()


_swap_machine(Image, "data", _OctetSequenceMachine, "B")
_swap_machine(CompressedImage, "data", _OctetSequenceMachine, "B")
_swap_machine(Float64MultiArray, "data", _Float64SequenceMachine, "d")
for _member in ("position", "velocity", "effort"):
    _swap_machine(JointState, _member, _Float64SequenceMachine, "d")


# --- lookup helpers ----------------------------------------------------------

ROS_TYPES: dict[str, type] = {
    "builtin_interfaces/msg/Time": Time,
    "std_msgs/msg/Header": Header,
    "std_msgs/msg/String": String,
    "geometry_msgs/msg/Vector3": Vector3,
    "geometry_msgs/msg/Quaternion": Quaternion,
    "geometry_msgs/msg/Twist": Twist,
    "geometry_msgs/msg/TwistStamped": TwistStamped,
    "sensor_msgs/msg/JointState": JointState,
    "sensor_msgs/msg/Imu": Imu,
    "sensor_msgs/msg/Image": Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
    "std_msgs/msg/MultiArrayDimension": MultiArrayDimension,
    "std_msgs/msg/MultiArrayLayout": MultiArrayLayout,
    "std_msgs/msg/Float64MultiArray": Float64MultiArray,
    "diagnostic_msgs/msg/KeyValue": KeyValue,
    "diagnostic_msgs/msg/DiagnosticStatus": DiagnosticStatus,
    "diagnostic_msgs/msg/DiagnosticArray": DiagnosticArray,
}


def resolve_type(msg_type: "str | type") -> type:
    """The IDL class for ``"sensor_msgs/msg/Imu"`` (or ``"sensor_msgs/Imu"``), or the class itself."""
    # The detector outputs' classes (vision_msgs, Isaac TensorList) live in ros_vision_msgs, which imports this module.
    from edgepilot.daemon.transport.ros_vision_msgs import VISION_TYPES

    if isinstance(msg_type, type):
        if msg_type not in ROS_TYPES.values() and msg_type not in VISION_TYPES.values():
            raise KeyError(f"{msg_type!r} is not one of the ROS message classes of {__name__}")
        return msg_type
    name = msg_type
    parts = name.split("/")
    if len(parts) == 2:
        name = f"{parts[0]}/msg/{parts[1]}"
    try:
        return ROS_TYPES[name] if name in ROS_TYPES else VISION_TYPES[name]
    except KeyError:
        raise KeyError(f"unsupported ROS message type {msg_type!r}; known: {sorted(ROS_TYPES)}") from None


def dds_topic_name(ros_topic: str) -> str:
    """The DDS topic name ROS 2 uses for a ROS topic: ``/joint_states`` -> ``rt/joint_states``.

    Names are taken as absolute (a relative name resolves to the root
    namespace, as for a node without a namespace); ``~`` names are not supported.
    """
    name = ros_topic.strip()
    if name.startswith("~") or not name.strip("/"):
        raise ValueError(f"cannot map ROS topic name {ros_topic!r} to a DDS topic")
    return "rt/" + name.lstrip("/")
