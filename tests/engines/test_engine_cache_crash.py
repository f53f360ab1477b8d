"""An engine cache entry rewritten over and over by a real process that is SIGKILLed at many points.

Afterwards each file is the old or the new complete version (engines are
4 MB so kills land inside their writes), and the cache serves exactly one
entry, intact and describing engine bytes on disk: the old one or the new one,
never none (the child commits one entry before the kills start); unfinished
writes and old engines whose deletion was cut short are found by ``leftovers``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepilot.engines.engine_cache import EngineCache
from tests.kill_points import delays, kill_after_ready, start_child

SIZE = 4 * 1024 * 1024
CHILD = f"""
import sys
from edgepilot.engines.cache_key import EngineKey
from edgepilot.engines.engine_cache import EngineCache
cache = EngineCache(sys.argv[1])
key = EngineKey(backend="onnxruntime", runtime_version="1.0", device="cpu", compute_capability="", precision="fp32",
                model_sha256="0" * 64, shapes=())
n = 0
while True:
    with cache.key_lock(key.digest):
        cache.write(key, "policy", (b"ab"[n % 2:n % 2 + 1]) * {SIZE}, source_model="/m.onnx", reference_model="/m.onnx",
                    inputs=[], outputs=[], build_seconds=float(n))
    if n == 0:
        print("ready", flush=True)
    n += 1
"""


@pytest.mark.timeout(300)
def test_sigkill_while_writing_entries_leaves_old_or_new_never_torn(tmp_path: Path) -> None:
    points = delays(30, 0.5, seed=3)
    served = 0
    for k, delay in enumerate(points):
        root = tmp_path / f"c{k}"
        kill_after_ready(start_child(CHILD, str(root)), delay)
        engines = list(root.glob("*.ort.onnx"))
        for e in engines:  # never torn: all a's or all b's, full size
            data = e.read_bytes()
            assert len(data) == SIZE and data in (b"a" * SIZE, b"b" * SIZE), f"kill point {k}: torn engine file"
        for side in root.glob("*.json"):
            json.loads(side.read_text())  # never a half-written sidecar
        cache = EngineCache(root)
        entries = cache.entries()
        assert len(entries) == 1 and entries[0].intact, f"kill point {k}: {[e.problem for e in entries]}"
        served += len(entries)
        assert 1 <= len(engines) <= 2, f"kill point {k}: {[e.name for e in engines]}"
        assert set(cache.leftovers(min_age_s=0.0)) >= {p for p in root.rglob(".*.tmp-*")}
    print(f"engine cache: kill points {len(points)}, torn files 0, absent entries 0, intact entries served {served}")
