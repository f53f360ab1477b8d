"""The profile's ``detectors`` section: detection models run on camera frames beside the control loop.

Each entry runs one model on every new frame of one camera stream, on a thread of its own with a backend of its
own (daemon/detection/), and publishes ``vision_msgs/msg/Detection2DArray`` on ``topic`` (and, with
``publish_tensors``, the raw model outputs as an Isaac ROS ``TensorList`` on ``tensors_topic``)::

    detectors:
      squares:
        model: squares_detector.onnx          # relative to the profile's folder
        stream: camera                        # a sensor_msgs/Image or CompressedImage stream
        encoder: {network_image_width: 96, network_image_height: 96, image_mean: [0, 0, 0], image_stddev: [1, 1, 1]}
        decoding: {box_format: xyxy, score_threshold: 0.5, iou_threshold: 0.5}
        labels_file: squares_labels.txt       # relative to the profile's folder
        topic: /detections
        frame_id: camera_optical_frame

A detector never holds the control loop back and, by default, its faults (an inference error, a non-finite
output, no frame processed within ``max_age_s``) are counted and reported but never stop the robot. With
``control_depends_on: true`` they raise the watchdog's ``detector`` fault, which zeroes the command like any other
fault (daemon/safety/detector_check.py).

Checked at load (:func:`check_detectors`): the stream exists and is a camera, the model and labels files exist,
the topics are ROS names and clash with nothing the daemon reads or writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.base import StrictModel
from edgepilot.daemon.config.model_io import IMAGE_TYPES
from edgepilot.daemon.config.topics import FIXED_OUTPUT_TOPICS, TopicName
from edgepilot.daemon.image.decoding_config import DetectionDecoderConfig
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig


class DetectorOutputNames(StrictModel):
    """Which model outputs hold what (batch dimension of 1 dropped): ``boxes`` (N, 4); ``scores`` (N, C) per
    class, or (N,) with ``class_ids`` (N,); ``count``: a scalar number of valid rows (models with NMS inside)."""

    boxes: str = Field(default="boxes", min_length=1, description="Model output with the boxes, (1, N, 4).")
    scores: str = Field(default="scores", min_length=1, description="Per-class (1, N, C) or best-class (1, N) scores.")
    class_ids: str | None = Field(default=None, description="Model output with class ids (1, N), if scores are (1, N).")
    count: str | None = Field(default=None, description="Model output with the number of valid rows, if any.")


class DetectorConfig(StrictModel):
    """One detector: a model, the camera it reads, how frames are encoded and boxes decoded, where results go.

    Units: seconds (``*_s``); boxes are published in source-image pixels (x right, y down, the camera's image
    frame ``frame_id``).
    """

    model: str = Field(min_length=1, description="ONNX model path; relative paths are resolved against the profile's folder.")
    stream: str = Field(min_length=1, description="The camera stream (sensor_msgs/Image or CompressedImage) it reads.")
    input_name: str | None = Field(default=None, description="The model's image input; None: the model's only input.")
    encoder: ImageEncoderConfig = Field(description="Frame -> model input (Isaac ROS dnn_image_encoder names).")
    decoding: DetectionDecoderConfig = Field(default_factory=DetectionDecoderConfig,
                                             description="Box format, thresholds, NMS (daemon/image/decoding_config.py).")
    outputs: DetectorOutputNames = Field(default_factory=DetectorOutputNames, description="The model's output names.")
    labels_file: str | None = Field(default=None, description="Class names, one a line (line 1 is class 0); "
                                    "relative to the profile's folder. None: class ids as text.")
    topic: TopicName = Field(description="Detection2DArray output topic.")
    frame_id: str = Field(min_length=1, description="header.frame_id of the detections: the camera's optical frame. "
                          "The stream's ring keeps pixels and receipt times only, not the image header.")
    publish_tensors: bool = Field(default=False, description="Also publish the raw model outputs as an Isaac ROS TensorList.")
    tensors_topic: TopicName | None = Field(default=None, description="TensorList topic; default: <topic>/tensors.")
    backend: Literal["onnxruntime", "tensorrt", "auto"] = Field(default="onnxruntime", description="Inference backend.")
    precision: Literal["fp32", "fp16"] = Field(default="fp32", description="tensorrt/auto only: engine precision.")
    intra_op_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads of this detector.")
    control_depends_on: bool = Field(default=False, description="true: a detector fault is a watchdog fault "
                                     "(zero command); false: it is counted and reported only.")
    max_age_s: float | None = Field(default=None, gt=0, le=60, description="A detector that has processed no frame "
                                    "for this long is faulted (stale camera, hung model); default: the stream's max_age_s.")
    poll_period_s: float = Field(default=0.002, gt=0, le=0.1, description="How often the worker looks for a new "
                                 "frame in the stream's ring (adds at most this much latency).")

    @model_validator(mode="after")
    def _labels_in_one_place(self) -> "DetectorConfig":
        if self.decoding.labels_file is not None:
            raise ValueError("set the labels file as labels_file of the detector (resolved against the profile's "
                             "folder), not decoding.labels_file")
        return self

    def resolved_tensors_topic(self) -> str:
        return self.tensors_topic if self.tensors_topic is not None else self.topic + "/tensors"

    def output_topics(self) -> list[str]:
        return [self.topic] + ([self.resolved_tensors_topic()] if self.publish_tensors else [])


def resolve(base_dir: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base_dir / p


def check_detectors(profile: Any) -> None:
    """Each detector against the rest of the profile; raises ValueError naming the field and the fix."""
    used: dict[str, str] = {s.topic: f"streams.{n}.topic" for n, s in profile.streams.items()}
    used.update({profile.action.topic: "action.topic"})
    used.update({t: "the diagnostics output" for t in FIXED_OUTPUT_TOPICS})
    for name, d in profile.detectors.items():
        where = f"detectors.{name}"
        s = profile.streams.get(d.stream)
        if s is None or s.type not in IMAGE_TYPES:
            cams = sorted(n for n, c in profile.streams.items() if c.type in IMAGE_TYPES)
            raise ValueError(f"{where}.stream={d.stream!r} must name a camera stream (Image or CompressedImage); "
                             f"camera streams: {cams}")
        for field, path in (("model", d.model), ("labels_file", d.labels_file)):
            if path is not None and not resolve(profile.base_dir, path).is_file():
                raise ValueError(f"{where}.{field}: file not found: {resolve(profile.base_dir, path)} (relative paths "
                                 "are resolved against the profile's folder)")
        for topic in d.output_topics():
            if topic in used:
                raise ValueError(f"{where}: topic {topic!r} is also {used[topic]}; a detector publishes on a topic "
                                 "of its own (the daemon must not read what it writes, nor two outputs share one): "
                                 "rename one")
            used[topic] = f"{where}'s output"
