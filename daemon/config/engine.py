"""The profile's ``engine`` section: the policy model, how it runs, and its I/O contract (daemon/config/model_io.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgepilot.daemon.config.model_io import ModelIoConfig


class EngineConfig(ModelIoConfig):
    """The policy model, how it runs, and its I/O contract (``inputs``, ``outputs``, ``state_when_withheld``:
    daemon/config/model_io.py).

    ``backend``: ``onnxruntime`` runs the ONNX file directly (default);
    ``tensorrt`` and ``auto`` run a cached, verified engine built on this
    machine at start (``auto``: TensorRT where it is installed and a GPU is
    present, else the ONNX Runtime plan), rebuilt when stale or corrupt (see
    ``edgepilot engine``). ``precision``, ``cache_dir``, ``calibration_dir``
    apply to those two only.
    """

    model: str = Field(description="Model path (ONNX or TorchScript for tensorrt/auto); relative paths are resolved "
                                   "against the profile's folder.")
    backend: Literal["onnxruntime", "tensorrt", "auto"] = Field(
        default="onnxruntime", description="onnxruntime: the ONNX model as is; tensorrt: a cached verified TensorRT engine "
        "(start fails without TensorRT); auto: TensorRT where available, else a cached verified ONNX Runtime plan.")
    output_name: str = Field(description="Model output holding the action.")
    torchscript_outputs: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="TorchScript only: names for the tensors forward() returns, in order "
        "(an archive keeps no output names), one of them output_name. Default: [output_name], for a forward() that "
        "returns one tensor.")
    intra_op_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads; 1 is lowest latency for small MLPs.")
    precision: Literal["fp32", "fp16", "int8"] = Field(
        default="fp32", description="Engine precision (tensorrt/auto); int8 needs calibration_dir. Default fp32.")
    cache_dir: str | None = Field(
        default=None, description="Engine cache folder (tensorrt/auto). Default: $EDGEPILOT_CACHE_DIR, else "
        "/var/lib/edgepilot/engines (the service's systemd StateDirectory). Relative paths: against the profile's folder.")
    calibration_dir: str | None = Field(
        default=None, description="int8 only: folder of .npy/.npz calibration batches (real inputs). Relative paths: "
        "against the profile's folder.")

    @model_validator(mode="after")
    def _engine_options_fit_backend(self) -> "EngineConfig":
        if self.backend == "onnxruntime" and self.precision != "fp32":
            raise ValueError(f"precision {self.precision} needs a built engine: set backend: auto (or tensorrt); "
                             "backend onnxruntime runs the ONNX model as is, in fp32")
        if self.torchscript_outputs is not None and self.output_name not in self.torchscript_outputs:
            raise ValueError(f"torchscript_outputs {list(self.torchscript_outputs)} must include output_name "
                             f"{self.output_name!r} (the tensor the action stage reads)")
        if self.precision == "int8" and not self.calibration_dir:
            raise ValueError("precision int8 needs calibration_dir: a folder of .npy/.npz batches of real inputs")
        return self
