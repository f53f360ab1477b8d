"""A detector's output tensors into boxes in source-image pixels: box format, score threshold, class-aware NMS.

Runs on the detector's own thread (beside the control loop, never in the tick): it allocates small numpy arrays
per frame (a few per candidate box), which is why it is not held to the tick's zero-allocation rule.

Pipeline of :meth:`DetectionDecoder.decode`:

1. per-class scores ``(N, C)`` -> each box's best class and its score (or scores ``(N,)`` with class ids);
2. keep ``score >= score_threshold``;
3. boxes to ``xyxy`` in network-image pixels (``cxcywh`` converted; normalised ``[0, 1]`` coordinates
   multiplied by the network width and height);
4. unless the model already ran NMS: greedy class-aware NMS (a box is suppressed by a higher-scoring box of
   the same class whose IoU with it is above ``iou_threshold``; torchvision ``batched_nms`` semantics);
5. back through the encoder's letterbox/crop (:class:`LetterboxGeometry`) to source pixels, clipped to the
   image; boxes left with no area (entirely in the pad) are dropped;
6. the ``top_k`` highest scores, in descending score order (ties: the model's order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgepilot.daemon.image.decoding_config import DetectionDecoderConfig
from edgepilot.daemon.image.geometry import LetterboxGeometry

__all__ = ["DetectionDecoder", "DetectionDecoderConfig", "Detections", "box_iou", "class_aware_nms", "load_labels"]


def load_labels(path: Path) -> tuple[str, ...]:
    """Class names from a text file, one a line (line 1 is class 0); trailing blank lines are ignored."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ValueError(f"labels file {path} holds no labels (one class name per line)")
    for i, line in enumerate(lines):
        if not line:
            raise ValueError(f"labels file {path} line {i + 1} is blank: every class id up to the last needs a name")
    return tuple(lines)


@dataclass(frozen=True)
class Detections:
    """Kept detections, best first: ``boxes`` (n, 4) xyxy in source-image pixels, ``scores`` (n,), ``class_ids`` (n,)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``others`` (m, 4); 0 where the union has no area."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the kept boxes, best score first (stable for ties): greedy NMS within each class."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        same = class_ids[rest] == class_ids[best]
        overlap = np.zeros(rest.shape[0], dtype=bool)
        overlap[same] = box_iou(boxes[best], boxes[rest[same]]) > iou_threshold
        order = rest[~overlap]
    return np.asarray(keep, dtype=np.intp)


class DetectionDecoder:
    """A detector's outputs -> :class:`Detections` in source pixels, for one encoder's geometry."""

    def __init__(self, config: DetectionDecoderConfig, geometry: LetterboxGeometry,
                 labels: Sequence[str] | None = None) -> None:
        self.config, self.geometry = config, geometry
        if labels is None and config.labels_file is not None:
            labels = load_labels(config.labels_file)
        self.labels = tuple(labels) if labels is not None else None

    def label(self, class_id: int) -> str:
        """The class's name from the labels, or its id as text without labels."""
        return self.labels[class_id] if self.labels is not None else str(class_id)

    def decode(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None,
               count: int | None = None) -> Detections:
        """``boxes`` (N, 4); ``scores`` (N, C) per class, or (N,) with ``class_ids`` (N,).

        ``count``: only the first ``count`` rows are valid (models with NMS inside pad their outputs).
        """
        boxes, scores, ids = self._best_class(boxes, scores, class_ids, count)
        kept = scores >= self.config.score_threshold
        boxes, scores, ids = self._to_xyxy_pixels(boxes[kept]), scores[kept], ids[kept]
        if self.config.nms_in_model:
            order = np.argsort(-scores, kind="stable")
        else:
            order = class_aware_nms(boxes, scores, ids, self.config.iou_threshold)
        boxes, scores, ids = self._to_source(boxes[order]), scores[order], ids[order]
        visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        k = self.config.top_k
        det = Detections(boxes[visible][:k], scores[visible][:k], ids[visible][:k])
        if self.labels is not None and len(det) and int(det.class_ids.max()) >= len(self.labels):
            raise ValueError(f"the model gave class id {int(det.class_ids.max())} but the labels name "
                             f"{len(self.labels)} classes (0-{len(self.labels) - 1}): wrong labels file?")
        return det

    def _best_class(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None,
                    count: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64)
        n = boxes.shape[0] if count is None else int(count)
        if scores.ndim == 2:
            if class_ids is not None:
                raise ValueError("give per-class scores (N, C) or scores (N,) with class_ids, not both")
            ids = np.argmax(scores, axis=1)
            scores = scores[np.arange(scores.shape[0]), ids]
        elif class_ids is None:
            raise ValueError("scores (N,) need class_ids (N,); or give per-class scores (N, C)")
        else:
            ids = np.asarray(class_ids).reshape(-1).astype(np.int64)
        if scores.shape[0] != boxes.shape[0] or ids.shape[0] != boxes.shape[0] or not 0 <= n <= boxes.shape[0]:
            raise ValueError(f"{boxes.shape[0]} boxes, {scores.shape[0]} scores, {ids.shape[0]} class ids, count {n}")
        return boxes[:n], scores[:n], ids[:n].astype(np.int64)

    def _to_xyxy_pixels(self, b: np.ndarray) -> np.ndarray:
        if self.config.box_format == "cxcywh":
            half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
            b = np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], axis=1)
        if self.config.box_normalized:
            g = self.geometry
            b = b * np.array([g.network_width, g.network_height, g.network_width, g.network_height], dtype=np.float64)
        return b

    def _to_source(self, b: np.ndarray) -> np.ndarray:
        g = self.geometry
        x1, y1 = g.network_to_source(b[:, 0], b[:, 1])
        x2, y2 = g.network_to_source(b[:, 2], b[:, 3])
        out = np.stack([x1, y1, x2, y2], axis=1)
        np.clip(out[:, 0::2], 0, g.source_width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, g.source_height, out=out[:, 1::2])
        return out
