"""The image encoder against the reference (tests/daemon/image/reference_encoder.py), by hand, and under tracemalloc."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edgepilot.daemon.image.encoder import ImageEncoder
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig
from edgepilot.daemon.streams.image_conversion import RAW_ENCODINGS, sample_layout

from .reference_encoder import reference_encode, tolerance

RAW = {"scale": False, "image_mean": (0.0, 0.0, 0.0), "image_stddev": (1.0, 1.0, 1.0)}
MONO = {"encoding_desired": "mono", "image_mean": (0.5,), "image_stddev": (0.25,)}
MODES = {"stretch": {"keep_aspect_ratio": False}, "letterbox": {}, "crop": {"enable_padding": False}}


def config(**kw: object) -> ImageEncoderConfig:
    kw.setdefault("network_image_width", 224)
    kw.setdefault("network_image_height", 224)
    return ImageEncoderConfig.model_validate(kw)


def frame(shape: tuple[int, ...], dtype: np.dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        depth = rng.uniform(0.2, 8.0, size=shape).astype(np.float32)
        depth.flat[rng.integers(0, depth.size, size=max(1, depth.size // 50))] = np.nan
        depth.flat[:3] = [np.inf, -np.inf, np.nan][: depth.size]
        return depth
    top = 65535 if dtype == np.uint16 else 255
    return rng.integers(0, top + 1, size=shape, dtype=dtype)


def check(cfg: ImageEncoderConfig, sample: np.ndarray) -> None:
    enc = ImageEncoder(cfg, sample.shape, sample.dtype)
    out = enc.encode(sample)
    assert out is enc.output and out.shape == cfg.output_shape() and out.dtype == np.dtype(cfg.tensor_dtype)
    np.testing.assert_allclose(out.astype(np.float64), reference_encode(cfg, sample), **tolerance(cfg.tensor_dtype))


# --- every stream encoding, layout, dtype, mode --------------------------------


def _encoding_cases() -> list[tuple[str, str, str, str, str]]:
    # uint8 tensors carry 8-bit pixels: 16-bit and float streams are not narrowed (not a case).
    cases = itertools.product(sorted(RAW_ENCODINGS), ["NCHW", "NHWC"], ["float32", "float16", "uint8"],
                              sorted(MODES), ["linear", "area"])
    return [c for c in cases if c[2] != "uint8" or sample_layout(c[0], 1, 1)[1] == np.uint8]


@pytest.mark.parametrize("encoding,layout,dtype,mode,interp", _encoding_cases())
def test_matches_reference(encoding: str, layout: str, dtype: str, mode: str, interp: str) -> None:
    shape, in_dtype = sample_layout(encoding, 48, 64)  # VGA's 4:3, small enough for 420 cases
    kw: dict[str, object] = {"network_image_width": 20, "network_image_height": 18, "tensor_layout": layout,
                             "tensor_dtype": dtype, "interp_type": interp, "pad_value": 114.0, **MODES[mode]}
    if shape[2] == 1:
        kw.update(MONO)
        if in_dtype == np.uint16:
            kw["scale"] = 0.001  # millimetres -> metres
    else:
        kw["encoding_desired"] = "bgr8" if encoding == "bgr8" else "rgb8"
    if dtype == "uint8":
        kw.update(RAW if shape[2] == 3 else {"scale": False, "image_mean": (0.0,), "image_stddev": (1.0,)})
    check(config(**kw), frame(shape, in_dtype))


def test_vga_to_224_nchw_float32_default_normalisation() -> None:
    cfg = config()  # Isaac's defaults: letterbox, rgb8, mean = std = 0.5 -> [-1, 1]
    sample = frame((480, 640, 3), np.dtype(np.uint8))
    check(cfg, sample)
    out = ImageEncoder(cfg, sample.shape, np.uint8).encode(sample)
    assert out.min() >= -1.0 and out.max() <= 1.0
    # Letterbox: 640x480 scaled by 0.35 -> 224x168, 28 pad rows above and below, pad 0 -> (0 - 0.5) / 0.5 = -1.
    assert np.all(out[0, :, :28, :] == -1.0) and np.all(out[0, :, 196:, :] == -1.0)


def test_bgr8_swaps_channels() -> None:
    sample = np.zeros((4, 4, 3), np.uint8)
    sample[..., 0], sample[..., 1], sample[..., 2] = 10, 20, 30  # R, G, B
    out = ImageEncoder(config(network_image_width=4, network_image_height=4, encoding_desired="bgr8", **RAW),
                       sample.shape, np.uint8).encode(sample)
    assert [float(out[0, c, 0, 0]) for c in range(3)] == [30.0, 20.0, 10.0]


def test_pad_value_and_mean_std_by_hand() -> None:
    sample = np.full((2, 4, 3), 255, np.uint8)  # 2:1 into 4x4: two pad rows above... one above, one below
    cfg = config(network_image_width=4, network_image_height=4, pad_value=51.0,
                 image_mean=(0.1, 0.2, 0.3), image_stddev=(0.5, 0.25, 0.1))
    out = ImageEncoder(cfg, sample.shape, np.uint8).encode(sample)
    # image rows 1-2: (1.0 - mean) / std; pad rows 0 and 3: (51/255 - mean) / std = (0.2 - mean) / std
    np.testing.assert_allclose(out[0, :, 1:3, :].reshape(3, -1).T, [[1.8, 3.2, 7.0]] * 8, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, [0, 3], :].transpose(1, 0, 2).reshape(3, -1).T, [[0.2, 0.0, -1.0]] * 8,
                               rtol=1e-5, atol=1e-6)


def test_depth_invalid_pixels_become_the_configured_value() -> None:
    depth = np.full((6, 8, 1), np.nan, np.float32)
    depth[0, 0, 0], depth[0, 1, 0] = np.inf, -np.inf
    cfg = config(network_image_width=8, network_image_height=6, depth_invalid_value=3.0, **MONO, scale=False)
    out = ImageEncoder(cfg, depth.shape, np.float32).encode(depth)
    np.testing.assert_array_equal(out, np.full((1, 1, 6, 8), (3.0 - 0.5) / 0.25, np.float32))


def test_uint16_millimetres_to_metres() -> None:
    depth = np.full((4, 4, 1), 1500, np.uint16)
    cfg = config(network_image_width=2, network_image_height=2, encoding_desired="mono", scale=0.001,
                 image_mean=(0.0,), image_stddev=(1.0,), tensor_layout="NHWC")
    out = ImageEncoder(cfg, depth.shape, np.uint16).encode(depth)
    np.testing.assert_allclose(out, np.full((1, 2, 2, 1), 1.5), rtol=1e-6)


def test_output_is_rewritten_each_frame_and_pad_restored() -> None:
    a, b = frame((30, 40, 3), np.dtype(np.uint8), 1), frame((30, 40, 3), np.dtype(np.uint8), 2)
    cfg = config(network_image_width=16, network_image_height=16)
    enc = ImageEncoder(cfg, a.shape, np.uint8)
    enc.encode(a)
    enc.output[...] = 99.0  # a consumer scribbling on the buffer
    np.testing.assert_allclose(enc.encode(b), reference_encode(cfg, b), **tolerance("float32"))


# --- an independent bilinear: the geometry is where OpenCV and the docs say --------------------


def numpy_bilinear(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Half-pixel-centre bilinear with edge clamping, float64 (what INTER_LINEAR computes in fixed point)."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(out_h) + 0.5) * h / out_h - 0.5, 0, h - 1)
    xs = np.clip((np.arange(out_w) + 0.5) * w / out_w - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = img.astype(np.float64)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bottom = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


@pytest.mark.parametrize("mode", sorted(MODES))
def test_bilinear_within_one_level_of_numpy(mode: str) -> None:
    sample = frame((48, 64, 3), np.dtype(np.uint8), 3)
    cfg = config(network_image_width=28, network_image_height=28, tensor_layout="NHWC", tensor_dtype="uint8",
                 **RAW, **MODES[mode])
    enc = ImageEncoder(cfg, sample.shape, np.uint8)
    g = enc.geometry
    resized = numpy_bilinear(sample, g.resized_width, g.resized_height)
    window = resized[g.crop_y:g.crop_y + g.content_height, g.crop_x:g.crop_x + g.content_width]
    got = enc.encode(sample)[0, g.pad_y:g.pad_y + g.content_height, g.pad_x:g.pad_x + g.content_width]
    assert np.abs(got.astype(np.float64) - window).max() <= 1.0  # OpenCV's 11-bit fixed-point weights


def test_area_is_the_block_mean_for_an_integer_factor() -> None:
    sample = frame((8, 12, 3), np.dtype(np.uint8), 4)
    cfg = config(network_image_width=3, network_image_height=2, keep_aspect_ratio=False, interp_type="area",
                 tensor_layout="NHWC", **RAW)
    got = ImageEncoder(cfg, sample.shape, np.uint8).encode(sample)[0]
    blocks = sample.astype(np.float64).reshape(2, 4, 3, 4, 3).mean(axis=(1, 3))
    assert np.abs(got - blocks).max() <= 0.5  # the mean, rounded to an 8-bit pixel


# --- shapes: hypothesis ---------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 40), w=st.integers(1, 40), nh=st.integers(1, 32), nw=st.integers(1, 32),
       mode=st.sampled_from(sorted(MODES)), layout=st.sampled_from(["NCHW", "NHWC"]),
       dtype=st.sampled_from(["float32", "float16"]), interp=st.sampled_from(["linear", "area", "nearest"]),
       encoding=st.sampled_from(["rgb8", "bgr8", "mono8", "16UC1", "32FC1"]), seed=st.integers(0, 2**16))
def test_any_shape_matches_reference(h: int, w: int, nh: int, nw: int, mode: str, layout: str, dtype: str,
                                     interp: str, encoding: str, seed: int) -> None:
    shape, in_dtype = sample_layout(encoding, h, w)
    kw: dict[str, object] = {"network_image_width": nw, "network_image_height": nh, "tensor_layout": layout,
                             "tensor_dtype": dtype, "interp_type": interp, "pad_value": 7.0, **MODES[mode]}
    kw.update(MONO if shape[2] == 1 else {"encoding_desired": "bgr8" if encoding == "bgr8" else "rgb8"})
    check(config(**kw), frame(shape, in_dtype, seed))


# --- nothing allocated per frame ------------------------------------------------


@pytest.mark.parametrize("kw,encoding", [
    ({}, "rgb8"),
    ({"enable_padding": False, "tensor_layout": "NHWC", "encoding_desired": "bgr8"}, "rgb8"),
    ({"tensor_dtype": "float16", "keep_aspect_ratio": False, "interp_type": "area"}, "rgb8"),
    ({"tensor_dtype": "uint8", "tensor_layout": "NHWC", **RAW}, "rgb8"),
    ({**MONO, "scale": False}, "32FC1"),
    ({**MONO, "scale": 0.001, "tensor_layout": "NHWC"}, "16UC1"),
])
def test_encode_allocates_nothing(kw: dict[str, object], encoding: str) -> None:
    shape, dtype = sample_layout(encoding, 480, 640)
    sample = frame(shape, dtype)
    enc = ImageEncoder(config(**kw), shape, dtype)
    encode = enc.encode
    for _ in range(3):
        encode(sample)
    tracemalloc.start()
    try:
        for _ in range(5):
            encode(sample)
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(40):
            encode(sample)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - base <= 64, after - base
    # A few transient view objects and shape tuples (about 150 bytes); a per-frame array of this size would be
    # tens of kilobytes at least (one 224x224 float plane is 200 kB).
    assert peak - base < 1024, peak - base


# --- configuration and construction errors --------------------------------------


@pytest.mark.parametrize("kw,field", [
    ({"tensor_dtype": "uint8"}, "uint8"),
    ({"image_stddev": (0.5, 0.0, 0.5)}, "image_stddev"),
    ({"image_mean": (0.5, 0.5)}, "image_mean"),
    ({"encoding_desired": "mono"}, "one value each"),
    ({"scale": -2.0}, "scale"),
    ({"network_image_width": 0}, "network_image_width"),
    ({"interp_type": "cubic"}, "interp_type"),
    ({"resize": "letterbox"}, "resize"),
])
def test_config_errors_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        config(**kw)


def test_scale_true_false_and_number_stay_distinct() -> None:
    assert config(scale=True).scale is True and config(scale=False).scale is False
    assert config(scale=1.0).scale == 1.0 and config(scale=1.0).scale is not True
    assert config().resize_mode == "letterbox" and config(enable_padding=False).resize_mode == "crop"
    assert config(keep_aspect_ratio=False, enable_padding=False).resize_mode == "stretch"


@pytest.mark.parametrize("kw,shape,dtype,match", [
    ({}, (480, 640, 1), np.uint8, "mono"),
    ({**MONO}, (480, 640, 3), np.uint8, "rgb8 or bgr8"),
    ({}, (480, 640, 3), np.float32, "uint8 RGB"),
    ({}, (480, 640, 4), np.uint8, r"\(h, w, 3\)"),
    ({**MONO}, (480, 640, 1), np.int32, "dtype"),
])
def test_stream_mismatch_is_refused(kw: dict[str, object], shape: tuple[int, ...], dtype: type, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ImageEncoder(config(**kw), shape, dtype)


def test_wrong_sample_is_refused_per_frame() -> None:
    enc = ImageEncoder(config(), (48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="this encoder takes"):
        enc.encode(np.zeros((48, 64, 1), np.uint8))
