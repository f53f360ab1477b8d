"""Image preprocessing cost: a 640x480 rgb8 ring sample -> 224x224 float32 NCHW model input (issue 17's budget).

Times :meth:`edgepilot.daemon.image.encoder.ImageEncoder.encode` (Isaac ROS defaults: letterbox, bilinear,
rgb8, mean = std = 0.5) on a random frame, after a warm-up, with ``time.perf_counter_ns`` around each call, and
traces allocations with ``tracemalloc`` in a separate pass (tracing slows every allocation, so it is not timed):

* ``retained_bytes_per_frame``: growth of the traced memory over the traced frames, per frame. Must be 0.
* ``transient_bytes_per_frame``: per frame, tracemalloc's peak minus the traced size at its start, averaged:
  the view objects and shape tuples CPython makes for the call (about 150 bytes); no array is allocated (a
  single 224x224 float plane would be 200 kB).

``--mode`` and ``--interp`` time the other geometries and the area filter; ``--threads`` sets OpenCV's thread
count (default 1: the daemon's loop core should not be shared with a resize thread pool; 0 leaves OpenCV's own
choice). Prints one JSON object. Run: ``python -m bench.image_encoder [--frames N]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc

import numpy as np

from edgepilot.daemon.image.encoder import ImageEncoder
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig

MODES = {"letterbox": {}, "crop": {"enable_padding": False}, "stretch": {"keep_aspect_ratio": False}}


def _percentile_us(samples_ns: list[int], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples_ns, dtype=np.float64), q)) / 1e3, 1)


def _allocation(encode, frame: np.ndarray, frames: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        for _ in range(20):
            encode(frame)
        start, _ = tracemalloc.get_traced_memory()
        transient = 0
        for _ in range(frames):
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            encode(frame)
            transient += tracemalloc.get_traced_memory()[1] - before
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"retained_bytes_per_frame": round((end - start) / frames, 2),
            "transient_bytes_per_frame": round(transient / frames, 1)}


def run(frames: int, mode: str, interp: str, threads: int) -> dict[str, object]:
    import cv2

    if threads > 0:
        cv2.setNumThreads(threads)
    config = ImageEncoderConfig(network_image_width=224, network_image_height=224, interp_type=interp, **MODES[mode])
    frame = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    encoder = ImageEncoder(config, frame.shape, frame.dtype)
    encode = encoder.encode
    for _ in range(50):
        encode(frame)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(frames):
        t0 = clock()
        encode(frame)
        samples.append(clock() - t0)
    return {
        "bench": "image_encoder",
        "input": "640x480 rgb8 (ring sample (480, 640, 3) uint8)",
        "output": f"{list(encoder.output.shape)} {encoder.output.dtype} {config.tensor_layout}",
        "mode": mode, "interp_type": interp, "frames": frames,
        "opencv": cv2.__version__, "opencv_threads": cv2.getNumThreads(), "machine": platform.machine(),
        "encode_us": {"p50": _percentile_us(samples, 50), "p90": _percentile_us(samples, 90),
                      "p99": _percentile_us(samples, 99), "max": round(max(samples) / 1e3, 1),
                      "mean": round(sum(samples) / len(samples) / 1e3, 1)},
        **_allocation(encode, frame, min(frames, 500)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--mode", choices=sorted(MODES), default="letterbox")
    parser.add_argument("--interp", choices=["linear", "area", "nearest"], default="linear")
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (0: OpenCV's default)")
    args = parser.parse_args()
    print(json.dumps(run(args.frames, args.mode, args.interp, args.threads), indent=2))


if __name__ == "__main__":
    main()
