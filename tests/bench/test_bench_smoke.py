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
    machine = d["targets"]["machine"]
    assert machine["zero_bytes_retained_per_tick"]["met"] is True
    ring = machine["ring_vector64_writes_per_s_ge_2e6"]
    assert ring["limit"] == 2e6 and ring["copy_floor_per_s"] > 0  # the slot's copy floor is shown beside it
    assert "ring_vector64_writes_per_s_ge_2e6" in r.stdout  # and the table is printed


def test_results_go_outside_the_source_tree(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bench.__main__ import default_out_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    out = default_out_dir()
    assert out.is_relative_to(tmp_path / "edgepilot" / "bench") and not out.is_relative_to(REPO)


def test_cyclictest_histogram_percentiles() -> None:
    from bench.floor import parse_cyclictest_histogram

    hist = "\n".join(f"{us:06d} {c:06d}" for us, c in [(0, 0), (3, 60), (5, 39), (40, 1)])
    text = f"# /dev/cpu_dma_latency set to 0us\n{hist}\n# Total: 000000100\n# Max Latencies: 00040\n" \
           "# Histogram Overflows: 00000\n"
    assert parse_cyclictest_histogram(text) == {"p50": 3.0, "p99": 5.0, "max": 40.0, "n": 100, "overflows": 0}
    assert "skipped" in parse_cyclictest_histogram("Unable to change scheduling policy!")


def _loop_figures(jitter_p99: float, ov50: float, ov99: float, tick99: float, e2e99: float) -> dict:
    return {"jitter_us": {"p99": jitter_p99}, "overhead_us": {"p50": ov50, "p99": ov99},
            "tick_duration_us": {"p99": tick99}, "e2e_latency_us": {"p99": e2e99}}


def test_targets_against_the_floor_of_the_same_run() -> None:
    from bench.targets import all_targets

    floor = {"wakeup_us": {"p99": 10.0}, "dds_hop_us": {"p99": 300.0}}
    res = {"floor": {"off": floor},
           "loop": {"off": {"sensor_rate_hz": 1000.0,
                            "ours": _loop_figures(59.0, 55.0, 149.0, 120.0, 1720.0),
                            "ours_in_process": _loop_figures(61.0, 61.0, 151.0, 120.0, 1721.0)}}}
    t = all_targets(res)["off"]
    ours, inproc = t["ours"], t["ours_in_process"]
    assert all(v["met"] for v in ours.values())  # 49 us above the floor; 1720 <= 2*300 + 120 + 1000
    assert ours["e2e_p99_le_2hop_plus_tick_plus_sensor_period"]["limit"] == 1720.0
    assert not any(v["met"] for k, v in inproc.items() if isinstance(v, dict))  # each just over its limit
    assert "interpreter lock" in inproc["reported_apart"]
    assert res["ratios"]["off"]["ours"]["jitter_p99_minus_wakeup_floor_p99_us"] == 49.0


def test_growth_variants_have_the_sizes_they_name() -> None:
    from edgepilot.daemon.config.profile import parse_profile

    from bench.cost_growth import AXES, _mlp, variant

    for n in AXES["observation"]:
        d, n_obs = variant("observation", n)
        assert n_obs == n
    d, n_obs = variant("streams", 16)
    assert len(d["streams"]) == 16 and n_obs == 18
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        d["engine"]["model"] = str(_mlp(Path(tmp) / "m.onnx", n_obs, 64))
        assert parse_profile(d, base_dir=Path(tmp)).observation_size() == 18


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
