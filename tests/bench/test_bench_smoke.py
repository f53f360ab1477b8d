"""Smoke test of the performance suite (``python -m bench``): structure of its JSON and the zero-allocation
figures, plus the pieces of the loop benchmark that can be checked fast. No timing thresholds here: timings
on a shared CI machine are figures to report (bench/), not assertions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.command_probe import CommandProbe, latencies_ns

REPO = Path(__file__).resolve().parents[2]


def _not_json(token: str) -> None:
    raise AssertionError(f"{token} in the bench's JSON: not JSON, strict parsers (jq, JavaScript) reject it")


def test_ratios_and_output_stay_plain_json() -> None:
    from bench.__main__ import _ratio, strict_json

    base = {"overruns": 230.0, "jitter_us": {"p99": 1808.0}}
    ours = {"overruns": 0.0, "jitter_us": {"p99": 70.0}}
    assert _ratio(base, ours, "jitter_us.p99") == 25.83
    assert _ratio(base, ours, "overruns") is None  # ours had none: no finite ratio
    cleaned = strict_json({"a": [1.0, float("inf"), float("nan")], "b": {"c": -float("inf"), "d": "x", "e": 2}})
    assert cleaned == {"a": [1.0, None, None], "b": {"c": None, "d": "x", "e": 2}}
    json.dumps(cleaned, allow_nan=False)


def test_quick_ring_and_fusion_json(tmp_path: Path) -> None:
    out = tmp_path / "perf.json"
    r = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "ring,fusion", "--json", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text(), parse_constant=_not_json)
    assert len(d["loadavg_at_start"]) == 3
    for kind in ("vector64_f64", "frame640x480x3_u8"):
        for where in ("in_process", "cross_process_shm"):
            fig = d["ring"][kind][where]
            assert fig["writes_per_s"] > 0 and fig["latest_reads_per_s"] > 0
    f = d["fusion"]
    assert f["us_per_tick"] > 0 and len(f["loadavg"]) == 3
    # The tick keeps nothing, and the numpy work of fusion and action mapping allocates nothing at all.
    assert f["retained_bytes_per_tick"] == 0
    assert f["transient_bytes_by_part"]["action_map"] == 0
    assert set(d["targets"]) >= {"ring_vector_writes_per_s_ge_1e6", "fusion_zero_bytes_retained_per_tick"}


def test_latency_correlation_pairs_each_toggle_with_its_first_response() -> None:
    ms = 1_000_000
    toggles = np.array([100, 200, 300, 400]) * ms
    cmd_t = np.arange(0, 500, 2) * ms
    level = np.searchsorted(toggles, cmd_t - 3 * ms, side="right") % 2  # every response 3 ms late (+ tick phase)
    cmds = np.stack([level * 0.4, level * -0.2], axis=1).astype(float)
    lat = latencies_ns(toggles, cmd_t, cmds, skip_before_ns=150 * ms)
    assert lat.tolist() == [4 * ms, 4 * ms, 4 * ms]  # toggles at 200/300/400; first command at or after +3 ms is +4


def test_baseline_node_drives_over_dds(dds_domain: int) -> None:
    """The seed's design really runs: sensor load from another process in, Twist commands out."""
    from edgepilot.daemon.config.profile import default_profile_path
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    from bench.baseline.node import AIDeploymentNode

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    load = subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(dds_domain), "--duration", "20"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    probe = CommandProbe(dds_domain)
    transport = DdsTransport(dds_domain)
    node = AIDeploymentNode(transport, default_profile_path().parent / "diffbot_policy.onnx", 100.0)
    try:
        node.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and probe.first_nonzero_ns() < 0:
            time.sleep(0.05)
        node.stop()
        assert probe.first_nonzero_ns() > 0, "no policy command from the baseline node"
        assert node.errors == 0
        assert node.ticks > 0 and np.count_nonzero(node.inference_ns) > 0
    finally:
        node.stop()
        transport.close()
        probe.close()
        load.terminate()
        load.wait(timeout=10)
