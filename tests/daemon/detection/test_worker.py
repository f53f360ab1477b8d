"""DetectorWorker end to end on real frames: Image messages into the camera ring, Detection2DArray out over DDS
(loopback), read back through rosbags' deserializer. The boxes are computed by hand from where the squares are.

Clocks are the test's: each frame is received 1 ms after the previous one on the loop clock, the worker runs 5 ms
after the newest receipt and sees ROS time T_ROS, so the detections must be stamped T_ROS - 5 ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.daemon.detection.detector_set import build_detectors
from edgepilot.daemon.image.tensor_list import array_from_tensor
from edgepilot.daemon.streams.ingest import make_ingest
from tests.daemon.detection.squares import Receiver, example_profile, image_message, make_detector, nan_model
from tests.daemon.transport.test_ros_vision_msgs import TS

DELAY_NS = 5_000_000
T_ROS = 1_764_000_000_123_456_789
DETECTIONS = "vision_msgs/msg/Detection2DArray"


class ReceiptClock:
    """The loop clock of the ingest: 1 ms later at every receipt."""

    def __init__(self) -> None:
        self.now = 50_000_000_000

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def _rig(profile, transport):  # type: ignore[no-untyped-def]
    receipts = ReceiptClock()
    ingest = make_ingest("camera", profile.streams["camera"], receipts, profile)
    transport.ros_time_ns = lambda: T_ROS  # the header stamp's source, fixed for the test
    detectors = build_detectors(profile, transport, {"camera": ingest.ring}, lambda: receipts.now + DELAY_NS)
    return ingest, detectors, detectors.workers["squares"]


@pytest.fixture
def transports(dds_domain: int):  # type: ignore[no-untyped-def]
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    pub, sub = DdsTransport(dds_domain), DdsTransport(dds_domain)
    try:
        yield pub, sub
    finally:
        pub.close()
        sub.close()


# (camera w, h), squares {label: (x, y, side)} in source pixels -> expected xyxy boxes, best first
GEOMETRIES = [
    ((64, 48), {"red": (8, 4, 12), "green": (40, 24, 16)},  # 64x64 letterbox: scale 1, 8 rows of pad above
     [("red", (8, 4, 20, 16)), ("green", (40, 24, 56, 40))]),
    ((128, 96), {"green": (80, 48, 32), "blue": (16, 8, 24)},  # scale 0.5: edges on even pixels map exactly
     [("green", (80, 48, 112, 80)), ("blue", (16, 8, 40, 32))]),
]


@pytest.mark.parametrize("size,squares,expected", GEOMETRIES)
def test_detections_of_known_squares_stamped_like_their_frame(transports, size, squares, expected) -> None:  # type: ignore[no-untyped-def]
    pub, sub = transports
    w, h = size
    profile = example_profile(camera={"width": w, "height": h})
    ingest, detectors, worker = _rig(profile, pub)
    receiver = Receiver(sub, "/detections", DETECTIONS)
    frame = make_detector.render_frame(h, w, squares)

    def feed_and_detect() -> None:
        ingest.on_message(image_message(frame))
        assert worker.poll_once()

    try:
        msg = receiver.wait(feed_and_detect)
    finally:
        detectors.close()
    assert ingest.dropped == 0 and worker.errors == 0
    theirs = TS.deserialize_cdr(msg.serialize(), DETECTIONS)  # the wire bytes, decoded independently
    stamp = T_ROS - DELAY_NS
    for m in (msg, theirs):
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == divmod(stamp, 1_000_000_000)
        assert m.header.frame_id == "camera_optical_frame"
        got = []
        for d in m.detections:
            assert d.header.frame_id == "camera_optical_frame" and d.header.stamp.nanosec == m.header.stamp.nanosec
            (hyp,) = d.results
            assert hyp.hypothesis.score == pytest.approx(1.0, abs=1e-4)  # sigmoid(10): a saturated colour
            b = d.bbox
            assert b.center.theta == 0.0
            got.append((hyp.hypothesis.class_id, (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2,
                                                   b.center.position.x + b.size_x / 2, b.center.position.y + b.size_y / 2)))
        # One box per square: the loose duplicate each class also emits was suppressed by NMS.
        assert sorted(got) == sorted((label, tuple(float(v) for v in box)) for label, box in expected)
    assert worker.last_count == len(expected) and worker.last_latency_ms == pytest.approx(5.0)


def test_frames_that_arrive_while_busy_are_dropped_and_counted(transports) -> None:  # type: ignore[no-untyped-def]
    pub, _ = transports
    profile = example_profile()
    ingest, detectors, worker = _rig(profile, pub)
    frame = make_detector.render_frame(48, 64, {"red": (8, 4, 12)})
    try:
        for _ in range(3):
            ingest.on_message(image_message(frame))
        assert worker.poll_once()
        assert (worker.frames_seen, worker.inferred, worker.dropped_busy) == (3, 1, 2)
        assert not worker.poll_once()  # no new frame: nothing to do, nothing counted
        assert (worker.frames_seen, worker.inferred, worker.dropped_busy) == (3, 1, 2)
        ingest.on_message(image_message(frame))
        assert worker.poll_once()
        assert (worker.frames_seen, worker.inferred, worker.dropped_busy) == (4, 2, 2)
    finally:
        detectors.close()
    r = detectors.report()["squares"]
    assert (r["frames_seen"], r["inferred"], r["dropped_busy"], r["errors"]) == (4, 2, 2, 0)


def test_the_thread_takes_every_frame_once(transports) -> None:  # type: ignore[no-untyped-def]
    import time

    pub, _ = transports
    profile = example_profile()
    ingest, detectors, worker = _rig(profile, pub)
    frame = make_detector.render_frame(48, 64, {"red": (8, 4, 12)})
    detectors.start()
    try:
        assert worker.running
        for _ in range(5):
            ingest.on_message(image_message(frame))
            time.sleep(0.03)
        deadline = time.monotonic() + 5
        while worker.inferred + worker.dropped_busy < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        detectors.close()
    assert not worker.running
    assert worker.frames_seen == 5 and worker.inferred + worker.dropped_busy == 5 and worker.inferred >= 1
    assert worker.errors == 0


def test_a_nan_output_is_counted_and_the_worker_goes_on(transports, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pub, _ = transports
    profile = example_profile(model=str(nan_model(tmp_path / "nan.onnx")))
    ingest, detectors, worker = _rig(profile, pub)
    try:
        ingest.on_message(image_message(make_detector.render_frame(48, 64, {})))
        assert worker.poll_once()  # returns normally: the fault is the worker's, not the caller's
        ingest.on_message(image_message(make_detector.render_frame(48, 64, {})))
        assert worker.poll_once()
    finally:
        detectors.close()
    assert (worker.errors, worker.inferred) == (2, 0) and worker.failing and worker.last_ok_ns == -1
    assert "not finite" in worker.last_error
    (status,) = detectors.diagnostic_statuses("robot")
    assert status.level == 1 and status.name == "edgepilot/detector/squares" and "not finite" in status.message


def test_raw_outputs_as_an_isaac_tensor_list(transports) -> None:  # type: ignore[no-untyped-def]
    pub, sub = transports
    profile = example_profile(publish_tensors=True)
    ingest, detectors, worker = _rig(profile, pub)
    receiver = Receiver(sub, "/detections/tensors", "isaac_ros_tensor_list_interfaces/msg/TensorList")
    frame = make_detector.render_frame(48, 64, {"blue": (20, 10, 8)})
    try:
        msg = receiver.wait(lambda: (ingest.on_message(image_message(frame)), worker.poll_once()))
        outputs = {n: a.copy() for n, a in worker.backend.outputs.items()}
    finally:
        detectors.close()
    assert [t.name for t in msg.tensors] == ["boxes", "scores"]
    assert msg.header.frame_id == "camera_optical_frame"
    for t in msg.tensors:
        np.testing.assert_array_equal(array_from_tensor(t), outputs[t.name])
    boxes = array_from_tensor(msg.tensors[0])
    assert boxes[0, 2].tolist() == [20.0, 18.0, 28.0, 26.0]  # blue's tight box in network pixels (pad 8 above)
