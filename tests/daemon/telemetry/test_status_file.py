"""The status file behind `edgepilot status` and the container HEALTHCHECK: where it is, how it is written and judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.telemetry.status_file import (DEFAULT_STATUS_FILE, StatusFileError, StatusWriter, boot_id, evaluate, read_status,
                                          resolve_status_path)

HEALTHY = {"ready": True, "faults": [], "last_tick_age_s": 0.004, "stall_timeout_s": 0.03, "status_period_s": 1.0,
           "line": "t=5.0s ticks=250 rate=50.00Hz"}


def written(tmp_path: Path, **changes: object) -> dict[str, object]:
    w = StatusWriter(tmp_path / "run" / "status.json")
    assert w.write({**HEALTHY, **changes})
    return read_status(w.path)


def test_resolution_order() -> None:
    env = {"EDGEPILOT_STATUS_FILE": "/a/s.json", "RUNTIME_DIRECTORY": "/run/edgepilot:/run/other"}
    assert resolve_status_path(Path("/x.json"), env) == Path("/x.json")
    assert resolve_status_path(None, env) == Path("/a/s.json")
    assert resolve_status_path(None, {"RUNTIME_DIRECTORY": "/run/edgepilot:/run/other"}) == Path("/run/edgepilot/status.json")
    assert resolve_status_path(None, {}) is None  # the daemon writes nothing for an ad-hoc run
    assert resolve_status_path(None, {}, for_reader=True) == DEFAULT_STATUS_FILE


def test_write_is_atomic_and_complete(tmp_path: Path) -> None:
    data = written(tmp_path)
    assert data["version"] == 1 and data["pid"] == os.getpid() and data["boot_id"] == boot_id()
    assert abs(float(data["monotonic_s"]) - time.monotonic()) < 5
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["status.json"]  # no temp file left behind
    old = os.umask(0o077)
    try:
        StatusWriter(tmp_path / "run" / "status.json").write(HEALTHY)
    finally:
        os.umask(old)
    assert (tmp_path / "run" / "status.json").stat().st_mode & 0o777 == 0o644  # `edgepilot status` works for any user


def test_verdicts(tmp_path: Path) -> None:
    assert evaluate(written(tmp_path), max_age_s=3).healthy
    now = time.monotonic()
    assert "old" in evaluate(written(tmp_path), max_age_s=3, now_monotonic_s=now + 10).reason
    assert "earlier boot" in evaluate(written(tmp_path), max_age_s=3, this_boot="another-boot").reason
    v = evaluate(written(tmp_path, ready=False), max_age_s=3)
    assert not v.healthy and "not ready" in v.reason
    v = evaluate(written(tmp_path, faults=["stale:imu"]), max_age_s=3)
    assert not v.healthy and "stale:imu" in v.reason
    v = evaluate(written(tmp_path, last_tick_age_s=0.5), max_age_s=3)
    assert not v.healthy and "500 ms old" in v.reason
    assert not evaluate(written(tmp_path, last_tick_age_s=None), max_age_s=3).healthy


def test_read_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StatusFileError, match="not running"):
        read_status(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(StatusFileError, match="not valid JSON"):
        read_status(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(StatusFileError, match="unknown format"):
        read_status(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_file_content_is_a_verdict_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "status.json"
    path.write_bytes(content)
    try:
        data = read_status(path)
    except StatusFileError:
        return
    evaluate(data, max_age_s=3.0)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["ready", "faults", "last_tick_age_s", "stall_timeout_s", "monotonic_s", "boot_id"]),
                       st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=5),
                                 st.lists(st.text(max_size=5), max_size=3))))
def test_evaluate_never_calls_a_malformed_document_healthy_by_accident(doc: dict[str, object]) -> None:
    v = evaluate({"version": 1, **doc}, max_age_s=3.0)  # a malformed field is a verdict too, never an exception
    if v.healthy:
        assert doc.get("ready") and not doc.get("faults")


def test_cli_exit_status(tmp_path: Path) -> None:
    def status(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edgepilot", "status", "--status-file", str(path), "--json"],
                              capture_output=True, text=True, timeout=60)

    w = StatusWriter(tmp_path / "status.json")
    w.write(HEALTHY)
    ok = status(w.path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["healthy"] is True
    w.write({**HEALTHY, "faults": ["missing:camera"]})
    bad = status(w.path)
    assert bad.returncode == 1 and "missing:camera" in json.loads(bad.stdout)["reason"]
    w.remove()
    gone = status(w.path)
    assert gone.returncode == 1 and "not running" in json.loads(gone.stdout)["reason"]
