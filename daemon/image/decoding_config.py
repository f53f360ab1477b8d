"""How a detector's boxes are read and which are kept: the decoding section of a profile's detector.

In the schema layer (beside encoder_config.py) so that the profile's ``detectors`` section (daemon/config/
detectors.py) can hold it; the decoding itself is daemon/image/detection_decoding.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgepilot.daemon.config.base import StrictModel


class DetectionDecoderConfig(StrictModel):
    """How to read a detector's boxes and which to keep.

    Isaac ROS's YOLOv8 decoder calls the two thresholds ``nms_threshold`` (IoU) and ``confidence_threshold``;
    here they are ``iou_threshold`` and ``score_threshold``, as in torchvision and ONNX NonMaxSuppression.
    """

    box_format: Literal["xyxy", "cxcywh"] = Field(default="xyxy", description="Corners, or centre and size.")
    box_normalized: bool = Field(default=False, description="Coordinates in [0, 1] of the network image, not pixels.")
    nms_in_model: bool = Field(default=False, description="The model already suppressed overlaps (no NMS here).")
    iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0, description="NMS: suppress same-class IoU above this.")
    score_threshold: float = Field(default=0.25, ge=0.0, le=1.0, description="Keep boxes scoring at least this.")
    top_k: int = Field(default=100, ge=1, le=100_000, description="At most this many detections per frame.")
    labels_file: Path | None = Field(default=None, description="One class name per line; line i names class i.")
