"""Detections into Detection2DArray (checked through its CDR round trip), and numpy <-> TensorList tensors."""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot.daemon.image.detection_decoding import Detections
from edgepilot.daemon.image.detection_message import detections_message, image_header
from edgepilot.daemon.image.tensor_list import array_from_tensor, tensor_from_array, tensor_list
from edgepilot.daemon.transport.ros_vision_msgs import Detection2DArray, Tensor, TensorList, TensorShape


def test_detection2d_array_by_hand() -> None:
    det = Detections(boxes=np.array([[20.0, 20, 220, 220], [400, 120, 600, 330]]), scores=np.array([0.9, 0.6]),
                     class_ids=np.array([1, 0]))
    header = image_header(1_700_000_000_250_000_000, "camera_optical")
    msg = Detection2DArray.deserialize(detections_message(det, header, ("person", "car").__getitem__).serialize())
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (1_700_000_000, 250_000_000,
                                                                                     "camera_optical")
    first, second = msg.detections
    # Box 1: centre ((20+220)/2, (20+220)/2) = (120, 120), size 200 x 200; box 2: (500, 225), 200 x 210.
    assert (first.bbox.center.position.x, first.bbox.center.position.y, first.bbox.size_x, first.bbox.size_y) == \
        (120.0, 120.0, 200.0, 200.0)
    assert (second.bbox.center.position.x, second.bbox.center.position.y, second.bbox.size_x, second.bbox.size_y) == \
        (500.0, 225.0, 200.0, 210.0)
    assert first.bbox.center.theta == 0.0 and first.id == ""
    assert [(r.hypothesis.class_id, r.hypothesis.score) for d in msg.detections for r in d.results] == \
        [("car", 0.9), ("person", 0.6)]
    assert all(d.header.stamp.nanosec == 250_000_000 and d.header.frame_id == "camera_optical" for d in msg.detections)


def test_no_detections_is_an_empty_array_with_the_stamp() -> None:
    det = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    msg = detections_message(det, image_header(5, "cam"), str)
    assert msg.detections == [] and msg.header.stamp.nanosec == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int8, np.int16, np.uint16, np.int32,
                                   np.uint32, np.int64, np.uint64])
def test_tensor_round_trip(dtype: type) -> None:
    arr = (np.arange(24) % 7).astype(dtype).reshape(1, 2, 3, 4)
    wire = TensorList.deserialize(tensor_list(image_header(0, "cam"), {"input_tensor": arr}).serialize())
    (t,) = wire.tensors
    assert (t.name, t.shape.rank, list(t.shape.dims)) == ("input_tensor", 4, [1, 2, 3, 4])
    assert list(t.strides) == list(arr.strides)
    np.testing.assert_array_equal(array_from_tensor(t), arr)


def test_non_contiguous_array_goes_out_contiguous_and_strided_tensor_reads_back() -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4).T  # (4, 3), Fortran order
    t = tensor_from_array("x", arr)
    assert list(t.strides) == [12, 4]
    np.testing.assert_array_equal(array_from_tensor(Tensor.deserialize(t.serialize())), arr)
    # A received tensor with column-major strides (4 bytes along dim 0, 16 along dim 1) reads as its values.
    col = Tensor(name="c", shape=TensorShape(rank=2, dims=[4, 3]), data_type=9, strides=[4, 16],
                 data=np.arange(12, dtype=np.float32).tobytes())
    np.testing.assert_array_equal(array_from_tensor(col), np.arange(12, dtype=np.float32).reshape(3, 4).T)


def test_bad_tensors_are_refused() -> None:
    with pytest.raises(ValueError, match="float16 has no"):
        tensor_from_array("h", np.zeros(3, np.float16))
    with pytest.raises(ValueError, match="needs 16 bytes"):
        array_from_tensor(Tensor(name="s", shape=TensorShape(rank=1, dims=[4]), data_type=9, strides=[4], data=b"\0" * 12))
    with pytest.raises(ValueError, match="unknown data_type 42"):
        array_from_tensor(Tensor(name="u", shape=TensorShape(rank=1, dims=[1]), data_type=42, strides=[4], data=b"\0" * 4))
    with pytest.raises(ValueError, match="rank 2"):
        array_from_tensor(Tensor(name="r", shape=TensorShape(rank=2, dims=[4]), data_type=2, strides=[1], data=b"\0" * 4))
