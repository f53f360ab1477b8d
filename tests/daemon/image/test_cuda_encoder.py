"""The CUDA encoder on a GPU against the CPU encoder, every case of test_cuda_plan, and no per-frame allocation.

Skipped, with the reason, where cuda-python or a GPU is missing. Tolerance: 8-bit input is resized with
OpenCV's own fixed-point arithmetic (cuda_plan.py), so it is expected exact up to float rounding of the
normalisation (float32 1e-5, float16 1e-3, uint8 exact); 16-bit input may differ by one count and float depth
by 1e-4 (tolerance() in test_cuda_plan.py). The measured maxima are printed (pytest -s).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepilot.daemon.image.cuda_encoder import CudaImageEncoder, cuda_usable
from edgepilot.daemon.image.encoder import ImageEncoder
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig

from .test_cuda_plan import CASES, case_config, tolerance

_OK, _WHY = cuda_usable()
pytestmark = pytest.mark.skipif(not _OK, reason=f"needs cuda-python and a GPU: {_WHY}")


@pytest.mark.parametrize("case", CASES)
def test_matches_the_cpu_encoder(case: tuple[str, ...]) -> None:
    made = case_config(*case)
    if made is None:
        pytest.skip("uint8 tensors carry 8-bit pixels only")
    cfg, sample = made
    cpu = ImageEncoder(cfg, sample.shape, sample.dtype).encode(sample).astype(np.float64)
    enc = CudaImageEncoder(cfg, sample.shape, sample.dtype)
    try:
        got = enc.encode(sample).astype(np.float64)
    finally:
        enc.close()
    d = np.abs(got - cpu)
    print(f"CUDA-vs-CPU {case}: max {d.max():.3g}, differing {np.count_nonzero(d)}/{d.size}")
    np.testing.assert_allclose(got, cpu, **tolerance(cfg, sample.dtype))


def test_vga_to_224_default_and_no_allocation_per_frame() -> None:
    from cuda.bindings import runtime as rt

    cfg = ImageEncoderConfig(network_image_width=224, network_image_height=224)
    frames = [np.random.default_rng(k).integers(0, 256, (480, 640, 3), dtype=np.uint8) for k in range(3)]
    enc = CudaImageEncoder(cfg, frames[0].shape, np.uint8)
    cpu = ImageEncoder(cfg, frames[0].shape, np.uint8)
    try:
        for f in frames:  # each frame's result, not a stale one
            np.testing.assert_allclose(enc.encode(f), cpu.encode(f), rtol=1e-5, atol=1e-5)
        free_before = rt.cudaMemGetInfo()[1]
        for k in range(500):
            enc.encode(frames[k % 3], to_host=k % 2 == 0)
        free_after = rt.cudaMemGetInfo()[1]
        assert free_after == free_before, f"device memory changed by {free_before - free_after} bytes over 500 frames"
        assert enc.device_ptr != 0 and enc.out_nbytes == 3 * 224 * 224 * 4
    finally:
        enc.close()


def test_built_on_one_thread_encodes_on_another() -> None:
    """The detector worker builds its encoder at start and encodes on its own thread: the context must follow."""
    import threading

    from edgepilot.daemon.image.cuda_encoder import build_image_encoder

    cfg = ImageEncoderConfig(network_image_width=224, network_image_height=224, device="cuda")
    frame = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = np.zeros((1, 3, 224, 224), np.float32)
    enc = build_image_encoder(cfg, frame.shape, np.uint8, out=out)
    assert isinstance(enc, CudaImageEncoder)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                enc.encode(frame)
        except BaseException as err:  # reported on the main thread below
            errors.append(err)

    try:
        t = threading.Thread(target=work)
        t.start()
        t.join(30)
        assert not errors, errors
        np.testing.assert_allclose(out, ImageEncoder(cfg, frame.shape, np.uint8).encode(frame), rtol=1e-5, atol=1e-5)
    finally:
        enc.close()
