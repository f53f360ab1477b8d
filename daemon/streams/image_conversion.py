"""Camera messages to the fixed-shape image sample a stream's ring holds.

A stream's profile fixes ``width``, ``height`` and ``encoding``; every
message must match them (an image of another size or encoding is dropped,
never resized or reinterpreted). The stored sample depends only on the
profile's encoding:

=================  ==================  ======================================
profile encoding   sample              from the message
=================  ==================  ======================================
rgb8, bgr8, rgba8  (h, w, 3) uint8     RGB order; bgr8 swapped, alpha dropped
mono8              (h, w, 1) uint8     as is
mono16, 16UC1      (h, w, 1) uint16    native byte order (``is_bigendian``)
32FC1              (h, w, 1) float32   native byte order; NaN/Inf kept (REP 118)
=================  ==================  ======================================

``sensor_msgs/Image``: rows may be padded (``step`` > ``width`` x bytes per
pixel); ``data`` must hold exactly ``step * height`` bytes. Multi-byte pixels
are byte-swapped when ``is_bigendian`` disagrees with the host.

``sensor_msgs/CompressedImage`` (jpeg, png, and image_transport's
``"<enc>; jpeg compressed bgr8"`` form) is decoded with OpenCV; colour decodes
are BGR, so they are swapped to RGB. ``compressedDepth`` is not supported and
is dropped with that reason.

Two implementations, proven equal in tests/daemon/streams/test_image_conversion.py:
numpy (always available) and cv_bridge (used when ROS 2's ``cv_bridge`` is
importable, i.e. on the robot). Both raise :class:`ImageMismatch` before
touching ``out`` when the message does not fit, so a dropped message never
half-writes a sample.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

# encoding -> (bytes per pixel, channels in the message, stored channels, stored dtype)
RAW_ENCODINGS: dict[str, tuple[int, int, int, np.dtype]] = {
    "rgb8": (3, 3, 3, np.dtype(np.uint8)),
    "bgr8": (3, 3, 3, np.dtype(np.uint8)),
    "rgba8": (4, 4, 3, np.dtype(np.uint8)),
    "mono8": (1, 1, 1, np.dtype(np.uint8)),
    "mono16": (2, 1, 1, np.dtype(np.uint16)),
    "16UC1": (2, 1, 1, np.dtype(np.uint16)),
    "32FC1": (4, 1, 1, np.dtype(np.float32)),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8")
_HOST_BIG_ENDIAN = sys.byteorder == "big"


class ImageMismatch(ValueError):
    """The message does not fit the stream's profile (size, encoding, layout or codec)."""


def sample_layout(encoding: str, height: int, width: int) -> tuple[tuple[int, int, int], np.dtype]:
    """Shape and dtype of the stored sample for a profile encoding."""
    try:
        _, _, channels, dtype = RAW_ENCODINGS[encoding]
    except KeyError:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {sorted(RAW_ENCODINGS)}") from None
    return (height, width, channels), dtype


def _as_bytes_view(data: Any) -> memoryview:
    if isinstance(data, (bytes, bytearray, memoryview)):
        mv = memoryview(data)
    elif isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageMismatch(f"image data is an array of {data.dtype}, expected uint8")
        mv = memoryview(np.ascontiguousarray(data).reshape(-1))
    elif hasattr(data, "typecode"):  # array.array('B'), as rclpy gives uint8[]
        if data.typecode not in ("B", "b"):
            raise ImageMismatch(f"image data is array('{data.typecode}'), expected uint8")
        mv = memoryview(data)
    else:
        raise ImageMismatch(f"image data is a {type(data).__name__}, expected bytes or a uint8 array")
    return mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv


def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


class RawImageDecoder:
    """sensor_msgs/Image into the stored sample: numpy, with OpenCV's channel swap where it is installed.

    ``use_opencv``: None picks OpenCV when importable (a VGA bgr8 frame: about 25 us against 260 us for the
    numpy channel-by-channel copy); both give identical samples (tests/daemon/streams/test_image_conversion.py).
    """

    def __init__(self, height: int, width: int, encoding: str, use_opencv: bool | None = None) -> None:
        self.height, self.width, self.encoding = height, width, encoding
        self.bpp, self.in_channels, self.channels, self.dtype = RAW_ENCODINGS[encoding]
        self.row_bytes = width * self.bpp
        self._cv2 = _opencv() if use_opencv in (None, True) else None
        if use_opencv and self._cv2 is None:
            raise ImportError("use_opencv=True but OpenCV is not installed (pip install opencv-python-headless)")

    def check(self, msg: Any) -> tuple[memoryview, int, bool]:
        """Validate ``msg`` against the profile; return (data, step, needs byte swap)."""
        h, w, enc = msg.height, msg.width, msg.encoding
        if h != self.height or w != self.width or enc != self.encoding:
            raise ImageMismatch(f"image is {w}x{h} {enc!r}, profile expects {self.width}x{self.height} {self.encoding!r}")
        step = msg.step
        if step.__class__ is not int and not isinstance(step, (int, np.integer)):
            raise ImageMismatch(f"image step is a {type(step).__name__}, expected an integer")
        step = int(step)
        if step < self.row_bytes:
            raise ImageMismatch(f"image step {step} is shorter than a row of {w} {enc} pixels ({self.row_bytes} bytes)")
        data = _as_bytes_view(msg.data)
        if len(data) != step * h:
            raise ImageMismatch(f"image data has {len(data)} bytes, step * height = {step * h}")
        big = msg.is_bigendian
        if big not in (0, 1, True, False):
            raise ImageMismatch(f"is_bigendian is {big!r}, expected 0 or 1")
        swap = self.bpp > 1 and self.in_channels == 1 and bool(big) != _HOST_BIG_ENDIAN
        return data, step, swap

    def decode_into(self, msg: Any, out: np.ndarray) -> None:
        data, step, swap = self.check(msg)
        h, w = self.height, self.width
        rows = np.frombuffer(data, dtype=np.uint8, count=step * h).reshape(h, step)[:, : self.row_bytes]
        enc = self.encoding
        if enc == "rgb8" or self.in_channels == 1:
            # Copy the bytes of each row into the sample's own bytes: no dtype reinterpretation of the source needed.
            np.copyto(out.view(np.uint8).reshape(h, self.row_bytes), rows)
            if swap:
                out.byteswap(inplace=True)
        elif self._cv2 is not None:
            code = self._cv2.COLOR_BGR2RGB if enc == "bgr8" else self._cv2.COLOR_RGBA2RGB
            self._cv2.cvtColor(rows.reshape(h, w, self.in_channels), code, dst=out)
        else:
            # One channel at a time: a single reversed-stride copy of all three is several times slower.
            src = rows.reshape(h, w, self.in_channels)
            for c in range(3):
                np.copyto(out[:, :, c], src[:, :, 2 - c] if enc == "bgr8" else src[:, :, c])


def _codec_of(fmt: str, data: memoryview) -> str:
    f = fmt.lower()
    if "compresseddepth" in f:
        raise ImageMismatch(f"CompressedImage format {fmt!r} (compressedDepth) is not supported; publish png or jpeg")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        codec = "png"
    elif data[:3] == b"\xff\xd8\xff":
        codec = "jpeg"
    else:
        raise ImageMismatch(f"CompressedImage data ({len(data)} bytes, format {fmt!r}) is neither png nor jpeg")
    named = "png" if "png" in f else "jpeg" if ("jpeg" in f or "jpg" in f) else ""
    if named and named != codec:
        raise ImageMismatch(f"CompressedImage format says {named!r} but the data is {codec}")
    return codec


class CompressedImageDecoder:
    """sensor_msgs/CompressedImage (jpeg/png) into the stored sample, through OpenCV's decoder."""

    def __init__(self, height: int, width: int, encoding: str) -> None:
        import cv2  # opencv-python-headless; imported here so raw-only profiles never need it

        self._cv2 = cv2
        self.height, self.width, self.encoding = height, width, encoding
        _, _, self.channels, self.dtype = RAW_ENCODINGS[encoding]

    def decode(self, msg: Any) -> np.ndarray:
        """Decode and check ``msg``; returns an array already in the stored layout (a new array)."""
        data = _as_bytes_view(msg.data)
        fmt = msg.format
        if not isinstance(fmt, str):
            raise ImageMismatch(f"CompressedImage format is a {type(fmt).__name__}, expected a string")
        _codec_of(fmt, data)
        cv2 = self._cv2
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ImageMismatch(f"CompressedImage ({fmt!r}, {len(data)} bytes) could not be decoded")
        return self._to_sample(img)

    def _to_sample(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        if (h, w) != (self.height, self.width):
            raise ImageMismatch(f"decoded image is {w}x{h}, profile expects {self.width}x{self.height}")
        ch = 1 if img.ndim == 2 else img.shape[2]
        if self.encoding in COLOR_ENCODINGS:
            if img.dtype != np.uint8 or ch not in (3, 4):
                raise ImageMismatch(f"decoded image has {ch} channel(s) of {img.dtype}; profile expects colour ({self.encoding})")
            return img[:, :, 2::-1]  # BGR(A) -> RGB
        want = self.dtype
        if ch != 1 or img.dtype != want:
            raise ImageMismatch(f"decoded image has {ch} channel(s) of {img.dtype}; profile expects {self.encoding} (1 x {want})")
        return img.reshape(h, w, 1)

    def decode_into(self, msg: Any, out: np.ndarray) -> None:
        np.copyto(out, self.decode(msg))


class CvBridgeImageDecoder:
    """The same conversions through ROS 2's cv_bridge (present on the robot; absent here)."""

    def __init__(self, height: int, width: int, encoding: str, compressed: bool) -> None:
        from cv_bridge import CvBridge  # ROS 2 only

        self._bridge = CvBridge()
        self.compressed = compressed
        self.height, self.width, self.encoding = height, width, encoding
        self._raw = RawImageDecoder(height, width, encoding)
        self._compressed = CompressedImageDecoder(height, width, encoding) if compressed else None

    def decode_into(self, msg: Any, out: np.ndarray) -> None:
        if self.compressed:
            assert self._compressed is not None
            _codec_of(msg.format, _as_bytes_view(msg.data))
            img = self._bridge.compressed_imgmsg_to_cv2(msg, "passthrough")
            np.copyto(out, self._compressed._to_sample(img))
            return
        self._raw.check(msg)  # the same acceptance rules as the numpy path
        desired = "rgb8" if self.encoding in COLOR_ENCODINGS else "passthrough"
        img = self._bridge.imgmsg_to_cv2(msg, desired_encoding=desired)
        np.copyto(out, np.asarray(img).reshape(out.shape))


def cv_bridge_available() -> bool:
    try:
        import cv_bridge  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a broken ROS environment
        return False
    return True


def make_image_decoder(height: int, width: int, encoding: str, compressed: bool,
                       prefer_cv_bridge: bool = True) -> Callable[[Any, np.ndarray], None]:
    """``decode_into(msg, out)`` for a stream: cv_bridge when installed (and preferred), numpy/OpenCV otherwise."""
    if prefer_cv_bridge and cv_bridge_available():
        return CvBridgeImageDecoder(height, width, encoding, compressed).decode_into
    if compressed:
        return CompressedImageDecoder(height, width, encoding).decode_into
    return RawImageDecoder(height, width, encoding).decode_into
