"""The engine cache: one engine file and one JSON metadata sidecar per key, written atomically, guarded by file locks.

Layout of the cache folder (default ``/var/lib/edgepilot/engines``, the
systemd ``StateDirectory=edgepilot`` of the service; ``EDGEPILOT_CACHE_DIR`` or
``--cache-dir`` override it)::

    <model stem>-<digest[:16]>.<sha[:12]>.engine     TensorRT engine (plan) as TensorRT serialised it
    <model stem>-<digest[:16]>.<sha[:12]>.ort.onnx   ONNX Runtime plan (an optimised ONNX model)
    <model stem>-<digest[:16]>.json                  metadata sidecar: key, engine sha256/size, IO, verification
    exports/                              ONNX files exported from TorchScript sources
    timing/                               TensorRT timing caches, one per device and TensorRT version
    calibration/                          int8 calibration caches
    .locks/                               flock files: one per key, one per timing cache

Engine files are named by their own content (``<sha[:12]>``, the first 12 hex digits of their SHA-256), so a
rebuild never overwrites the engine the current sidecar describes: the new engine is written beside it, then
the sidecar's rename is the one commit point, then the old engine is deleted. A kill at any point leaves the old
entry or the new one, complete (SQLite's doctrine; tests/engines/test_engine_cache_crash.py). An engine that no
sidecar names is an unfinished write or an old engine whose deletion was cut short, and is never used. (Caches
written before this naming name their engine ``<stem>-<digest[:16]><suffix>``; their sidecars still read.)
An entry is

* **corrupt** when its sidecar is unreadable, carries another format (version)
  tag, its key does not hash to its recorded digest, or the engine file is
  missing, of another size (truncated) or another SHA-256;
* **stale** when its key no longer describes this machine and model: the source
  model's bytes changed, or the runtime version / device differs from the
  platform now present (a JetPack upgrade changes the TensorRT version);
* **orphaned** when its source model is gone;
* **unverified** until it has matched its reference once (``verified`` in the
  sidecar): the ONNX model for ONNX sources; for TorchScript sources the
  TorchScript model itself, run in torch over a sequence of steps. A later
  verification that fails (``engine verify``) clears ``verified`` again. Only a
  valid, verified entry is activated.
"""

from __future__ import annotations

import datetime as _dt
import glob
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgepilot.common.atomic_file import TEMP_MARKER, LockBusy, file_lock, pid_alive, write_bytes_atomic, write_text_atomic, writer_pid
from .cache_key import CACHE_FORMAT_VERSION, EngineKey, PlatformInfo, sha256_file, sha256_files
from .model_check import model_files

DEFAULT_CACHE_DIR = Path("/var/lib/edgepilot/engines")
CACHE_DIR_ENV = "EDGEPILOT_CACHE_DIR"
FORMAT_TAG = f"edgepilot-engine-cache/{CACHE_FORMAT_VERSION}"
_ENGINE_SUFFIX = {"tensorrt": ".engine", "onnxruntime": ".ort.onnx"}
_NAME = re.compile(r"^(?P<stem>.+)-(?P<digest>[0-9a-f]{16})\.json$")
_ENGINE_NAME = re.compile(r"^(?P<base>.+-[0-9a-f]{16})(\.[0-9a-f]{12})?(\.engine|\.ort\.onnx)$")


def sidecar_name_for_engine(engine_name: str) -> str | None:
    """The sidecar file name of an engine file name (either naming), None if it is not an engine's name."""
    m = _ENGINE_NAME.match(engine_name)
    return None if m is None else m.group("base") + ".json"


class CacheError(RuntimeError):
    """The cache folder cannot be used; the message says why and how to fix it."""


def resolve_cache_dir(cli: str | Path | None = None, configured: str | Path | None = None) -> Path:
    """--cache-dir, else $EDGEPILOT_CACHE_DIR, else the profile's engine.cache_dir, else /var/lib/edgepilot/engines."""
    for value in (cli, os.environ.get(CACHE_DIR_ENV) or None, configured):
        if value:
            return Path(value).expanduser()
    return DEFAULT_CACHE_DIR


class TensorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shape: tuple[int, ...]
    dtype: str


class EngineMetadata(BaseModel):
    """The sidecar. ``verification`` is the last verification report (see verify.VerificationReport)."""

    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT_TAG
    key: EngineKey
    key_digest: str
    engine_file: str
    engine_size: int
    engine_sha256: str
    created_utc: str
    edgepilot_version: str
    source_model: str = Field(description="Absolute path of the model the user gave (ONNX or TorchScript).")
    reference_model: str = Field(description="Absolute path of the ONNX model verification compares against.")
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    build_seconds: float
    build_notes: list[str] = []
    verified: bool = False
    verification: dict[str, Any] | None = None
    recurrent_state: list[dict[str, Any]] | None = Field(
        default=None, description="Recurrent state pairs the engine's inputs/outputs carry (torchscript_export."
        "RECURRENT_STATE_KEY format: input, output, shape, dtype, initial, buffer); None: stateless.")


EntryState = Literal["valid", "unverified", "corrupt", "stale", "orphaned", "unknown"]


@dataclass
class CacheEntry:
    """One sidecar found in the cache, with what is wrong with it (if anything)."""

    meta_path: Path
    stem: str
    digest16: str
    metadata: EngineMetadata | None
    problem: str | None  # corruption found by the integrity check; None if intact

    @property
    def engine_path(self) -> Path | None:
        return self.meta_path.with_name(self.metadata.engine_file) if self.metadata else None

    @property
    def intact(self) -> bool:
        return self.problem is None and self.metadata is not None


def _edgepilot_version() -> str:
    try:
        from importlib.metadata import version

        return version("edgepilot")
    except Exception:  # running from a source tree without an install
        return "unknown"


class EngineCache:
    """The cache folder. All writes of one key happen under that key's lock."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ folders and locks

    def ensure_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(f"cannot create engine cache folder {self.root}: {err.strerror}; set {CACHE_DIR_ENV} or pass "
                             "--cache-dir (the edgepilot service gets /var/lib/edgepilot from systemd StateDirectory=)") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise CacheError(f"engine cache folder {self.root} is not writable by this user; run as the edgepilot service user, "
                             f"set {CACHE_DIR_ENV}, or pass --cache-dir")

    def subdir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    @contextmanager
    def key_lock(self, digest: str, *, blocking: bool = True) -> Iterator[None]:
        with file_lock(self.root / ".locks" / f"{digest[:16]}.lock", blocking=blocking):
            yield

    @contextmanager
    def named_lock(self, name: str) -> Iterator[None]:
        with file_lock(self.root / ".locks" / f"{name}.lock"):
            yield

    # ------------------------------------------------------------------ reading

    def meta_path_for(self, key: EngineKey, stem: str) -> Path:
        return self.root / f"{stem}-{key.digest[:16]}.json"

    def find(self, digest: str) -> CacheEntry | None:
        """The entry for a key digest (full, or a prefix of at least 8 hex chars)."""
        for entry in self.entries(check=False):
            if entry.digest16.startswith(digest[:16]) and (entry.metadata is None or entry.metadata.key_digest.startswith(digest)):
                return self.check(entry)
        return None

    def lookup(self, key: EngineKey) -> CacheEntry | None:
        return self.find(key.digest)

    def read(self, meta_path: Path) -> CacheEntry:
        m = _NAME.match(meta_path.name)
        stem, digest16 = (m.group("stem"), m.group("digest")) if m else (meta_path.stem, "")
        try:
            raw = json.loads(meta_path.read_text())
        except (OSError, ValueError) as err:
            return CacheEntry(meta_path, stem, digest16, None, f"metadata unreadable ({type(err).__name__}: {err})")
        tag = raw.get("format") if isinstance(raw, dict) else None
        if tag != FORMAT_TAG:
            return CacheEntry(meta_path, stem, digest16, None, f"bad version tag {tag!r} (this edgepilot writes {FORMAT_TAG!r})")
        try:
            meta = EngineMetadata.model_validate(raw)
        except ValidationError as err:
            return CacheEntry(meta_path, stem, digest16, None, f"metadata invalid: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}")
        return CacheEntry(meta_path, stem, digest16, meta, None)

    def check(self, entry: CacheEntry, *, hash_engine: bool = True) -> CacheEntry:
        """Fill ``entry.problem`` with the first corruption found (None if intact)."""
        if entry.metadata is None:
            return entry
        meta = entry.metadata
        problem: str | None = None
        if meta.key.digest != meta.key_digest or not meta.key_digest.startswith(entry.digest16):
            problem = "metadata key does not hash to its recorded digest (edited or corrupt sidecar)"
        else:
            path = entry.meta_path.with_name(meta.engine_file)
            try:
                size = path.stat().st_size
            except OSError:
                problem = f"engine file {path.name} is missing"
            else:
                if size != meta.engine_size:
                    problem = (f"engine file {path.name} is {size} bytes, the metadata says {meta.engine_size}"
                               f"{' (truncated)' if size < meta.engine_size else ''}")
                elif hash_engine and sha256_file(path) != meta.engine_sha256:
                    problem = f"engine file {path.name} does not match its recorded SHA-256 (changed on disk)"
        entry.problem = problem
        return entry

    def entries(self, *, check: bool = True) -> list[CacheEntry]:
        if not self.root.is_dir():
            return []
        out = [self.read(p) for p in sorted(self.root.glob("*.json")) if not p.name.startswith(".")]
        return [self.check(e) for e in out] if check else out

    def staleness(self, entry: CacheEntry, platforms: Mapping[str, PlatformInfo | None],
                  model_hash: Callable[[Path], str | None]) -> tuple[EntryState, str]:
        """Classify an entry against the current platforms (None: that runtime is absent here) and source models."""
        if entry.metadata is None or entry.problem:
            return "corrupt", entry.problem or "unreadable"
        key = entry.metadata.key
        source = Path(entry.metadata.source_model)
        current = model_hash(source)
        if current is None:
            return "orphaned", f"source model {source} is gone"
        if current != key.model_sha256:
            return "stale", f"source model {source.name} changed since the build"
        platform = platforms.get(key.backend)
        if platform is None:
            return "unknown", f"{key.backend} is not available here, so its engines cannot be checked against this machine"
        if key.platform() != platform:
            now = key.model_copy(update=platform.model_dump())
            return "stale", "; ".join(key.differences(now))
        if not entry.metadata.verified:
            return "unverified", "never passed verification against its reference model"
        return "valid", ""

    # ------------------------------------------------------------------ writing (callers hold key_lock)

    def write(self, key: EngineKey, stem: str, engine: bytes | memoryview, **fields: Any) -> CacheEntry:
        """Atomically store an engine and then its sidecar (the commit point). Unverified until :meth:`mark_verified`."""
        self.ensure_writable()
        meta_path = self.meta_path_for(key, stem)
        sha = hashlib.sha256(engine).hexdigest()
        engine_path = meta_path.with_name(f"{stem}-{key.digest[:16]}.{sha[:12]}{_ENGINE_SUFFIX[key.backend]}")
        # The old sidecar stays until the new one replaces it, and it names an engine file this write never
        # touches (a different content name), so every instant has one complete entry on disk.
        write_bytes_atomic(engine_path, engine)
        meta = EngineMetadata(key=key, key_digest=key.digest, engine_file=engine_path.name, engine_size=len(engine),
                              engine_sha256=sha,
                              created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              edgepilot_version=_edgepilot_version(), **fields)
        write_text_atomic(meta_path, meta.model_dump_json(indent=2) + "\n")
        for old in self._engine_files(f"{stem}-{key.digest[:16]}"):
            if old != engine_path:
                old.unlink(missing_ok=True)  # the previous engine (or a dead writer's): no sidecar names it now
        return CacheEntry(meta_path, stem, key.digest[:16], meta, None)

    def _engine_files(self, base: str) -> list[Path]:
        """Engine files of one entry (``<stem>-<digest16>``), any naming."""
        out = []
        for p in self.root.glob(f"{glob.escape(base)}*"):
            m = _ENGINE_NAME.match(p.name)
            if m is not None and m.group("base") == base:
                out.append(p)
        return out

    def mark_verified(self, entry: CacheEntry, report: dict[str, Any], passed: bool) -> CacheEntry:
        """Record a verification result against the entry's own reference at its precision (atomically): ``verified``
        is that result, so an engine that fails a later check is not activated until it passes again."""
        assert entry.metadata is not None
        meta = entry.metadata.model_copy(update={"verified": passed, "verification": report})
        write_text_atomic(entry.meta_path, meta.model_dump_json(indent=2) + "\n")
        return CacheEntry(entry.meta_path, entry.stem, entry.digest16, meta, entry.problem)

    def remove(self, entry: CacheEntry) -> list[Path]:
        """Delete an entry's files, sidecar first (so a crash in between leaves no sidecar pointing at nothing)."""
        removed = []
        files = [entry.meta_path]
        if entry.metadata is not None:
            files.append(entry.meta_path.with_name(entry.metadata.engine_file))
        else:
            files += self._engine_files(f"{entry.stem}-{entry.digest16}")
        for p in files:
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
        return removed

    def remove_under_lock(self, entry: CacheEntry) -> list[Path] | None:
        """Remove unless a builder holds the entry's lock right now (then None)."""
        digest = entry.metadata.key_digest if entry.metadata else entry.digest16
        try:
            with self.key_lock(digest, blocking=False):
                return self.remove(entry)
        except LockBusy:
            return None

    def leftovers(self, min_age_s: float = 3600.0) -> list[Path]:
        """Temp files of writers that died, and engine files with no sidecar (an interrupted write)."""
        if not self.root.is_dir():
            return []
        out: list[Path] = []
        now = time.time()
        for p in self.root.rglob(f".*{TEMP_MARKER}*"):
            pid = writer_pid(p.name)
            if (pid is None or not pid_alive(pid)) or now - p.stat().st_mtime > min_age_s:
                out.append(p)
        named, unreadable = set(), set()
        for side in self.root.glob("*.json"):
            entry = self.read(side)
            if entry.metadata is not None:
                named.add(entry.metadata.engine_file)
            else:
                unreadable.add(side.name)  # a corrupt entry's engine is `engine clean`'s to judge, not a leftover
        for p in list(self.root.glob("*.engine")) + list(self.root.glob("*.ort.onnx")):
            if p.name in named or sidecar_name_for_engine(p.name) in unreadable:
                continue
            if now - p.stat().st_mtime > 60:  # younger: a build under way writes its engine before its sidecar
                out.append(p)
        return out


def engine_suffix(backend: str) -> str:
    return _ENGINE_SUFFIX[backend]


def model_hasher() -> Callable[[Path], str | None]:
    """A memoised source-model hash (None for a missing file), for classifying many entries at once."""
    memo: dict[Path, str | None] = {}

    def h(path: Path) -> str | None:
        if path not in memo:
            try:
                memo[path] = sha256_files(model_files(path))
            except OSError:
                memo[path] = None
        return memo[path]

    return h
