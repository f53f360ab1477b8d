"""What the CUDA encoder's kernel is given, computed in plain Python/numpy so it is tested without a GPU.

The kernel (daemon/image/cuda_encoder.py) does no geometry of its own: for every content column and row of the
network image it reads a precomputed entry of two source indices and two weights, built here the way OpenCV's
``cv2.resize`` builds its tables (resize.cpp, ``resizeGeneric``): half-pixel centres for ``linear``
(``fx = (dx + 0.5) * w / rw - 0.5``, clamped at the edges with weight 0), ``floor(dx * w / rw)`` for ``nearest``,
weights in float and, for 8-bit input, in OpenCV's 11-bit fixed point (``INTER_RESIZE_COEF_BITS``).
:func:`emulate` evaluates the plan with the kernel's arithmetic in numpy; tests compare it with the CPU encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.daemon.image.encoder_config import ImageEncoderConfig, pixel_scale
from edgepilot.daemon.image.geometry import LetterboxGeometry

COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE: 8-bit resizes weigh pixels in 1/2048ths


def _axis_table(src: int, resized: int, start: int, count: int, interp: str) -> np.ndarray:
    """Rows ``[i0, i1, w0_fixed, w1_fixed]`` (int32) and the float weights, for resized indices start..start+count."""
    scale = 1.0 / (resized / src)  # OpenCV: scale_x = 1. / inv_scale_x, inv_scale_x = (double)dsize / ssize
    idx = np.empty((count, 4), np.int32)
    wf = np.empty((count, 2), np.float32)
    for k in range(count):
        d = start + k
        if interp == "nearest":
            i0, f = min(math.floor(d * scale), src - 1), 0.0
        else:
            fx = float(np.float32((d + 0.5) * scale - 0.5))  # OpenCV rounds the coordinate to float first
            i0 = math.floor(fx)
            f = float(np.float32(fx) - np.float32(i0))
            if i0 < 0:
                i0, f = 0, 0.0
            if i0 >= src - 1:
                i0, f = src - 1, 0.0
        w0, w1 = np.float32(1.0) - np.float32(f), np.float32(f)
        # saturate_cast<short>(float) rounds half to even, as np.rint does.
        idx[k] = (i0, min(i0 + 1, src - 1), int(np.rint(w0 * COEF_SCALE)), int(np.rint(w1 * COEF_SCALE)))
        wf[k] = (w0, w1)
    return idx, wf


@dataclass(frozen=True)
class KernelPlan:
    """Everything one encoder's kernel reads: geometry, tables, per-channel affine, pad, layout strides."""

    geometry: LetterboxGeometry
    in_height: int
    in_width: int
    in_channels: int
    in_dtype: str
    out_channels: int
    out_dtype: str
    nchw: bool
    x_index: np.ndarray  # (content_width, 4) int32: source column i0, i1 and fixed-point weights
    x_weight: np.ndarray  # (content_width, 2) float32
    y_index: np.ndarray  # (content_height, 4) int32
    y_weight: np.ndarray  # (content_height, 2) float32
    source_channel: tuple[int, ...]  # output channel c reads sample channel source_channel[c] (rgb/bgr)
    gain: tuple[float, ...]
    offset: tuple[float, ...]
    pad: tuple[float, ...]  # the pad's output value per channel, already normalised (and rounded for uint8)
    invalid_depth: float

    @classmethod
    def compute(cls, config: ImageEncoderConfig, in_shape: tuple[int, ...], in_dtype: str) -> "KernelPlan":
        if config.interp_type == "area":
            raise ValueError("the CUDA encoder does not implement interp_type area; use linear or nearest, "
                             "or device cpu")
        h, w, cin = (int(n) for n in in_shape)
        geo = LetterboxGeometry.compute(config.resize_mode, (h, w),
                                        (config.network_image_height, config.network_image_width))
        xi, xw = _axis_table(w, geo.resized_width, geo.crop_x, geo.content_width, config.interp_type)
        yi, yw = _axis_table(h, geo.resized_height, geo.crop_y, geo.content_height, config.interp_type)
        s = pixel_scale(config, in_dtype)
        gain = tuple(s / sd for sd in config.image_stddev)
        offset = tuple(-m / sd for m, sd in zip(config.image_mean, config.image_stddev))
        pad = tuple(config.pad_value * g + o for g, o in zip(gain, offset))
        if config.tensor_dtype == "uint8":
            pad = tuple(float(min(255.0, max(0.0, round(p)))) for p in pad)
        order = (0,) if config.channels == 1 else (0, 1, 2) if config.encoding_desired == "rgb8" else (2, 1, 0)
        return cls(geo, h, w, cin, in_dtype, config.channels, config.tensor_dtype, config.tensor_layout == "NCHW",
                   xi, xw, yi, yw, order, gain, offset, pad, float(config.depth_invalid_value))

    def tables(self) -> np.ndarray:
        """The one int32 array uploaded at construction: x index rows, then y index rows, then the float weights
        (x, then y) bit-cast to int32, so the kernel reads one buffer."""
        return np.concatenate([self.x_index.ravel(), self.y_index.ravel(),
                               self.x_weight.view(np.int32).ravel(), self.y_weight.view(np.int32).ravel()])


def _resize_u8(plan: KernelPlan, img: np.ndarray) -> np.ndarray:
    """The kernel's 8-bit path: OpenCV's fixed point (horizontal ints, then its SIMD vertical rounding)."""
    xi, yi = plan.x_index.astype(np.int64), plan.y_index.astype(np.int64)
    f = img.astype(np.int64)
    rows0, rows1 = f[yi[:, 0]], f[yi[:, 1]]

    def horizontal(rows: np.ndarray) -> np.ndarray:
        return rows[:, xi[:, 0]] * xi[None, :, 2, None] + rows[:, xi[:, 1]] * xi[None, :, 3, None]

    h0, h1 = horizontal(rows0) >> 4, horizontal(rows1) >> 4
    v = ((h0 * yi[:, None, 2, None]) >> 16) + ((h1 * yi[:, None, 3, None]) >> 16)
    return np.clip((v + 2) >> 2, 0, 255).astype(np.float32)


def _resize_float(plan: KernelPlan, img: np.ndarray) -> np.ndarray:
    xi, yi, xw, yw = plan.x_index, plan.y_index, plan.x_weight, plan.y_weight
    f = img.astype(np.float32)
    if plan.in_dtype == "float32":
        f = np.where(np.isfinite(f), f, np.float32(plan.invalid_depth)).astype(np.float32)

    def horizontal(rows: np.ndarray) -> np.ndarray:
        return rows[:, xi[:, 0]] * xw[None, :, 0, None] + rows[:, xi[:, 1]] * xw[None, :, 1, None]

    v = horizontal(f[yi[:, 0]]) * yw[:, None, 0, None] + horizontal(f[yi[:, 1]]) * yw[:, None, 1, None]
    if plan.in_dtype == "uint16":
        v = np.clip(np.rint(v), 0, 65535)
    return v.astype(np.float32)


def emulate(plan: KernelPlan, sample: np.ndarray) -> np.ndarray:
    """The kernel's output computed in numpy (allocating; for tests): same tables, same arithmetic."""
    resize = _resize_u8 if plan.in_dtype == "uint8" else _resize_float
    content = resize(plan, sample)  # (content_h, content_w, in_channels), float32
    geo = plan.geometry
    nh, nw = geo.network_height, geo.network_width
    out = np.empty((nh, nw, plan.out_channels), np.float32)
    for c in range(plan.out_channels):
        out[:, :, c] = plan.pad[c]
        v = content[:, :, plan.source_channel[c]] * np.float32(plan.gain[c]) + np.float32(plan.offset[c])
        out[geo.pad_y:geo.pad_y + geo.content_height, geo.pad_x:geo.pad_x + geo.content_width, c] = v
    if plan.out_dtype == "uint8":
        out = np.clip(np.rint(out), 0, 255)
    out = out.astype(plan.out_dtype)
    return (out.transpose(2, 0, 1) if plan.nchw else out)[None]
