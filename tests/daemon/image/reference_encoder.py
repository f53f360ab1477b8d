"""A straightforward reference for the image encoder: allocating OpenCV/numpy calls and float64 arithmetic.

Written from the documented behaviour (daemon/image/encoder_config.py), not from the encoder: the geometry is
computed again here, the resize is ``cv2.resize`` without ``dst``, the pad is ``np.pad``, the crop a slice, the
normalisation float64 and the layout a transpose.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgepilot.daemon.image.encoder_config import ImageEncoderConfig

INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}
RANGE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


def reference_encode(config: ImageEncoderConfig, sample: np.ndarray) -> np.ndarray:
    h, w, c = sample.shape
    nw, nh = config.network_image_width, config.network_image_height
    img = sample
    if sample.dtype == np.float32:
        img = np.where(np.isfinite(sample), sample, np.float32(config.depth_invalid_value)).astype(np.float32)
    if not config.keep_aspect_ratio:
        rw, rh = nw, nh
    elif config.enable_padding:
        s = min(nw / w, nh / h)
        rw, rh = min(nw, max(1, math.floor(w * s + 0.5))), min(nh, max(1, math.floor(h * s + 0.5)))
    else:
        s = max(nw / w, nh / h)
        rw, rh = max(nw, math.floor(w * s + 0.5)), max(nh, math.floor(h * s + 0.5))
    resized = cv2.resize(img if c == 3 else img[:, :, 0], (rw, rh), interpolation=INTERP[config.interp_type])
    resized = resized.reshape(rh, rw, c).astype(np.float64)
    if config.keep_aspect_ratio and not config.enable_padding:
        y0, x0 = (rh - nh) // 2, (rw - nw) // 2
        network = resized[y0:y0 + nh, x0:x0 + nw]
    else:
        py, px = (nh - rh) // 2, (nw - rw) // 2
        network = np.pad(resized, ((py, nh - rh - py), (px, nw - rw - px), (0, 0)), constant_values=config.pad_value)
    if config.encoding_desired == "bgr8":
        network = network[:, :, ::-1]
    s = 1.0 / RANGE[sample.dtype] if config.scale is True else 1.0 if config.scale is False else float(config.scale)
    tensor = (network * s - np.asarray(config.image_mean)) / np.asarray(config.image_stddev)
    if config.tensor_layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return tensor[None]


def tolerance(dtype: str) -> dict[str, float]:
    """assert_allclose tolerances per output dtype: float32 rounding, half precision, exact uint8."""
    return {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float16": {"rtol": 1e-3, "atol": 1e-3},
            "uint8": {"rtol": 0.0, "atol": 0.0}}[dtype]
