"""engines/ passes mypy --strict with the TensorRT code checked against tensorrt-stubs.

TensorRT cannot be installed without an NVIDIA GPU, so this is how the
TensorRT builder and backend are checked in CI: every TensorRT call must match
the stubs' signatures. The second test proves the check has teeth: the same
modules with one TensorRT call misused must fail it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .tensorrt_stubs_for_mypy import StubsMissing, prepare

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().parent / "mypy_engines.ini"


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mypy", reason="mypy is in the 'test' extra")
    try:
        return prepare(tmp_path_factory.mktemp("trt-stubs"))
    except StubsMissing as err:
        pytest.fail(str(err))  # make test installs them; a missing install is a broken environment, not a skip


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared by both runs: parsing numpy's, pydantic's and TensorRT's stubs is most of mypy's time.
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(stubs: Path, target: Path, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--cache-dir", str(cache), str(target)],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, "MYPYPATH": str(stubs)})


def test_engines_pass_mypy_against_tensorrt_stubs(stubs: Path, mypy_cache: Path) -> None:
    r = _mypy(stubs, ROOT / "engines", ROOT, mypy_cache)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout


def test_misused_tensorrt_call_fails_the_check(stubs: Path, mypy_cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "engines"
    shutil.copytree(ROOT / "engines", copy, ignore=shutil.ignore_patterns("__pycache__"))
    backend = copy / "tensorrt_backend.py"
    text = backend.read_text()
    good = "if not self._context.execute_async_v3(stream.address):"
    assert good in text
    # A CudaStream object where TensorRT wants the stream's address (an int): a real, easy mistake.
    backend.write_text(text.replace(good, "if not self._context.execute_async_v3(stream):"))
    builder = copy / "tensorrt_builder.py"
    text = builder.read_text()
    good = "config.set_flag(trt.BuilderFlag.FP16)"
    assert good in text
    builder.write_text(text.replace(good, 'config.set_flag("FP16")'))
    r = _mypy(stubs, copy, tmp_path, mypy_cache)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'Argument 1 to "execute_async_v3" of "IExecutionContext" has incompatible type "CudaStream"' in r.stdout
    assert 'Argument 1 to "set_flag" of "IBuilderConfig" has incompatible type "str"; expected "BuilderFlag"' in r.stdout
