"""The ONNX Runtime "engine": an optimised ONNX model, built where TensorRT is absent.

ONNX Runtime applies all its graph optimisations (constant folding, fusions,
CPU layout transforms) and saves the result (``SessionOptions.
optimized_model_filepath``); loading that plan skips the work at daemon start.
Such a plan is tied to the ONNX Runtime version and the CPU's vector
extensions it was optimised for, which is why it lives in the same cache under
the same key rules and verification as a TensorRT engine.

Precisions: fp32 (optimisation only); fp16 (weights and activations converted
with ONNX Runtime's float16 converter, inputs and outputs kept float32); int8
(static QDQ quantisation with ``quantize_static`` fed by the same calibration
batches a TensorRT int8 build uses; weights in 7 bits on x86-64 CPUs without
VNNI, whose u8 x s8 kernels saturate otherwise: see
:func:`~.platform_detect.int8_u8s8_saturates`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .backend import EngineBuildError
from .cache_key import Precision
from .calibration_batches import CalibrationBatches


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    # quantize_static logs advice ("consider pre-processing") on the root logger at WARNING.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


class _CalibrationReader:
    """ONNX Runtime's CalibrationDataReader protocol over :class:`CalibrationBatches`."""

    def __init__(self, batches: CalibrationBatches) -> None:
        self._iter = iter(batches)
        self.batches_fed = 0

    def get_next(self) -> dict[str, Any] | None:
        batch = next(self._iter, None)
        if batch is not None:
            self.batches_fed += 1
        return batch


def build_onnxruntime_plan(onnx_path: Path, precision: Precision, calibration: CalibrationBatches | None = None
                           ) -> tuple[bytes, list[str]]:
    """Return (plan bytes, notes). Raises EngineBuildError if ONNX Runtime cannot optimise or quantise the model."""
    import onnxruntime as ort

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgepilot-ortplan-") as tmp:
        work = Path(tmp)
        source = onnx_path
        try:
            if precision == "fp16":
                import onnx
                from onnxruntime.transformers.float16 import convert_float_to_float16

                half = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
                source = work / "fp16.onnx"
                onnx.save(half, str(source))
                notes.append("fp16: weights and activations in half precision, inputs/outputs float32")
            elif precision == "int8":
                if calibration is None:
                    raise EngineBuildError("int8 needs calibration data: pass --calib DIR (a folder of .npy/.npz input batches)")
                from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

                from .platform_detect import int8_u8s8_saturates

                reader = _CalibrationReader(calibration)
                source = work / "int8.onnx"
                # ONNX Runtime's remedy for the saturation (its quantisation guide): 7-bit weights keep every
                # 16-bit pair sum in range. The plan's key carries the CPU's ISA flags, so it never moves to a CPU
                # that would want the full 8 bits.
                reduce_range = int8_u8s8_saturates()
                with _quiet_quantizer():
                    quantize_static(str(onnx_path), str(source), reader, quant_format=QuantFormat.QDQ,
                                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, reduce_range=reduce_range)
                if reader.batches_fed == 0:
                    raise EngineBuildError("int8 calibration read no batches")
                notes.append(f"int8: static QDQ quantisation calibrated on {reader.batches_fed} batches"
                             + ("; 7-bit weights (x86-64 without VNNI: u8 x s8 kernels would saturate)" if reduce_range else ""))
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.optimized_model_filepath = str(work / "plan.onnx")
            opts.log_severity_level = 3  # the "hardware specific optimisations" warning is why the key has the CPU
            ort.InferenceSession(str(source), sess_options=opts, providers=["CPUExecutionProvider"])
            return (work / "plan.onnx").read_bytes(), notes
        except EngineBuildError:
            raise
        except Exception as err:  # ONNX Runtime and its quantiser raise many types
            raise EngineBuildError(f"ONNX Runtime could not build the {precision} plan: {type(err).__name__}: {err}") from None
