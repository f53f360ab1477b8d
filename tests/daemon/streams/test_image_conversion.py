"""Image conversion (daemon/streams/image_conversion.py): every encoding, padded rows, byte order, jpeg/png.

The numpy path is checked against OpenCV as an independent reference
(``cv2.cvtColor`` for the colour conversions, ``cv2.imencode``/``imdecode``
for compressed images); against cv_bridge where ROS 2 is installed (the test
says why it is skipped otherwise).
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import cv2
import numpy as np
import pytest

from edgepilot.daemon.streams.image_conversion import (
    CompressedImageDecoder,
    ImageMismatch,
    RawImageDecoder,
    cv_bridge_available,
    sample_layout,
)
from edgepilot.daemon.transport import ros_msgs as m
from tests.shipped_profile import shipped_profile_data

H, W = 6, 7
RNG = np.random.default_rng(3)


def raw_message(pixels: np.ndarray, encoding: str, pad: int = 0, big: bool = False, flavour: str = "bytes") -> object:
    """A sensor_msgs/Image with ``pad`` bytes of padding per row, the way a driver would lay it out."""
    h, w = pixels.shape[:2]
    if pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">" if big else "<"))
    row = pixels.reshape(h, -1).view(np.uint8).reshape(h, -1)
    step = row.shape[1] + pad
    buf = np.full((h, step), 0xAB, np.uint8)  # garbage in the padding must never reach the sample
    buf[:, : row.shape[1]] = row
    data = {"bytes": buf.tobytes(), "ndarray": buf.reshape(-1), "memoryview": memoryview(buf.tobytes())}[flavour]
    return m.Image(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=step, data=data)


def decode(msg: object, encoding: str, use_opencv: bool | None = None) -> np.ndarray:
    shape, dtype = sample_layout(encoding, H, W)
    out = np.zeros(shape, dtype)
    RawImageDecoder(H, W, encoding, use_opencv).decode_into(msg, out)
    return out


@pytest.mark.parametrize("use_opencv", [False, True])
@pytest.mark.parametrize("pad", [0, 1, 5])
@pytest.mark.parametrize("flavour", ["bytes", "ndarray", "memoryview"])
def test_colour_encodings_become_rgb(pad: int, flavour: str, use_opencv: bool) -> None:
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    rgba = np.concatenate([rgb, RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)], axis=2)
    assert np.array_equal(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), rgb)  # the reference agrees with OpenCV's meaning
    np.testing.assert_array_equal(decode(raw_message(rgb, "rgb8", pad, flavour=flavour), "rgb8", use_opencv), rgb)
    np.testing.assert_array_equal(decode(raw_message(bgr, "bgr8", pad, flavour=flavour), "bgr8", use_opencv), rgb)
    np.testing.assert_array_equal(decode(raw_message(rgba, "rgba8", pad, flavour=flavour), "rgba8", use_opencv), rgb)


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("encoding, dtype", [("mono8", np.uint8), ("mono16", np.uint16), ("16UC1", np.uint16),
                                             ("32FC1", np.float32)])
def test_single_channel_encodings_in_either_byte_order(encoding: str, dtype: type, big: bool) -> None:
    if dtype is np.float32:
        px = RNG.normal(size=(H, W)).astype(np.float32)
        px[0, 0], px[1, 1] = np.nan, np.inf  # REP 118 depth: no return / too far
    else:
        px = RNG.integers(0, np.iinfo(dtype).max, (H, W), dtype=dtype)
    out = decode(raw_message(px, encoding, pad=3, big=big), encoding)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == (H, W, 1)
    np.testing.assert_array_equal(out[:, :, 0], px)
    # The flag is what says the order: the same bytes read with the other flag are byte-swapped values.
    if np.dtype(dtype).itemsize > 1:
        msg = raw_message(px, encoding, pad=3, big=big)
        msg.is_bigendian = int(not big)
        assert not np.array_equal(decode(msg, encoding)[:, :, 0], px, equal_nan=True)


@pytest.mark.parametrize("change, why", [
    ({"width": W + 1}, "profile expects"),
    ({"encoding": "bgr8"}, "profile expects"),
    ({"step": W * 3 - 1}, "shorter than a row"),
    ({"data": b"\0" * (H * W * 3 - 1)}, r"step \* height"),
    ({"data": b"\0" * (H * W * 3 + 1)}, r"step \* height"),
    ({"data": [0] * (H * W * 3)}, "expected bytes"),
    ({"data": np.zeros(H * W * 3, np.uint16)}, "expected uint8"),
    ({"is_bigendian": 7}, "is_bigendian"),
    ({"step": "21"}, "expected an integer"),
])
def test_mismatching_images_are_refused_before_writing(change: dict, why: str) -> None:
    msg = raw_message(RNG.integers(0, 256, (H, W, 3), dtype=np.uint8), "rgb8")
    for k, v in change.items():
        setattr(msg, k, v)
    out = np.full((H, W, 3), 7, np.uint8)
    with pytest.raises(ImageMismatch, match=why):
        RawImageDecoder(H, W, "rgb8").decode_into(msg, out)
    assert np.all(out == 7)


# --------------------------------------------------------------------------- compressed


def compressed(img: np.ndarray, ext: str, fmt: str | None = None) -> object:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return m.CompressedImage(format=fmt if fmt is not None else ext.lstrip("."), data=buf.tobytes())


def test_png_colour_and_16_bit_decode_exactly() -> None:
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # OpenCV encodes BGR
    np.testing.assert_array_equal(CompressedImageDecoder(H, W, "rgb8").decode(compressed(bgr, ".png")), rgb)
    np.testing.assert_array_equal(
        CompressedImageDecoder(H, W, "rgb8").decode(compressed(bgr, ".png", "rgb8; png compressed bgr8")), rgb)
    depth = RNG.integers(0, 65535, (H, W), dtype=np.uint16)
    np.testing.assert_array_equal(CompressedImageDecoder(H, W, "16UC1").decode(compressed(depth, ".png"))[:, :, 0], depth)
    gray = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    np.testing.assert_array_equal(CompressedImageDecoder(H, W, "mono8").decode(compressed(gray, ".png"))[:, :, 0], gray)


def test_jpeg_decodes_like_opencv() -> None:
    bgr = cv2.GaussianBlur(RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8), (5, 5), 0)
    msg = compressed(bgr, ".jpg", "jpeg")
    reference = cv2.cvtColor(cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out = CompressedImageDecoder(48, 64, "rgb8").decode(msg)
    np.testing.assert_array_equal(out, reference)
    assert np.abs(out.astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int)).mean() < 6  # and close to the original


@pytest.mark.parametrize("make, why", [
    (lambda: compressed(np.zeros((H + 1, W, 3), np.uint8), ".png"), "profile expects"),
    (lambda: compressed(np.zeros((H, W), np.uint8), ".png"), "profile expects colour"),
    (lambda: compressed(np.zeros((H, W, 3), np.uint8), ".png", "jpeg"), "format says 'jpeg'"),
    (lambda: m.CompressedImage(format="png", data=b"\x89PNG\r\n\x1a\n" + b"\0" * 20), "could not be decoded"),
    (lambda: m.CompressedImage(format="jpeg", data=b"GIF89a" + b"\0" * 20), "neither png nor jpeg"),
    (lambda: m.CompressedImage(format="16UC1; compressedDepth png", data=b"\0" * 30), "compressedDepth"),
    (lambda: NS(format=5, data=b"\x89PNG\r\n\x1a\n"), "expected a string"),
])
def test_bad_compressed_images_are_refused(make, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageMismatch, match=why):
        CompressedImageDecoder(H, W, "rgb8").decode(make())


def test_compressed_stream_through_the_ingest() -> None:

    from edgepilot.daemon.config.profile import default_profile_path, parse_profile
    from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest

    d = shipped_profile_data()
    d["streams"]["camera"].update(type="sensor_msgs/msg/CompressedImage", topic="/camera/image_raw/compressed")
    p = parse_profile(d, base_dir=default_profile_path().parent)
    ing = make_ingest("camera", p.streams["camera"], None, p)
    rgb = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ing.on_message(compressed(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), ".png"))
    ing.on_message(m.CompressedImage(format="png", data=b"junk"))
    assert ing.received == 2 and ing.dropped == 1 and ing.ring.count == 1
    snap = StreamSnapshot(ing)
    snap.refresh(2**62)
    np.testing.assert_array_equal(snap.sample, rgb)


@pytest.mark.skipif(not cv_bridge_available(), reason="cv_bridge is part of a ROS 2 install (not installed here); "
                    "the numpy path it is compared with is tested above against OpenCV")
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "mono8", "mono16", "16UC1", "32FC1"])
def test_cv_bridge_and_numpy_agree(encoding: str) -> None:  # pragma: no cover - needs ROS 2
    from edgepilot.daemon.streams.image_conversion import CvBridgeImageDecoder
    from edgepilot.daemon.streams.image_conversion import RAW_ENCODINGS

    _, ch, _, dtype = RAW_ENCODINGS[encoding]
    shape = (H, W, ch) if ch > 1 else (H, W)
    px = (RNG.normal(size=shape).astype(np.float32) if dtype == np.float32
          else RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype))
    for big in (False, True):
        msg = raw_message(px, encoding, pad=2, big=big)
        a = decode(msg, encoding)
        b = np.zeros_like(a)
        CvBridgeImageDecoder(H, W, encoding, compressed=False).decode_into(msg, b)
        np.testing.assert_array_equal(a, b)
