"""The CUDA encoder's parameters, without a GPU: the plan's tables evaluated in numpy against the CPU encoder,
the config field, the refusals, and the import without cuda-python."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from edgepilot.daemon.image.cuda_plan import KernelPlan, emulate
from edgepilot.daemon.image.encoder import ImageEncoder
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig
from edgepilot.daemon.image.geometry import LetterboxGeometry

from .test_encoder import MODES, MONO, RAW, frame

CASES = list(itertools.product(["rgb8", "bgr8", "mono8", "mono16", "32FC1"], ["NCHW", "NHWC"],
                               ["float32", "float16", "uint8"], sorted(MODES), ["linear", "nearest"]))


def case_config(encoding: str, layout: str, dtype: str, mode: str, interp: str) -> tuple[ImageEncoderConfig, np.ndarray] | None:
    """The configuration and a frame for one case (shared with the GPU test); None where uint8 does not apply."""
    in_dtype = {"mono16": np.uint16, "32FC1": np.float32}.get(encoding, np.uint8)
    cin = 3 if encoding in ("rgb8", "bgr8") else 1
    if dtype == "uint8" and in_dtype != np.uint8:
        return None
    kw: dict[str, object] = {"network_image_width": 20, "network_image_height": 18, "tensor_layout": layout,
                             "tensor_dtype": dtype, "interp_type": interp, "pad_value": 114.0, **MODES[mode]}
    if cin == 1:
        kw.update(MONO)
        if in_dtype == np.uint16:
            kw["scale"] = 0.001
    else:
        kw["encoding_desired"] = encoding
    if dtype == "uint8":
        kw.update(RAW if cin == 3 else {"scale": False, "image_mean": (0.0,), "image_stddev": (1.0,)})
    return ImageEncoderConfig.model_validate(kw), frame((48, 64, cin), np.dtype(in_dtype))


@pytest.mark.parametrize("case", CASES)
def test_plan_reproduces_the_cpu_encoder(case: tuple[str, ...]) -> None:
    made = case_config(*case)
    if made is None:
        pytest.skip("uint8 tensors carry 8-bit pixels only")
    cfg, sample = made
    cpu = ImageEncoder(cfg, sample.shape, sample.dtype).encode(sample)
    got = emulate(KernelPlan.compute(cfg, sample.shape, sample.dtype.name), sample)
    assert got.shape == cpu.shape and got.dtype == cpu.dtype
    np.testing.assert_allclose(got.astype(np.float64), cpu.astype(np.float64), **tolerance(cfg, sample.dtype))


def tolerance(cfg: ImageEncoderConfig, in_dtype: np.dtype) -> dict[str, float]:
    """Float rounding per output dtype; 16-bit input may land one count apart (its float bilinear rounded to the
    nearest count flips where the two orders of float operations straddle .5), i.e. one count times the gain."""
    tol = {"float32": 1e-5, "float16": 1e-3, "uint8": 0.0}[cfg.tensor_dtype]
    if in_dtype == np.uint16:
        return {"rtol": tol, "atol": tol + abs(float(cfg.scale)) / min(cfg.image_stddev) * 1.001}
    if in_dtype == np.float32:  # float depth: OpenCV's order of float operations (FMA) differs from the kernel's
        return {"rtol": tol, "atol": max(tol, 1e-4)}
    return {"rtol": tol, "atol": tol}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_plan_geometry_is_the_cpu_encoders(mode: str) -> None:
    cfg = ImageEncoderConfig(network_image_width=224, network_image_height=224, **MODES[mode])
    plan = KernelPlan.compute(cfg, (480, 640, 3), "uint8")
    assert plan.geometry == LetterboxGeometry.compute(cfg.resize_mode, (480, 640), (224, 224))
    g = plan.geometry
    assert plan.x_index.shape == (g.content_width, 4) and plan.y_index.shape == (g.content_height, 4)
    assert plan.x_index[:, :2].min() >= 0 and plan.x_index[:, :2].max() <= 639 and plan.y_index[:, :2].max() <= 479
    assert np.all(np.abs(plan.x_weight.sum(axis=1) - 1) < 1e-6)


def test_device_field_default_and_values() -> None:
    assert ImageEncoderConfig(network_image_width=8, network_image_height=8).device == "cpu"
    for d in ("cpu", "cuda", "auto"):
        assert ImageEncoderConfig(network_image_width=8, network_image_height=8, device=d).device == d
    with pytest.raises(ValidationError):
        ImageEncoderConfig(network_image_width=8, network_image_height=8, device="gpu")


def test_cuda_with_area_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValidationError, match="device cuda does not implement interp_type area"):
        ImageEncoderConfig(network_image_width=8, network_image_height=8, device="cuda", interp_type="area")


def test_cuda_without_gpu_is_a_clear_build_error() -> None:
    from edgepilot.daemon.image import cuda_encoder
    from edgepilot.engines.cuda_device import CudaUnavailable

    if cuda_encoder.cuda_usable()[0]:
        pytest.skip("a GPU is usable here")
    cfg = ImageEncoderConfig(network_image_width=8, network_image_height=8, device="cuda")
    with pytest.raises(CudaUnavailable, match="encoder.device: cuda") as err:
        cuda_encoder.build_image_encoder(cfg, (6, 8, 3), np.uint8)
    assert "encoder.device: cpu" in str(err.value)


def test_auto_falls_back_to_the_cpu_encoder() -> None:
    from edgepilot.daemon.image import cuda_encoder

    cfg = ImageEncoderConfig(network_image_width=8, network_image_height=8, device="auto", interp_type="area")
    assert isinstance(cuda_encoder.build_image_encoder(cfg, (6, 8, 3), np.uint8), ImageEncoder)
    if not cuda_encoder.cuda_usable()[0]:
        cfg = ImageEncoderConfig(network_image_width=8, network_image_height=8, device="auto")
        assert isinstance(cuda_encoder.build_image_encoder(cfg, (6, 8, 3), np.uint8), ImageEncoder)


def test_kernel_options_and_params_layout() -> None:
    from edgepilot.daemon.image.cuda_encoder import kernel_options, params_struct

    cfg = ImageEncoderConfig(network_image_width=224, network_image_height=224, encoding_desired="bgr8")
    plan = KernelPlan.compute(cfg, (480, 640, 3), "uint8")
    opts = kernel_options(plan, "compute_90")
    assert b"-DIN_U8" in opts and b"-DNCHW" in opts and b"-DCOUT=3" in opts and b"-DOUT_F32" in opts
    rec = params_struct(plan)
    assert rec.nbytes == 80  # 10 int32 then 10 float32, as the kernel's Params struct
    assert list(rec["ints"][:7]) == [640, 224, 224, 0, 28, 224, 168] and list(rec["ints"][7:]) == [2, 1, 0]
