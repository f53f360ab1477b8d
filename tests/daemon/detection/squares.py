"""The detector example's profile, frames with squares at known places, a model that fails, and a receiver."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgepilot.daemon.config.profile import Profile, parse_profile
from edgepilot.daemon.transport import ros_msgs

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "detector"
_spec = importlib.util.spec_from_file_location("make_detector", EXAMPLE / "make_detector.py")
make_detector: Any = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(make_detector)  # type: ignore[union-attr]


def example_data() -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLE / "detector.yaml").read_text())
    cam = data["streams"]["camera"]
    for key in ("max_stamp_skew_s", "reject_out_of_order", "max_rate_hz"):
        cam.pop(key)  # frames fed by hand, as fast as the test likes, stamped by the test's clock
    return data


def example_profile(camera: dict[str, Any] | None = None, **detector: Any) -> Profile:
    data = example_data()
    data["streams"]["camera"].update(camera or {})
    data["detectors"]["squares"].update(detector)
    return parse_profile(data, base_dir=EXAMPLE)


def image_message(frame: np.ndarray, stamp_ns: int = 0) -> ros_msgs.Image:
    h, w, _ = frame.shape
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    return ros_msgs.Image(header=ros_msgs.Header(stamp=ros_msgs.Time(sec=sec, nanosec=nsec), frame_id="camera"),
                          height=h, width=w, encoding="rgb8", is_bigendian=0, step=3 * w, data=frame.tobytes())


def nan_model(path: Path, size: int = 64) -> Path:
    """A model with the example's input and outputs whose boxes are NaN (a detector gone wrong)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceMax", ["image"], ["peak"], axes=[0, 1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["peak", "nan"], ["boxes"]),
             helper.make_node("Mul", ["peak", "zeros"], ["scores"])]
    inits = [numpy_helper.from_array(np.full((1, 6, 4), np.nan, np.float32), "nan"),
             numpy_helper.from_array(np.zeros((1, 6, 3), np.float32), "zeros")]
    graph = helper.make_graph(nodes, "nan_detector",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 6, 4]),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 6, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, str(path))
    return path


class Receiver:
    """Every message of one topic, received through a DDS participant of its own."""

    def __init__(self, transport: Any, topic: str, msg_type: str) -> None:
        self.messages: list[Any] = []
        self._got = threading.Event()
        transport.subscribe(topic, msg_type, self._on, reliable=True)

    def _on(self, msg: Any) -> None:
        self.messages.append(msg)
        self._got.set()

    def wait(self, poke: Any, timeout_s: float = 10.0) -> Any:
        """Call ``poke()`` until a message arrives (discovery takes a moment); the newest message."""
        deadline = time.monotonic() + timeout_s
        while not self.messages and time.monotonic() < deadline:
            poke()
            self._got.wait(0.05)
        assert self.messages, "no message received"
        return self.messages[-1]
