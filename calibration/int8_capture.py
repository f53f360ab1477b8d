"""Observation batches for INT8 calibration, taken from residual logs of live or replayed runs.

Every record whose tick published the policy's command holds the exact
model input the daemon fed (``obs.*`` fields). Those vectors are grouped
into batches and written as the engines' INT8 entropy calibrator reads them:

* ``<out>/<input name>_<NNNNN>.npy``: one batch, float32, shape
  ``[batch, *input shape without its batch dimension]``;
* ``<out>/manifest.json``::

      {"format": "edgepilot-int8-calibration/1",
       "inputs": {"obs": {"shape": [32, 5], "dtype": "float32",
                          "files": ["obs_00000.npy", ...]}},
       "batch_size": 32, "num_batches": 12, "samples": 384,
       "profile": "diffbot", "sources": ["residuals_....mcap", ...]}

A live robot's logs (rotated files from ``residuals.directory``) and a
replayed recording's logs (``transport.kind: replay`` with residual logging
on) are captured the same way. Files are written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgepilot.common.atomic_file import write_bytes_atomic

from .residual_logs import LogError, read_logs

FORMAT = "edgepilot-int8-calibration/1"


def capture_batches(logs: list[str | Path], out_dir: str | Path, batch_size: int = 32, max_batches: int | None = None,
                    input_shape: tuple[int, ...] | None = None, shuffle_seed: int | None = 0) -> dict[str, Any]:
    """Write the batches and the manifest; return the manifest.

    ``input_shape``: the model input's shape without the batch dimension
    (default: the observation as a flat vector). ``shuffle_seed``: shuffle
    the samples (seeded) so every batch spans the whole run; None keeps
    time order. A partial last batch is dropped (calibrators expect full ones).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    segs = read_logs(list(logs))
    profile = segs[0].profile
    input_name = profile.observation.input_name
    obs_cols = [i for i, f in enumerate(segs[0].fields) if f.startswith("obs.")]
    samples = np.concatenate([s.data[s.column("policy") > 0.5][:, obs_cols] for s in segs]).astype(np.float32)
    shape = tuple(input_shape) if input_shape else (len(obs_cols),)
    if int(np.prod(shape)) != len(obs_cols):
        raise LogError(f"input shape {list(shape)} holds {int(np.prod(shape))} values; the logged observation has {len(obs_cols)}")
    if shuffle_seed is not None:
        samples = samples[np.random.default_rng(shuffle_seed).permutation(len(samples))]
    n_batches = len(samples) // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    if n_batches == 0:
        raise LogError(f"only {len(samples)} policy ticks in the logs: not one full batch of {batch_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for b in range(n_batches):
        batch = samples[b * batch_size:(b + 1) * batch_size].reshape((batch_size,) + shape)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(batch, dtype=np.float32))
        name = f"{input_name}_{b:05d}.npy"
        write_bytes_atomic(out / name, buf.getvalue())
        files.append(name)
    manifest = {
        "format": FORMAT,
        "inputs": {input_name: {"shape": [batch_size, *shape], "dtype": "float32", "files": files}},
        "batch_size": batch_size,
        "num_batches": n_batches,
        "samples": n_batches * batch_size,
        "profile": profile.name,
        "sources": [str(s.path) for s in segs],
    }
    write_bytes_atomic(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
