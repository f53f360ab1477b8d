"""The CUDA image encoder's cost on a GPU: 640x480 rgb8 -> 224x224 float32 NCHW (Isaac defaults: letterbox,
bilinear, mean = std = 0.5), the same case as bench/image_encoder.py on the CPU.

Two timings per frame, host wall clock (``time.perf_counter_ns``), after a warm-up:

* ``device_us``: staging copy into pinned memory + H2D + kernel + stream sync (the input a TensorRT binding reads).
* ``to_host_us``: the same + D2H of the 602 kB tensor into pinned memory (for ONNX Runtime or checks).

Also: the CPU-vs-CUDA maximum difference on the timed frame, and the device memory free before/after the timed
frames (must be equal). Without a GPU or cuda-python it prints ``{"skipped": true, "reason": ...}``.
Run: ``python -m bench.image_encoder_cuda [--frames N] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import numpy as np

from edgepilot.daemon.image.encoder_config import ImageEncoderConfig


def _stats(ns: list[int]) -> dict[str, float]:
    us = np.asarray(ns, np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {"p50": round(float(p50), 1), "p90": round(float(p90), 1), "p99": round(float(p99), 1),
            "max": round(float(us.max()), 1), "mean": round(float(us.mean()), 1), "n": int(us.size)}


def _time(fn, frames: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for _ in range(200):
        fn()
    clock, out = time.perf_counter_ns, []
    for _ in range(frames):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return _stats(out)


def run(frames: int) -> dict[str, object]:
    from cuda.bindings import runtime as rt

    from edgepilot.daemon.image.cuda_encoder import CudaImageEncoder, cuda_usable
    from edgepilot.daemon.image.encoder import ImageEncoder

    ok, device = cuda_usable()
    if not ok:
        return {"skipped": True, "reason": device}
    cfg = ImageEncoderConfig(network_image_width=224, network_image_height=224)
    frame = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    enc = CudaImageEncoder(cfg, frame.shape, frame.dtype)
    free_before = rt.cudaMemGetInfo()[1]
    device_us = _time(lambda: enc.encode(frame, to_host=False), frames)
    to_host_us = _time(lambda: enc.encode(frame, to_host=True), frames)
    free_after = rt.cudaMemGetInfo()[1]
    cpu = ImageEncoder(cfg, frame.shape, frame.dtype).encode(frame)
    diff = float(np.abs(enc.encode(frame).astype(np.float64) - cpu).max())
    enc.close()
    import cuda.bindings

    return {
        "bench": "image_encoder_cuda", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device, "machine": f"{platform.machine()}, {platform.node()}", "python": platform.python_version(),
        "cuda_python": str(cuda.bindings.__version__), "runtime_version": rt.cudaRuntimeGetVersion()[1],
        "driver_version": rt.cudaDriverGetVersion()[1],
        "input": "640x480 rgb8 (ring sample (480, 640, 3) uint8)", "output": "[1, 3, 224, 224] float32 NCHW",
        "mode": "letterbox", "interp_type": "linear", "frames": frames,
        "device_us": device_us, "to_host_us": to_host_us,
        "max_abs_diff_vs_cpu": diff, "device_free_bytes_change": int(free_before - free_after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--out", default="", help="also write the JSON here")
    args = parser.parse_args()
    try:
        result = run(args.frames)
    except ImportError as err:
        result = {"skipped": True, "reason": f"cuda-python missing: {err}"}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
