"""A camera ring sample into a model input tensor, into one preallocated array, allocating nothing per frame.

The input is the sample a camera stream's ring holds (daemon/streams/image_conversion.py): (h, w, 3) uint8 RGB
for rgb8/bgr8/rgba8 streams (and colour CompressedImage), (h, w, 1) uint8 for mono8, (h, w, 1) uint16 for
mono16/16UC1, (h, w, 1) float32 for 32FC1 depth.

Per frame, all through OpenCV with ``dst=`` buffers made at construction:

1. 32FC1 only: copy into a work buffer, NaN/Inf -> ``depth_invalid_value`` (numpy with ``out=``/``where=``).
2. ``cv2.resize`` of the whole frame into the resized buffer (in the input type: 8-bit pixels resize as 8-bit,
   as Isaac's ResizeNode does before its float conversion).
3. Colour: ``cv2.split`` of the kept window (all of it, or the centre crop) into three planes, in the tensor's
   channel order (rgb8/bgr8 swap for free).
4. One ``cv2.addWeighted`` per channel: ``plane * a_c + b_c`` with ``a_c = s / std_c`` and
   ``b_c = -mean_c / std_c``, converted to the tensor's dtype, straight into the channel's region of the
   output (NCHW), or into float planes that ``cv2.merge`` interleaves into the output region (NHWC).
5. The letterbox pad strips are refilled with ``pad_value`` normalised the same way (they never change; the
   refill keeps the output right even if a consumer wrote into it).

Accuracy against float64 arithmetic on ``cv2.resize``'s result (tests/daemon/image/test_encoder.py): float32
within 1e-5 relative, float16 within its half-precision rounding (1e-3 relative), uint8 exact.
Cost: see bench/image_encoder.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.image.encoder_config import ImageEncoderConfig, pixel_scale
from edgepilot.daemon.image.geometry import LetterboxGeometry

_INPUT_DTYPES = ("uint8", "uint16", "float32")


def _cv2() -> Any:
    # The 'images' extra (opencv-python-headless), as for CompressedImage streams; imported here so that a
    # profile without a camera model never needs it. A missing cv2 raises ImportError(name="cv2"), which the CLI
    # turns into its one line naming the extra (edgepilot/extras.py).
    import cv2

    return cv2


def _check_input(config: ImageEncoderConfig, in_shape: tuple[int, ...], in_dtype: np.dtype) -> None:
    if len(in_shape) != 3 or in_shape[2] not in (1, 3) or min(in_shape) <= 0:
        raise ValueError(f"image sample shape {in_shape} is not (h, w, 3) or (h, w, 1)")
    if in_dtype.name not in _INPUT_DTYPES:
        raise ValueError(f"image sample dtype {in_dtype} is not one of {_INPUT_DTYPES}")
    if in_shape[2] == 3 and in_dtype != np.uint8:
        raise ValueError(f"a colour sample is uint8 RGB; got {in_dtype}")
    if (in_shape[2] == 1) != (config.encoding_desired == "mono"):
        kind = "single-channel" if in_shape[2] == 1 else "colour"
        want = "mono" if in_shape[2] == 1 else "rgb8 or bgr8"
        raise ValueError(f"encoding_desired {config.encoding_desired} does not fit a {kind} stream: use {want}")


def _output_buffer(config: ImageEncoderConfig, out: np.ndarray | None) -> np.ndarray:
    """A new output array, or ``out`` (a model's own input buffer, so no copy per frame) if it fits exactly."""
    shape, dtype = tuple(config.output_shape()), np.dtype(config.tensor_dtype)
    if out is None:
        return np.zeros(shape, dtype=dtype)
    if tuple(out.shape) != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"the encoder makes {list(shape)} {dtype} ({config.tensor_layout}) but the model input is "
                         f"{list(out.shape)} {out.dtype}")
    return out


class ImageEncoder:
    """``encode(sample)`` writes the model input into :attr:`output` and returns it.

    ``output``: shape ``config.output_shape()``, dtype ``config.tensor_dtype``; made once, rewritten in place
    every frame (hand it to the backend as its input buffer). ``geometry``: the source -> network map, for
    mapping detections back to source pixels.
    """

    def __init__(self, config: ImageEncoderConfig, in_shape: tuple[int, ...], in_dtype: Any,
                 out: np.ndarray | None = None) -> None:
        cv2 = self._cv = _cv2()
        in_dtype = np.dtype(in_dtype)
        in_shape = tuple(int(n) for n in in_shape)
        _check_input(config, in_shape, in_dtype)
        self.config, self.in_shape, self.in_dtype = config, in_shape, in_dtype
        h, w, cin = in_shape
        geo = self.geometry = LetterboxGeometry.compute(
            config.resize_mode, (h, w), (config.network_image_height, config.network_image_width))
        self.output = _output_buffer(config, out)
        interp = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}
        self._interp = interp[config.interp_type]
        self._depth = {"float32": cv2.CV_32F, "float16": cv2.CV_16F, "uint8": cv2.CV_8U}[config.tensor_dtype]
        self._dsize = (geo.resized_width, geo.resized_height)
        ch, cw = geo.content_height, geo.content_width
        plane_shape = (geo.resized_height, geo.resized_width) + ((3,) if cin == 3 else ())
        self._resized = np.empty(plane_shape, dtype=in_dtype)
        self._kept = self._resized[geo.crop_y:geo.crop_y + ch, geo.crop_x:geo.crop_x + cw]
        s = pixel_scale(config, in_dtype.name)
        self._gain = [s / sd for sd in config.image_stddev]
        self._offset = [-m / sd for m, sd in zip(config.image_mean, config.image_stddev)]
        self._regions = [self._region(c, geo) for c in range(config.channels)]
        if cin == 3:
            self._colour_buffers(geo)
        self._depth_work = np.empty((h, w), np.float32) if in_dtype == np.float32 else None
        self._depth_bad = np.empty((h, w), np.bool_) if in_dtype == np.float32 else None
        self._invalid = np.float32(config.depth_invalid_value)
        self._pad_strips = self._pad_strips_of(geo)
        self._fill_pad()
        self._check_writes_in_place()

    # --- construction helpers ------------------------------------------------

    def _colour_buffers(self, geo: LetterboxGeometry) -> None:
        """Planes in the tensor's channel order (split's targets listed in the sample's RGB order), and for
        NHWC the float planes that merge interleaves into the output."""
        ch, cw = geo.content_height, geo.content_width
        planes = np.empty((3, ch, cw), dtype=np.uint8)
        self._plane_list = [planes[0], planes[1], planes[2]]
        order = (0, 1, 2) if self.config.encoding_desired == "rgb8" else (2, 1, 0)
        self._split_targets = [self._plane_list[order[k]] for k in range(3)]
        self._float_planes: tuple[np.ndarray, ...] | None = None
        self._merge_target: np.ndarray | None = None
        if self.config.tensor_layout == "NHWC":
            self._merge_target = self.output[0, geo.pad_y:geo.pad_y + ch, geo.pad_x:geo.pad_x + cw, :]
            floats = np.empty((3, ch, cw), dtype=self.output.dtype)
            self._float_planes = (floats[0], floats[1], floats[2])

    def _region(self, c: int, geo: LetterboxGeometry) -> np.ndarray:
        """Channel ``c``'s image (not pad) region of the output, as a 2-D view."""
        ys = slice(geo.pad_y, geo.pad_y + geo.content_height)
        xs = slice(geo.pad_x, geo.pad_x + geo.content_width)
        return self.output[0, c, ys, xs] if self.config.tensor_layout == "NCHW" else self.output[0, ys, xs, c]

    def _pad_strips_of(self, geo: LetterboxGeometry) -> list[tuple[np.ndarray, Any]]:
        if geo.mode != "letterbox":
            return []
        y0, y1 = geo.pad_y, geo.pad_y + geo.content_height
        x0, x1 = geo.pad_x, geo.pad_x + geo.content_width
        strips = []
        for c in range(self.config.channels):
            plane = self.output[0, c] if self.config.tensor_layout == "NCHW" else self.output[0, :, :, c]
            value = self.config.pad_value * self._gain[c] + self._offset[c]
            if self.output.dtype == np.uint8:
                value = min(255.0, max(0.0, round(value)))
            fill = self.output.dtype.type(value)
            for view in (plane[:y0], plane[y1:], plane[y0:y1, :x0], plane[y0:y1, x1:]):
                if view.size:
                    strips.append((view, fill))
        return strips

    def _check_writes_in_place(self) -> None:
        """Encode a black frame once: every image pixel must become its channel's offset.

        OpenCV's Python binding copies a ``dst=`` it cannot use as it is and writes the copy, silently; a future
        binding doing that for one of these views would leave the output stale. This fails loudly instead.
        """
        self.output.fill(self.output.dtype.type(1 if self.output.dtype == np.uint8 else np.nan))
        self.encode(np.zeros(self.in_shape, dtype=self.in_dtype))
        for c, region in enumerate(self._regions):
            want = self._offset[c] if self.output.dtype != np.uint8 else 0
            if not np.allclose(region.astype(np.float64), want, rtol=1e-3, atol=1e-3):
                raise RuntimeError(f"OpenCV did not write channel {c} of the encoder's output in place "
                                   f"(OpenCV {self._cv.__version__}); the encoder cannot run allocation-free")

    def _fill_pad(self) -> None:
        for view, value in self._pad_strips:
            view.fill(value)

    # --- per frame -------------------------------------------------------------

    def encode(self, sample: np.ndarray) -> np.ndarray:
        """Encode one ring sample (shape ``in_shape``, dtype ``in_dtype``) into :attr:`output`; returns it."""
        if sample.shape != self.in_shape or sample.dtype != self.in_dtype:
            raise ValueError(f"sample is {sample.shape} {sample.dtype}; this encoder takes {self.in_shape} {self.in_dtype}")
        cv2 = self._cv
        src = sample if self.in_shape[2] == 3 else sample[:, :, 0]
        if self._depth_work is not None:
            src = self._patch_invalid_depth(src)
        cv2.resize(src, self._dsize, dst=self._resized, interpolation=self._interp)
        if self.in_shape[2] == 3:
            self._colour_to_output()
        else:
            cv2.addWeighted(self._kept, self._gain[0], self._kept, 0.0, self._offset[0],
                            dst=self._regions[0], dtype=self._depth)
        self._fill_pad()
        return self.output

    def _patch_invalid_depth(self, src: np.ndarray) -> np.ndarray:
        work, bad = self._depth_work, self._depth_bad
        assert work is not None and bad is not None  # made for float32 samples, the only ones that come here
        np.copyto(work, src)
        np.isfinite(work, out=bad)
        np.logical_not(bad, out=bad)
        np.copyto(work, self._invalid, where=bad)
        return work

    def _colour_to_output(self) -> None:
        cv2 = self._cv
        cv2.split(self._kept, self._split_targets)
        targets = self._regions if self._float_planes is None else self._float_planes
        planes, gain, offset, depth = self._plane_list, self._gain, self._offset, self._depth
        for c in range(3):
            cv2.addWeighted(planes[c], gain[c], planes[c], 0.0, offset[c], dst=targets[c], dtype=depth)
        if self._float_planes is not None:
            cv2.merge(self._float_planes, dst=self._merge_target)
