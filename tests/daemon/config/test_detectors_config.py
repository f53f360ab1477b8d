"""The profile's ``detectors`` section: checked at load, every error naming the field and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgepilot.daemon.config.profile import ProfileError, load_profile, parse_profile
from tests.daemon.detection.squares import EXAMPLE, example_data


def _load(change: Any) -> Any:
    data = example_data()
    change(data)
    return parse_profile(data, base_dir=EXAMPLE, source="detector.yaml")


def _error(change: Any) -> str:
    with pytest.raises(ProfileError) as err:
        _load(change)
    return str(err.value)


def _set(**fields: Any) -> Any:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["detectors"]["squares"].update(fields)
    return change


def test_the_example_loads_with_its_files_beside_it() -> None:
    p = load_profile(EXAMPLE / "detector.yaml")
    d = p.detectors["squares"]
    assert d.stream == "camera" and d.topic == "/detections" and not d.control_depends_on
    assert d.encoder.output_shape() == (1, 3, 64, 64) and d.decoding.score_threshold == 0.5
    assert d.output_topics() == ["/detections"]
    assert _load(_set(publish_tensors=True)).detectors["squares"].output_topics() == ["/detections", "/detections/tensors"]


def test_a_profile_without_detectors_has_none() -> None:
    def drop(data: dict) -> None:  # type: ignore[type-arg]
        del data["detectors"]
    assert _load(drop).detectors == {}


@pytest.mark.parametrize("stream", ["imu", "nope"])
def test_the_stream_must_be_a_camera(stream: str) -> None:
    msg = _error(_set(stream=stream))
    assert f"detectors.squares.stream={stream!r} must name a camera stream" in msg and "['camera']" in msg


@pytest.mark.parametrize("field", ["model", "labels_file"])
def test_missing_files_are_named_with_where_they_were_looked_for(field: str) -> None:
    msg = _error(_set(**{field: "missing.file"}))
    assert f"detectors.squares.{field}: file not found: {EXAMPLE / 'missing.file'}" in msg


@pytest.mark.parametrize("topic,clash", [("/camera/image_raw", "streams.camera.topic"), ("/cmd_vel", "action.topic"),
                                         ("/diagnostics", "the diagnostics output")])
def test_the_topic_must_not_clash_with_what_the_daemon_reads_or_writes(topic: str, clash: str) -> None:
    msg = _error(_set(topic=topic))
    assert f"detectors.squares: topic {topic!r} is also {clash}" in msg


def test_two_detectors_never_share_a_topic_nor_a_tensor_topic() -> None:
    def twin(tensors_topic: str) -> Any:
        def change(data: dict) -> None:  # type: ignore[type-arg]
            other = copy.deepcopy(data["detectors"]["squares"])
            other.update(topic="/detections2", publish_tensors=True, tensors_topic=tensors_topic)
            data["detectors"]["other"] = other
        return change
    assert "topic '/detections' is also detectors.squares's output" in _error(twin("/detections"))
    assert len(_load(twin("/other/tensors")).detectors) == 2


def test_topics_follow_the_ros_naming_rules() -> None:
    assert "detectors.squares.topic: topic 'detections' is not an absolute ROS 2 name" in _error(_set(topic="detections"))
    assert "detectors.squares.tensors_topic: topic '/a__b' is not" in _error(
        _set(publish_tensors=True, tensors_topic="/a__b"))


def test_labels_belong_to_the_detector_not_its_decoding() -> None:
    msg = _error(_set(decoding={"labels_file": "squares_labels.txt"}))
    assert "set the labels file as labels_file of the detector" in msg


@pytest.mark.parametrize("fields,where", [({"frame_id": ""}, "detectors.squares.frame_id"),
                                          ({"poll_period_s": 0}, "detectors.squares.poll_period_s"),
                                          ({"backend": "tflite"}, "detectors.squares.backend"),
                                          ({"colour": "red"}, "detectors.squares.colour"),
                                          ({"decoding": {"iou_threshold": 2}}, "detectors.squares.decoding.iou_threshold")])
def test_field_errors_name_the_field(fields: dict, where: str) -> None:  # type: ignore[type-arg]
    assert f"  {where}: " in _error(_set(**fields))
