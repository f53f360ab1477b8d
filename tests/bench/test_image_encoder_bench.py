"""Smoke test of ``python -m bench.image_encoder``: its JSON and its allocation figures (no timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_image_encoder_bench_json() -> None:
    r = subprocess.run([sys.executable, "-m", "bench.image_encoder", "--frames", "60"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["output"] == "[1, 3, 224, 224] float32 NCHW" and d["frames"] == 60
    assert 0 < d["encode_us"]["p50"] <= d["encode_us"]["p99"] <= d["encode_us"]["max"]
    # Nothing kept per frame (tracemalloc's own bookkeeping aside), and no array made: a 224x224 float plane
    # would be 200 kB; what remains is a few CPython view objects and tuples.
    assert d["retained_bytes_per_frame"] < 1.0
    assert d["transient_bytes_per_frame"] < 1024
