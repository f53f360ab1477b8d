"""Runs the edgepilot daemon as the CLI does (``edgepilot run``) and saves its per-tick timing arrays.

A child process of the loop benchmark. Besides the run summary it keeps what
the summary only has as percentiles: each tick's start lateness, duration and
inference time (ns), so the bench can draw histograms and compute overhead
tick by tick. The profile decides everything else, as it does under
``edgepilot run``: where ingest runs (``ingest.mode``), real-time scheduling
(``realtime``, daemon/timing/realtime.py; what was applied or refused comes back in
the summary's ``realtime``) and the phase lock (``loop.sync``).

    python -m bench.daemon_runner --config P.yaml --domain-id D --duration S --out RUN.npz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args(argv)

    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.daemon.service import Daemon
    from edgepilot.daemon.transport.factory import make_transport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    profile = load_profile(a.config)
    profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": a.domain_id})})
    backend = OnnxRuntimeBackend(profile.model_path, profile.engine.intra_op_threads)
    transport = make_transport(profile.transport)
    from edgepilot.calibration.loop_hooks import CalibrationHooks

    daemon = Daemon(profile, transport, backend, log=sys.stderr, status_period_s=3600.0, tick_hooks=CalibrationHooks)
    try:
        summary = daemon.run(duration_s=a.duration)
    finally:
        transport.close()
        daemon.close()
        backend.close()
    loop = daemon.loop
    n = min(loop.ticks, loop.history)
    np.savez(a.out, start_ns=loop.start_ns[:n], lateness_ns=loop.lateness_ns[:n], duration_ns=loop.duration_ns[:n],
             inference_ns=daemon.inference_ns[:n], period_ns=np.int64(loop.period_ns))
    summary["tuning"] = {**summary.get("realtime", {}), "ingest_mode": daemon.ingest_mode}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
