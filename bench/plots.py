"""The PNG: tick-interval jitter histograms and end-to-end latency CDFs, ours vs baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw(raw: dict[str, dict[str, np.ndarray]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8))
    for name, r in raw.items():
        j = r["jitter_ns"] / 1e3
        if j.size:
            bins = np.logspace(-2, np.log10(max(j.max(), 1.0)) + 0.1, 60)
            a.hist(np.maximum(j, 1e-2), bins=bins, histtype="step", lw=1.5, label=f"{name} (p99 {np.percentile(j, 99):.0f} us)")
        lat = np.sort(r["latency_ns"]) / 1e6
        if lat.size:
            b.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=f"{name} (p99 {np.percentile(lat, 99):.2f} ms)")
    a.set_xscale("log")
    a.set_yscale("log")
    a.axvline(200, color="k", ls="--", lw=0.8)
    a.set_xlabel("|tick interval - period|, us (dashed: 200 us target)")
    a.set_ylabel("ticks")
    a.set_title("tick-start jitter at 500 Hz under load")
    a.legend(fontsize=8)
    b.set_xscale("log")
    b.set_xlabel("sensor publish -> command receipt, ms")
    b.set_ylabel("fraction of toggles")
    b.set_title("end-to-end latency over DDS")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
