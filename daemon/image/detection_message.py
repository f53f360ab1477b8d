"""Decoded detections into ``vision_msgs/msg/Detection2DArray``, stamped like the image they came from.

One Detection2D per box, with one hypothesis (the class's label and its score; the hypothesis pose is left at
its default, as 2-D detectors do). ``bbox`` is the box's centre and full size in source-image pixels, ``theta``
0. The array's header and every detection's header are the source image's header (its stamp and frame_id), so
a subscriber can pair detections with the frame through an exact time synchroniser. Runs on the detector's
thread, not in the control tick (it builds message objects per frame).
"""

from __future__ import annotations

from typing import Callable

from edgepilot.daemon.image.detection_decoding import Detections
from edgepilot.daemon.transport.ros_msgs import Header, Time
from edgepilot.daemon.transport.ros_vision_msgs import (BoundingBox2D, Detection2D, Detection2DArray,
                                                        ObjectHypothesis, ObjectHypothesisWithPose, Point2D, Pose2D)


def image_header(stamp_ns: int, frame_id: str) -> Header:
    """The header of a source image whose stamp is ``stamp_ns`` (nanoseconds since the epoch)."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def detections_message(detections: Detections, header: Header, label: Callable[[int], str]) -> Detection2DArray:
    """``Detection2DArray`` of ``detections`` (source pixels), each hypothesis named by ``label(class_id)``."""
    out = []
    for (x1, y1, x2, y2), score, class_id in zip(detections.boxes.tolist(), detections.scores.tolist(),
                                                 detections.class_ids.tolist()):
        box = BoundingBox2D(center=Pose2D(position=Point2D(x=(x1 + x2) / 2, y=(y1 + y2) / 2), theta=0.0),
                            size_x=x2 - x1, size_y=y2 - y1)
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=label(class_id), score=score))
        out.append(Detection2D(header=header, results=[hypothesis], bbox=box))
    return Detection2DArray(header=header, detections=out)
