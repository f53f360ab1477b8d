"""Detection decoding against boxes computed by hand (the arithmetic is written out next to each number)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.daemon.image.detection_decoding import (DetectionDecoder, DetectionDecoderConfig, box_iou,
                                                        class_aware_nms, load_labels)
from edgepilot.daemon.image.geometry import LetterboxGeometry

# 640x480 letterboxed into 320x320: scale min(320/640, 320/480) = 0.5, resized 320x240, pad_y (320-240)/2 = 40.
# Back to the source: x_s = x_n / 0.5, y_s = (y_n - 40) / 0.5.
LETTERBOX = LetterboxGeometry.compute("letterbox", (480, 640), (320, 320))

# Network-pixel xyxy boxes, scores, classes.
BOXES = np.array([
    [10, 50, 110, 150],    # A 0.9 class 0
    [20, 60, 120, 160],    # B 0.8 class 0: IoU with A = 90*90 / (2*100*100 - 8100) = 8100/11900 = 0.681 -> gone
    [20, 60, 120, 160],    # C 0.7 class 1: the same box as B, another class -> kept
    [200, 100, 300, 200],  # D 0.6 class 0: overlaps nothing -> kept
    [0, 0, 10, 10],        # E 0.1 class 0: under the 0.25 score threshold
], dtype=np.float64)
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
CLASSES = np.array([0, 0, 1, 0, 0])
# A, C, D in source pixels: A x 10/0.5..110/0.5 = 20..220, y (50-40)/0.5..(150-40)/0.5 = 20..220.
EXPECTED = np.array([[20, 20, 220, 220], [40, 40, 240, 240], [400, 120, 600, 320]], dtype=np.float64)


def decoder(**kw: object) -> DetectionDecoder:
    return DetectionDecoder(DetectionDecoderConfig.model_validate(kw), LETTERBOX)


def test_geometry_by_hand() -> None:
    g = LETTERBOX
    assert (g.resized_width, g.resized_height, g.pad_x, g.pad_y, g.crop_x, g.crop_y) == (320, 240, 0, 40, 0, 0)
    assert (g.scale_x, g.scale_y) == (0.5, 0.5)
    # VGA into 224x224: letterbox scale 0.35 -> 224x168, pad_y 28; crop scale 224/480 -> 298.67 -> 299x224, crop_x 37.
    lb = LetterboxGeometry.compute("letterbox", (480, 640), (224, 224))
    assert (lb.resized_width, lb.resized_height, lb.pad_y) == (224, 168, 28)
    crop = LetterboxGeometry.compute("crop", (480, 640), (224, 224))
    assert (crop.resized_width, crop.resized_height, crop.crop_x, crop.crop_y) == (299, 224, 37, 0)
    xs, ys = crop.network_to_source(np.array([0.0, 224.0]), np.array([0.0, 224.0]))
    np.testing.assert_allclose(xs, [37 * 640 / 299, 261 * 640 / 299])  # 79.197 and 558.662
    np.testing.assert_allclose(ys, [0.0, 480.0])
    xn, yn = crop.source_to_network(xs, ys)
    np.testing.assert_allclose([xn, yn], [[0, 224], [0, 224]], atol=1e-9)


def test_xyxy_pixels_class_aware_nms() -> None:
    det = decoder().decode(BOXES, SCORES, CLASSES)
    np.testing.assert_allclose(det.boxes, EXPECTED)
    np.testing.assert_allclose(det.scores, [0.9, 0.7, 0.6])
    assert det.class_ids.tolist() == [0, 1, 0] and len(det) == 3


def test_cxcywh_normalised_gives_the_same_boxes() -> None:
    # A as centre and size: cx (10+110)/2 = 60, cy (50+150)/2 = 100, w = h = 100; / 320 -> 0.1875, 0.3125, 0.3125.
    cxcywh = np.stack([(BOXES[:, 0] + BOXES[:, 2]) / 2, (BOXES[:, 1] + BOXES[:, 3]) / 2,
                       BOXES[:, 2] - BOXES[:, 0], BOXES[:, 3] - BOXES[:, 1]], axis=1) / 320.0
    np.testing.assert_allclose(cxcywh[0], [0.1875, 0.3125, 0.3125, 0.3125])
    det = decoder(box_format="cxcywh", box_normalized=True).decode(cxcywh, SCORES, CLASSES)
    np.testing.assert_allclose(det.boxes, EXPECTED)
    assert det.class_ids.tolist() == [0, 1, 0]


def test_per_class_scores_pick_the_best_class() -> None:
    # Row 0: class 1 (0.8 > 0.1); row 1: class 0 (0.6 > 0.3). Disjoint boxes: both kept, best first.
    boxes = np.array([[0, 40, 10, 50], [100, 100, 110, 110]], dtype=np.float64)
    det = decoder().decode(boxes, np.array([[0.1, 0.8], [0.6, 0.3]]))
    assert det.class_ids.tolist() == [1, 0]
    np.testing.assert_allclose(det.scores, [0.8, 0.6])
    np.testing.assert_allclose(det.boxes, [[0, 0, 20, 20], [200, 120, 220, 140]])  # (y - 40) / 0.5


def test_iou_exactly_at_the_threshold_is_kept() -> None:
    a, b = np.array([0.0, 0, 10, 10]), np.array([[0.0, 0, 10, 5]])
    assert box_iou(a, b).tolist() == [0.5]  # intersection 50, union 100 + 50 - 50
    boxes, scores, ids = np.vstack([a, b]), np.array([0.9, 0.8]), np.array([3, 3])
    assert class_aware_nms(boxes, scores, ids, 0.5).tolist() == [0, 1]  # suppressed only above the threshold
    assert class_aware_nms(boxes, scores, ids, 0.49).tolist() == [0]
    assert box_iou(np.zeros(4), np.zeros((1, 4))).tolist() == [0.0]  # empty boxes: no division by zero


def test_boxes_are_clipped_to_the_image_and_pad_only_boxes_dropped() -> None:
    boxes = np.array([
        [0, 0, 50, 30],      # entirely in the top pad (y < 40): y (0-40)/0.5 = -80 and (30-40)/0.5 = -20 -> dropped
        [0, 20, 100, 60],    # half in the pad: y1 -40 -> 0, y2 (60-40)/0.5 = 40
        [300, 270, 330, 300],  # past the right and bottom edges: x 600..660 -> 600..640, y 460..520 -> 460..480
    ], dtype=np.float64)
    det = decoder().decode(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 1, 2]))
    np.testing.assert_allclose(det.boxes, [[0, 0, 200, 40], [600, 460, 640, 480]])
    assert det.class_ids.tolist() == [1, 2]


def test_nms_in_model_keeps_overlaps_and_reads_count_rows() -> None:
    # Padded output of a model with NMS inside: 2 valid rows of 4, the padding rows must not appear.
    boxes = np.vstack([BOXES[:2], np.full((2, 4), 5.0)])
    scores = np.array([0.8, 0.9, 1.0, 1.0])
    det = decoder(nms_in_model=True).decode(boxes, scores, np.array([0, 0, 0, 0]), count=2)
    np.testing.assert_allclose(det.scores, [0.9, 0.8])  # sorted, the overlapping pair both kept
    np.testing.assert_allclose(det.boxes, [[40, 40, 240, 240], EXPECTED[0]])


def test_top_k_and_score_threshold() -> None:
    det = decoder(top_k=2, score_threshold=0.65).decode(BOXES, SCORES, CLASSES)
    assert det.scores.tolist() == [0.9, 0.7]  # D (0.6) under 0.65; top 2 anyway
    det = decoder(score_threshold=0.95).decode(BOXES, SCORES, CLASSES)
    assert len(det) == 0 and det.boxes.shape == (0, 4)


def test_labels_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("person\ncar \n\n", encoding="utf-8")
    assert load_labels(path) == ("person", "car")
    dec = DetectionDecoder(DetectionDecoderConfig(labels_file=path), LETTERBOX)
    assert dec.label(1) == "car" and decoder().label(1) == "1"
    with pytest.raises(ValueError, match="class id 2 .* 2 classes"):
        dec.decode(BOXES[:1], SCORES[:1], np.array([2]))
    path.write_text("person\n\ncar\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 is blank"):
        load_labels(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no labels"):
        load_labels(path)


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="need class_ids"):
        decoder().decode(BOXES, SCORES)
    with pytest.raises(ValueError, match="not both"):
        decoder().decode(BOXES, np.ones((5, 2)), CLASSES)
    with pytest.raises(ValueError, match="5 boxes, 4 scores"):
        decoder().decode(BOXES, SCORES[:4], CLASSES[:4])
