"""Runs the edgepilot daemon as the CLI does (``edgepilot run``) and saves its per-tick timing arrays.

A child process of the loop benchmark. Besides the run summary it keeps what
the summary only has as percentiles: each tick's start lateness, duration and
inference time (ns), so the bench can draw histograms and compute overhead
tick by tick. ``--tuning`` applies the cheap in-process measures before the
loop starts (see :func:`apply_tuning`); each one is reported as applied or
refused.

    python -m bench.daemon_runner --config P.yaml --domain-id D --duration S --out RUN.npz [--tuning]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

import numpy as np

SWITCH_INTERVAL_S = 0.0001


def apply_tuning() -> dict[str, str]:
    """GIL switch interval, frozen GC, SCHED_FIFO, CPU affinity: what each did, or why it was refused."""
    done: dict[str, str] = {}
    # A thread wanting the GIL waits up to the switch interval (default 5 ms) for the holder to drop it: the loop
    # waking for its deadline while a DDS callback runs Python waits that long.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    done["switchinterval"] = f"{SWITCH_INTERVAL_S * 1e6:.0f} us"
    # Everything allocated at start-up moves to the permanent generation: the collections that callback garbage
    # still triggers no longer traverse it.
    gc.collect()
    gc.freeze()
    done["gc"] = f"freeze ({gc.get_freeze_count()} objects), thresholds {gc.get_threshold()}"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        done["sched_fifo"] = "priority 10"
    except (PermissionError, OSError, AttributeError) as err:
        done["sched_fifo"] = f"refused: {err}"
    try:
        cpus = sorted(os.sched_getaffinity(0))
        done["affinity"] = f"left on cpus {cpus}: pinning the loop thread alone would need the ingest in its own process"
    except AttributeError as err:
        done["affinity"] = f"unavailable: {err}"
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--tuning", action="store_true")
    a = p.parse_args(argv)

    from edgepilot.daemon.config import load_profile
    from edgepilot.daemon.runtime import Daemon
    from edgepilot.daemon.transport.factory import make_transport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    profile = load_profile(a.config)
    profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": a.domain_id})})
    backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    transport = make_transport(profile.transport)
    daemon = Daemon(profile, transport, backend, log=sys.stderr, status_period_s=3600.0)
    tuning = apply_tuning() if a.tuning else {}
    try:
        summary = daemon.run(duration_s=a.duration)
    finally:
        daemon.close()
    loop = daemon.loop
    n = min(loop.ticks, loop.history)
    np.savez(a.out, start_ns=loop.start_ns[:n], lateness_ns=loop.lateness_ns[:n], duration_ns=loop.duration_ns[:n],
             inference_ns=daemon.inference_ns[:n], period_ns=np.int64(loop.period_ns))
    summary["tuning"] = tuning
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
