"""Runs the baseline node as its own process: ``python -m bench.baseline --domain-id D --duration S --out RUN.npz``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--domain-id", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--rate-hz", type=float, default=500.0)
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args(argv)

    from edgepilot.daemon.config.profile import default_profile_path
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    from .node import AIDeploymentNode

    transport = DdsTransport(a.domain_id)
    node = AIDeploymentNode(transport, default_profile_path().parent / "diffbot_policy.onnx", a.rate_hz)
    node.start()
    time.sleep(a.duration)
    node.stop()
    transport.close()
    n = min(node.ticks, node.history)
    np.savez(a.out, start_ns=node.start_ns[:n], duration_ns=node.duration_ns[:n], inference_ns=node.inference_ns[:n],
             period_ns=np.int64(round(1e9 / a.rate_hz)))
    print(json.dumps({"ticks": node.ticks, "errors": node.errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
