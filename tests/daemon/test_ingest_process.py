"""``ingest: {mode: process}``: the sensor callbacks run in a child process writing shared-memory rings.

Real parts: the daemon's loop in this process with the example policy on ONNX Runtime, the ingest child
subscribed over Cyclone DDS on loopback, and the sensor load (JointState/Imu 1 kHz, 640x480 Image 30 Hz)
published from a third process (bench/sensor_load.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config import ProfileError, default_profile_path, load_profile, parse_profile

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _profile_data() -> dict:
    d = yaml.safe_load(default_profile_path().read_text())
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["streams"]["camera"].update(width=640, height=480)
    d["ingest"] = {"mode": "process"}
    return d


def test_process_ingest_drives_and_its_death_zeroes_the_command(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.daemon.runtime import Daemon
    from edgepilot.daemon.transport.dds import DdsTransport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(_profile_data()))
    profile = load_profile(p)
    profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": dds_domain})})
    load = subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(dds_domain), "--duration", "30"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    transport = DdsTransport(dds_domain)
    daemon = Daemon(profile, transport, OnnxRuntimeBackend(profile.model_path), log=sys.stderr)
    shm = daemon.ingest_process.path
    killed_at: list[float] = []

    def kill_ingest() -> None:
        while daemon.policy_commands < 100 and not daemon.stop_requested.is_set():
            time.sleep(0.01)
        killed_at.append((time.monotonic_ns() - daemon._started_ns) / 1e9)
        os.kill(daemon.ingest_process.proc.pid, signal.SIGKILL)

    try:
        assert transport._subscriptions == [], "the daemon's own process must subscribe to nothing"
        killer = threading.Thread(target=kill_ingest, daemon=True)
        killer.start()
        summary = daemon.run(duration_s=6.0, install_signal_handlers=False)
        killer.join(timeout=5)
    finally:
        daemon.close()
        load.terminate()
        load.wait(timeout=10)
    assert not shm.exists()
    assert killed_at, "the policy never ran on the ingest process's samples"
    streams = summary["streams"]
    assert all(streams[s]["received"] > 0 for s in ("joint_states", "imu", "camera")), streams
    assert summary["policy_commands"] >= 100
    # The ingest child died: its streams went stale and the loop zeroed the command from then on.
    stale = [e for e in summary["fault_events"] if e["fault"].startswith("stale:") and e["raised_s"] >= killed_at[0]]
    assert stale, summary["fault_events"]
    assert all(e["cleared_s"] is None for e in stale)
    assert summary["loop_zero_commands"] > 10


def test_process_ingest_refuses_what_it_cannot_run() -> None:
    d = _profile_data()
    d["streams"]["imu"]["max_identical_s"] = 0.5
    with pytest.raises(ProfileError, match="ingest.mode=process cannot run the integrity limits"):
        parse_profile(d)
    d = _profile_data()
    d["transport"]["kind"] = "auto"
    with pytest.raises(ProfileError, match="ingest.mode=process needs transport.kind=dds"):
        parse_profile(d)
    assert parse_profile(_profile_data()).ingest.mode == "process"
