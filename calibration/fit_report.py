"""The fit's report: PNG plots (residuals over time, histograms, held-back RMS before/after) and a Markdown summary."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np

from edgepilot.common.atomic_file import write_text_atomic

from .fit import FitResult


def write_plots(result: FitResult, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a robot or in CI
    import matplotlib.pyplot as plt

    return [_plot_residuals_over_time(plt, result, out_dir), _plot_histograms(plt, result, out_dir),
            _plot_rms_before_after(plt, result, out_dir)]


def _plot_residuals_over_time(plt: ModuleType, result: FitResult, out_dir: Path) -> Path:
    s = result.series
    fields = s["fields"]
    n = len(fields)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.4 * n), sharex=False, squeeze=False)
    for j, name in enumerate(fields):
        ax = axes[j, 0]
        offset = 0.0
        span_labelled = False
        for seg_i, (t, before, after, (fm, hm)) in enumerate(zip(s["t"], s["before"], s["after_with_latency"], s["masks"])):
            use = fm | hm
            tt = t + offset
            ax.plot(tt[use], before[use, j], ".", ms=2, color="tab:red", label="before" if seg_i == 0 else None)
            ax.plot(tt[use], after[use, j], ".", ms=2, color="tab:blue", label="after" if seg_i == 0 else None)
            if hm.any():
                ax.axvspan(tt[hm].min(), tt[hm].max(), color="0.9", zorder=0, label=None if span_labelled else "held back")
                span_labelled = True
            offset = tt[-1] + 1.0 if len(tt) else offset
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time, s (log segments laid end to end)")
    fig.suptitle("residual = measured - predicted: before and after the fitted corrections")
    fig.tight_layout()
    p = out_dir / "residuals_over_time.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


def _plot_histograms(plt: ModuleType, result: FitResult, out_dir: Path) -> Path:
    s = result.series
    fields = s["fields"]
    n = len(fields)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3), squeeze=False)
    for j, name in enumerate(fields):
        ax = axes[0, j]
        b = np.concatenate([x[m[0] | m[1], j] for x, m in zip(s["before"], s["masks"])])
        a = np.concatenate([x[m[0] | m[1], j] for x, m in zip(s["after_with_latency"], s["masks"])])
        both = np.concatenate([b, a])
        both = both[np.isfinite(both)]
        if both.size:
            lo, hi = np.percentile(both, [0.5, 99.5])
            bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 60)
            ax.hist(b[np.isfinite(b)], bins=bins, alpha=0.6, color="tab:red", label="before")
            ax.hist(a[np.isfinite(a)], bins=bins, alpha=0.6, color="tab:blue", label="after")
        ax.set_title(name, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / "residual_histograms.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


def _plot_rms_before_after(plt: ModuleType, result: FitResult, out_dir: Path) -> Path:
    n = len(result.series["fields"])
    fig, ax = plt.subplots(figsize=(2 + 1.6 * n, 3.2))
    x = np.arange(n)
    w = 0.27
    ax.bar(x - w, [f.rms_before for f in result.fields], w, color="tab:red", label="before")
    ax.bar(x, [f.rms_after for f in result.fields], w, color="tab:orange", label="after: corrections")
    ax.bar(x + w, [f.rms_after_with_latency for f in result.fields], w, color="tab:blue", label="after: + measured latency")
    ax.set_xticks(x, [f.name for f in result.fields], fontsize=7, rotation=10)
    ax.set_ylabel("residual RMS on held-back records")
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / "rms_before_after.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def write_report(result: FitResult, out_dir: Path, compensation_path: Path, plots: list[Path]) -> Path:
    c = result.compensation
    lines = ["# Sim-to-real calibration report", ""]
    lines.append(f"Logs: {', '.join(Path(p).name for p in c.fit.get('logs', []))}  ")
    lines.append(f"Records: {c.fit.get('records_fit')} fit, {c.fit.get('records_holdout')} held back "
                 f"(the last {c.fit.get('holdout', 0) * 100:.0f} %). Compensation written to `{compensation_path}`.")
    lines += ["", "## Residual RMS on the held-back records", "",
              "| field | bias (fit part) | noise σ | RMS before | RMS after corrections | RMS after, + measured latency |",
              "| --- | --- | --- | --- | --- | --- |"]
    for f in result.fields:
        cut = (1 - f.rms_after / f.rms_before) * 100 if f.rms_before and math.isfinite(f.rms_after) else math.nan
        lines.append(f"| `{f.name}` | {_fmt(f.bias)} ± {_fmt(f.bias_stderr, 2)} | {_fmt(f.noise_std, 3)} | "
                     f"{_fmt(f.rms_before)} | {_fmt(f.rms_after)} ({_fmt(cut, 3)} % less) | {_fmt(f.rms_after_with_latency)} |")
    lines += ["", "## Corrections", ""]
    for s in c.observation:
        lines.append(f"- sensor `{s.field}`: bias {s.bias:+.5g} (± {_fmt(s.stderr, 2)}), removed from the raw value")
    for a in c.action:
        lines.append(f"- action `{a.field}`: the robot achieves command {a.bias:+.5g} (± {_fmt(a.stderr, 2)}); the daemon sends command {-a.bias:+.5g}")
    if c.odometry is not None:
        lines.append(f"- odometry wheel radius × {c.odometry.wheel_radius_scale:.5g} (given, measured outside the logs)")
    if not (c.observation or c.action or c.odometry):
        lines.append("- none significant")
    lines.append(f"- latency, command to response: {_fmt(result.latency_s, 3)} s measured "
                 f"(cross-correlation peak {_fmt(result.latency_xcorr_lag_s, 3)} s; reported, not compensated)")
    ratio = c.fit.get("gyro_to_wheel_yaw_ratio")
    if ratio:
        lines.append(f"- gyro / wheel yaw rate in steady turns: {_fmt(ratio['ratio'])} ± {_fmt(ratio['stderr'], 2)} "
                     "(wheel radius and scrub together; not applied)")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path = out_dir / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
