"""The engine cache on disk: atomic writes, racing builders, corrupt and stale entries detected.

Engines here are real ONNX Runtime plans built from real models (TensorRT
cannot run on this machine; the cache logic is the same for both).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgepilot.common.atomic_file import temp_path_for, write_bytes_atomic
from edgepilot.engines.engine_cache import FORMAT_TAG, CacheError, EngineCache, model_hasher, resolve_cache_dir
from edgepilot.engines.engine_provisioning import BuildRequest, provision_engine
from edgepilot.engines.platform_detect import detect_platform

from .onnx_models import EXAMPLE_POLICY, mlp

QUIET = lambda msg: None  # noqa: E731


def _build(cache: EngineCache, model: Path = EXAMPLE_POLICY, **kw: object):  # type: ignore[no-untyped-def]
    return provision_engine(BuildRequest(model=model, backend="onnxruntime", **kw), cache, report=QUIET)  # type: ignore[arg-type]


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EDGEPILOT_CACHE_DIR", raising=False)
    assert resolve_cache_dir() == Path("/var/lib/edgepilot/engines")
    assert resolve_cache_dir(configured="/srv/engines") == Path("/srv/engines")
    monkeypatch.setenv("EDGEPILOT_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir(configured="/srv/engines") == tmp_path / "env"
    assert resolve_cache_dir(cli=tmp_path / "cli", configured="/srv/engines") == tmp_path / "cli"


def test_unusable_cache_dir_says_how_to_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")  # fails for root too, unlike permission bits
    with pytest.raises(CacheError, match="set EDGEPILOT_CACHE_DIR or pass --cache-dir"):
        EngineCache(tmp_path / "file" / "engines").ensure_writable()


def test_entry_layout_and_sidecar(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    r = _build(cache)
    m = r.entry.metadata
    assert r.action == "built" and m is not None and m.verified
    assert r.entry.meta_path.name == f"diffbot_policy-{m.key_digest[:16]}.json"
    assert r.entry.engine_path is not None and r.entry.engine_path.name.endswith(".ort.onnx")
    raw = json.loads(r.entry.meta_path.read_text())
    assert raw["format"] == FORMAT_TAG and raw["verified"] is True and raw["verification"]["passed"] is True
    assert raw["key"]["backend"] == "onnxruntime" and raw["inputs"] == [{"name": "obs", "shape": [1, 5], "dtype": "float32"}]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_atomic_write_leaves_old_file_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.engine"
    write_bytes_atomic(target, b"old engine")

    def crash(*a: object) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"new engine that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old engine"
    assert [p.name for p in tmp_path.iterdir()] == ["x.engine"], "the temp file is cleaned up"


@pytest.mark.parametrize("damage, problem", [
    ("truncate", "(truncated)"),
    ("flip", "does not match its recorded SHA-256"),
    ("version_tag", "bad version tag 'edgepilot-engine-cache/0'"),
    ("edit_key", "does not hash to its recorded digest"),
    ("delete_engine", "is missing"),
    ("garbage_sidecar", "metadata unreadable"),
])
def test_corrupt_entries_detected_and_rebuilt(tmp_path: Path, damage: str, problem: str) -> None:
    cache = EngineCache(tmp_path)
    first = _build(cache).entry
    engine, meta = first.engine_path, first.meta_path
    assert engine is not None
    good = engine.read_bytes()
    if damage == "truncate":
        engine.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        b = bytearray(good)
        b[len(b) // 2] ^= 0x01
        engine.write_bytes(bytes(b))
    elif damage == "version_tag":
        meta.write_text(meta.read_text().replace(FORMAT_TAG, "edgepilot-engine-cache/0"))
    elif damage == "edit_key":
        meta.write_text(meta.read_text().replace('"precision": "fp32"', '"precision": "fp16"'))
    elif damage == "delete_engine":
        engine.unlink()
    else:
        meta.write_text("{ not json")
    (entry,) = cache.entries()
    assert entry.problem is not None and problem in entry.problem
    assert cache.staleness(entry, {}, model_hasher())[0] == "corrupt"

    reports: list[str] = []
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, report=reports.append)
    assert r.action == "built"
    assert any("is corrupt" in m and problem in m for m in reports), reports
    assert r.entry.engine_path is not None and r.entry.engine_path.read_bytes() == good
    (after,) = cache.entries()
    assert after.intact and after.metadata is not None and after.metadata.verified


def test_stale_after_simulated_runtime_upgrade(tmp_path: Path) -> None:
    """A JetPack upgrade changes the runtime version: the old engine is reported stale, rebuilt and removed."""
    cache = EngineCache(tmp_path)
    real = detect_platform("onnxruntime")
    old = _build(cache).entry
    upgraded = real.model_copy(update={"runtime_version": "99.0.0"})  # injected platform: the simulated upgrade
    (e,) = cache.entries()
    state, why = cache.staleness(e, {"onnxruntime": upgraded}, model_hasher())
    assert state == "stale" and f"runtime_version '{real.runtime_version}' -> '99.0.0'" in why
    assert cache.staleness(e, {"onnxruntime": real}, model_hasher()) == ("valid", "")

    reports: list[str] = []
    r = provision_engine(BuildRequest(model=EXAMPLE_POLICY, backend="onnxruntime"), cache, platform=upgraded,
                         report=reports.append)
    assert r.action == "built" and r.entry.metadata is not None
    assert r.entry.metadata.key.runtime_version == "99.0.0"
    assert any("is stale" in m and "99.0.0" in m for m in reports), reports
    assert r.removed_stale == [old.meta_path.name]
    assert [x.meta_path.name for x in cache.entries()] == [r.entry.meta_path.name]


def test_stale_after_model_change_and_orphaned(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    model = mlp(tmp_path / "policy.onnx")
    first = _build(cache, model).entry
    mlp(model, scale=2.0)  # retrained: same name and IO, other weights
    (e,) = cache.entries()
    assert cache.staleness(e, {"onnxruntime": detect_platform("onnxruntime")}, model_hasher()) == (
        "stale", "source model policy.onnx changed since the build")
    reports: list[str] = []
    r = provision_engine(BuildRequest(model=model, backend="onnxruntime"), cache, report=reports.append)
    assert r.action == "built" and r.removed_stale == [first.meta_path.name]
    assert any("changed since the build" in m for m in reports)
    model.unlink()
    (e,) = cache.entries()
    assert cache.staleness(e, {"onnxruntime": detect_platform("onnxruntime")}, model_hasher())[0] == "orphaned"


def test_other_configurations_are_not_stale(tmp_path: Path) -> None:
    """Another precision or shape of the same model is a different valid engine, not a stale one."""
    cache = EngineCache(tmp_path / "cache")
    model = mlp(tmp_path / "m.onnx", batch="N")
    a = _build(cache, model, shapes={}, dynamic_dims_default_one=True)
    from edgepilot.engines.shape_profile import parse_shape_specs

    b = _build(cache, model, shapes=parse_shape_specs(["obs:4x5"]))
    c = _build(cache, model, precision="fp16", dynamic_dims_default_one=True)
    assert a.entry.meta_path != b.entry.meta_path
    assert b.removed_stale == [] and c.removed_stale == []
    platforms = {"onnxruntime": detect_platform("onnxruntime")}
    states = sorted(cache.staleness(e, platforms, model_hasher())[0] for e in cache.entries())
    assert states == ["valid"] * 3


def _race_worker(cache_dir: str, model: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    cache = EngineCache(cache_dir)
    barrier.wait()
    r = provision_engine(BuildRequest(model=Path(model), backend="onnxruntime"), cache, report=lambda m: None)
    results.put((os.getpid(), r.action, r.entry.meta_path.name))


def test_racing_builders_build_once(tmp_path: Path) -> None:
    """Three processes provision the same key at the same moment: one builds, the others wait and reuse it."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    model = mlp(tmp_path / "race.onnx", hidden=64)
    procs = [ctx.Process(target=_race_worker, args=(str(tmp_path / "cache"), str(model), barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    actions = sorted(a for _, a, _ in got)
    assert actions == ["built", "reused", "reused"], got
    assert len({name for _, _, name in got}) == 1
    cache = EngineCache(tmp_path / "cache")
    (entry,) = cache.entries()
    assert entry.intact and entry.metadata is not None and entry.metadata.verified
    assert cache.leftovers(min_age_s=0) == []


def test_builder_killed_mid_write_leaves_a_prunable_leftover(tmp_path: Path) -> None:
    """A builder dies (SIGKILL) while writing: its lock is released with it and its temp file is found as a leftover."""
    cache = EngineCache(tmp_path)
    cache.ensure_writable()
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from edgepilot.common.atomic_file import temp_path_for\n"
        "from edgepilot.engines.engine_cache import EngineCache\n"
        f"c = EngineCache({str(tmp_path)!r})\n"
        "with c.key_lock('ab' * 32):\n"
        "    f = open(temp_path_for(Path(c.root) / 'x-abababababababab.ort.onnx'), 'wb')\n"
        "    f.write(b'half an engine'); f.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        from edgepilot.common.atomic_file import LockBusy

        with pytest.raises(LockBusy):
            with cache.key_lock("ab" * 32, blocking=False):
                pass
        assert cache.leftovers() == []  # the writer is alive: its temp file is not a leftover yet
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    t0 = time.monotonic()
    with cache.key_lock("ab" * 32, blocking=False):  # released by the kernel when the holder died
        pass
    assert time.monotonic() - t0 < 1.0
    (left,) = cache.leftovers()
    assert left.name.startswith(".x-abababababababab.ort.onnx.tmp-")
    assert cache.entries() == []  # never mistaken for an engine
    assert temp_path_for(Path("a")).name != temp_path_for(Path("a")).name


def test_a_rebuild_writes_beside_the_old_engine_and_deletes_it_only_after_the_sidecar_commits(tmp_path: Path) -> None:
    from edgepilot.engines.cache_key import EngineKey
    from edgepilot.engines.engine_cache import EngineCache, sidecar_name_for_engine

    cache = EngineCache(tmp_path)
    key = EngineKey(backend="onnxruntime", runtime_version="1.0", device="cpu", compute_capability="", precision="fp32",
                    model_sha256="0" * 64, shapes=())
    fields = dict(source_model="/m.onnx", reference_model="/m.onnx", inputs=[], outputs=[], build_seconds=0.0)
    first = cache.write(key, "p", b"old engine", **fields)
    second = cache.write(key, "p", b"new engine", **fields)
    assert first.engine_path != second.engine_path  # named by content: the old sidecar's engine was never touched
    assert not first.engine_path.exists() and second.engine_path.read_bytes() == b"new engine"
    assert [e.intact for e in cache.entries()] == [True] and cache.leftovers(min_age_s=0.0) == []
    assert sidecar_name_for_engine(second.engine_path.name) == second.meta_path.name
    # A cache written with the earlier naming (no content digest) still maps engine -> sidecar and cleans up.
    assert sidecar_name_for_engine(f"p-{key.digest[:16]}.ort.onnx") == second.meta_path.name
    legacy = tmp_path / f"p-{key.digest[:16]}.ort.onnx"
    legacy.write_bytes(b"legacy")
    cache.write(key, "p", b"third", **fields)
    assert not legacy.exists()
