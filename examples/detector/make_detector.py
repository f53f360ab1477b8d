"""Build squares_detector.onnx: a fixed-weight detector of red, green and blue squares, as an ONNX graph.

Not trained: every weight is written down here, so its boxes can be computed by hand.

* Input ``image`` float32 [1, 3, S, S], RGB in [0, 1] (the encoder with ``scale: true``, ``image_mean`` 0 and
  ``image_stddev`` 1; letterbox pad 0, black).
* Colour masks: a 1x1 convolution and a sigmoid, ``m_c = sigmoid(K * (x_c - x_o1 - x_o2 - 0.5))`` for class c
  (red, green, blue) with o1, o2 the other two channels: about 1 on a saturated colour (1, 0, 0), about 0 on
  grey, white, black and the pad.
* Per class, the column and row profiles (max of the mask over rows, over columns) thresholded at ``T_TIGHT``
  (0.5) and at ``T_LOOSE`` (0.05): ``x1`` = the first column above the threshold, ``x2`` = one past the last
  (pixel edges, network pixels, xyxy), the same for y. The loose box is the tight one grown by the resize's
  blended edge pixels.
* Outputs ``boxes`` [1, 2C, 4] (the C tight boxes, then the C loose ones) and ``scores`` [1, 2C, C]: row i of the
  tight boxes scores its own class ``max(m_i)`` and 0 for the others, the loose rows ``LOOSE_SCORE`` times that.
  Each class therefore gives two overlapping candidates, and the daemon's class-aware NMS keeps the tight one:
  one box per colour (the model finds at most one square per colour per frame).

Usage: python examples/detector/make_detector.py [--size S] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LABELS = ("red", "green", "blue")
K = 20.0
T_TIGHT, T_LOOSE = 0.5, 0.05
LOOSE_SCORE = 0.9
DEFAULT_SIZE = 64


def _colour_weights() -> tuple[np.ndarray, np.ndarray]:
    w = -np.ones((3, 3), np.float32) + 2 * np.eye(3, dtype=np.float32)  # +1 own channel, -1 the others
    return (K * w).reshape(3, 3, 1, 1), np.full(3, -0.5 * K, np.float32)


def _edges(helper, prefix: str, mask_axis: int, threshold: float, size: int, nodes: list, inits: list) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Nodes giving [1, C] first-edge and one-past-last-edge of the mask's profile along one image axis."""
    from onnx import TensorProto, numpy_helper

    p = f"{prefix}_t{int(threshold * 100)}"
    nodes += [helper.make_node("ReduceMax", ["mask"], [f"{p}_profile4"], axes=[mask_axis], keepdims=0),
              helper.make_node("Greater", [f"{p}_profile4", f"{p}_thr"], [f"{p}_on_bool"]),
              helper.make_node("Cast", [f"{p}_on_bool"], [f"{p}_on"], to=TensorProto.FLOAT),
              helper.make_node("Mul", [f"{p}_on", f"{p}_from_end"], [f"{p}_rev"]),
              helper.make_node("ReduceMax", [f"{p}_rev"], [f"{p}_rev_max"], axes=[2], keepdims=0),
              helper.make_node("Sub", [f"{p}_size", f"{p}_rev_max"], [f"{p}_lo"]),
              helper.make_node("Mul", [f"{p}_on", f"{p}_one_past"], [f"{p}_fwd"]),
              helper.make_node("ReduceMax", [f"{p}_fwd"], [f"{p}_hi"], axes=[2], keepdims=0)]
    idx = np.arange(size, dtype=np.float32)
    inits += [numpy_helper.from_array(np.array(threshold, np.float32), f"{p}_thr"),
              numpy_helper.from_array(size - idx, f"{p}_from_end"),
              numpy_helper.from_array(idx + 1, f"{p}_one_past"),
              numpy_helper.from_array(np.array(size, np.float32), f"{p}_size")]
    return f"{p}_lo", f"{p}_hi"


def _boxes(helper, threshold: float, size: int, nodes: list, inits: list) -> str:  # type: ignore[no-untyped-def]
    """[1, C, 4] xyxy boxes of the mask thresholded at ``threshold``."""
    x1, x2 = _edges(helper, "x", 2, threshold, size, nodes, inits)  # max over rows: the column profile
    y1, y2 = _edges(helper, "y", 3, threshold, size, nodes, inits)  # max over columns: the row profile
    out = f"boxes_t{int(threshold * 100)}"
    parts = []
    for name in (x1, y1, x2, y2):
        nodes.append(helper.make_node("Unsqueeze", [name, "axis2"], [name + "_u"]))
        parts.append(name + "_u")
    nodes.append(helper.make_node("Concat", parts, [out], axis=2))
    return out


def build(out: Path, size: int = DEFAULT_SIZE) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, b = _colour_weights()
    c = len(LABELS)
    nodes = [helper.make_node("Conv", ["image", "colour_w", "colour_b"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["mask"]),
             helper.make_node("ReduceMax", ["mask"], ["peak"], axes=[2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["peak", "axis2"], ["peak_u"]),
             helper.make_node("Mul", ["peak_u", "eye"], ["scores_tight"]),
             helper.make_node("Mul", ["scores_tight", "loose_score"], ["scores_loose"]),
             helper.make_node("Concat", ["scores_tight", "scores_loose"], ["scores"], axis=1)]
    inits = [numpy_helper.from_array(w, "colour_w"), numpy_helper.from_array(b, "colour_b"),
             numpy_helper.from_array(np.eye(c, dtype=np.float32), "eye"),
             numpy_helper.from_array(np.array(LOOSE_SCORE, np.float32), "loose_score"),
             numpy_helper.from_array(np.array([2], np.int64), "axis2")]
    tight = _boxes(helper, T_TIGHT, size, nodes, inits)
    loose = _boxes(helper, T_LOOSE, size, nodes, inits)
    nodes.append(helper.make_node("Concat", [tight, loose], ["boxes"], axis=1))
    graph = helper.make_graph(
        nodes, "squares_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2 * c, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2 * c, c])], inits)
    model = helper.make_model(graph, producer_name="edgepilot examples/detector/make_detector.py",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7  # the IR of opset 13: readable by any onnxruntime >= 1.7
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def write_labels(out: Path) -> Path:
    out.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return out


def render_frame(height: int, width: int, squares: dict[str, tuple[int, int, int]],
                 background: int = 128) -> np.ndarray:
    """An (h, w, 3) uint8 RGB frame: grey, with a saturated square per label at (x, y, side) in pixels."""
    frame = np.full((height, width, 3), background, np.uint8)
    for label, (x, y, side) in squares.items():
        colour = np.zeros(3, np.uint8)
        colour[LABELS.index(label)] = 255
        frame[y:y + side, x:x + side] = colour
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help="network image side S, pixels")
    ap.add_argument("--out", type=Path, default=HERE / "squares_detector.onnx")
    args = ap.parse_args()
    print(build(args.out, args.size))
    print(write_labels(args.out.parent / "squares_labels.txt"))


if __name__ == "__main__":
    main()
