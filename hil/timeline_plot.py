"""One PNG per scenario: what the daemon commanded over time, when each fault was on, when it was caught.

Panels, sharing the time axis (s after t0, the first non-zero command):

* forward speed command vx (m/s) and yaw rate command wz (rad/s), as the
  robot received them;
* a strip showing each command as policy (non-zero, green) or stop (zero,
  red), which makes every stop visible at a glance;
* distance to the goal (m), when the scenario expects the goal reached.

Fault windows are shaded (red: the daemon must stop; grey: it must count
and drop with no stop) and labelled above the top panel with the fault, the
daemon fault it raised and the measured fault-to-zero time. A red dashed
line marks each detection (first zero command), a green dotted line each
resume.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no display on a rig or in CI

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import numpy as np  # noqa: E402

from .measure import expected_daemon_faults  # noqa: E402

if TYPE_CHECKING:
    from .measure import RunRecord, ScenarioResult


def plot_timeline(record: RunRecord, result: ScenarioResult, trace: dict[str, list[float]], path: Path) -> Path:
    cmds = record.commands
    t = np.array([c[0] for c in cmds]) if cmds else np.zeros(0)
    vx = np.array([c[1] for c in cmds]) if cmds else np.zeros(0)
    wz = np.array([c[2] for c in cmds]) if cmds else np.zeros(0)
    show_goal = record.scenario.expect.goal_reached is not None and trace.get("t")
    heights = [3.0, 3.0, 0.8] + ([2.0] if show_goal else [])
    n_lines = len(record.windows) + len(result.checks)
    table_h = 0.45 + 0.17 * n_lines  # inches, below the time axis's label
    plot_h = 1.1 * sum(heights) / 2 + 1.9
    fig = plt.figure(figsize=(13, plot_h + table_h))
    gs = fig.add_gridspec(len(heights) + 1, 1, height_ratios=[h * 1.1 / 2 for h in heights] + [table_h],
                          left=0.07, right=0.83, top=1 - 1.35 / (plot_h + table_h), bottom=0.02, hspace=0.12)
    axes = [fig.add_subplot(gs[0])]
    for i in range(1, len(heights)):
        axes.append(fig.add_subplot(gs[i], sharex=axes[0]))
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    ax_t = fig.add_subplot(gs[len(heights)])
    ax_t.axis("off")
    ax_v, ax_w, ax_s = axes[0], axes[1], axes[2]
    x_lo = -0.5
    x_hi = max(record.duration, t.max() if t.size else 0.0) + 0.2
    keep = (t >= x_lo) & (t <= x_hi)
    ax_v.plot(t[keep], vx[keep], color="tab:blue", lw=1.2, drawstyle="steps-post", label="vx command")
    ax_w.plot(t[keep], wz[keep], color="tab:purple", lw=1.2, drawstyle="steps-post", label="wz command")
    ax_v.set_ylabel("vx (m/s)")
    ax_w.set_ylabel("wz (rad/s)")
    zero = (vx == 0.0) & (wz == 0.0)
    ax_s.scatter(t[keep & ~zero], np.zeros(int((keep & ~zero).sum())), marker="|", s=120, color="tab:green",
                 label="policy command")
    ax_s.scatter(t[keep & zero], np.zeros(int((keep & zero).sum())), marker="|", s=120, color="tab:red",
                 label="zero command (stop)")
    ax_s.set_yticks([])
    ax_s.set_ylabel("cmd", rotation=0, ha="right", va="center")
    ax_s.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if show_goal:
        ax_g = axes[3]
        ax_g.plot(trace["t"], trace["distance"], color="tab:gray", lw=1.2)
        ax_g.set_ylabel("to goal (m)")
        ax_g.set_ylim(bottom=0)

    results = {f.index: f for f in result.faults}
    table: list[tuple[str, str]] = []
    for k, w in enumerate(record.windows):
        fr = results.get(w.index)
        stop = fr.expect_stop if fr else True
        failed = fr is not None and not fr.passed
        end = w.end if w.end > w.start else x_hi
        for ax in axes:
            ax.axvspan(w.start, end, color="tab:red" if stop else "0.6", alpha=0.13 if stop else 0.22, lw=0)
        tag = f"#{w.index}"
        if fr is not None and fr.detect_ms is not None:
            tag += f"\n{fr.detect_ms:.0f} ms"
        ax_v.annotate(tag, xy=(w.start, 1.0), xycoords=("data", "axes fraction"), xytext=(1, 3 + 22 * (k % 2)),
                      textcoords="offset points", fontsize=7.5, va="bottom", color="darkred" if failed else "black",
                      fontweight="bold" if failed else "normal")
        if fr is not None and fr.detected_at_s is not None:
            for ax in axes:
                ax.axvline(fr.detected_at_s, color="tab:red", ls="--", lw=0.9)
        if fr is not None and fr.resumed_at_s is not None:
            for ax in axes:
                ax.axvline(fr.resumed_at_s, color="tab:green", ls=":", lw=1.0)
        line = f"#{w.index:<2} {w.start:6.2f}-{w.end:6.2f} s  {w.spec.title():<48.48}"
        if fr is None:
            table.append((line, "black"))
            continue
        if fr.expect_stop:
            line += (f" stop in {fr.detect_ms:5.1f} ms (bound {fr.bound_ms if fr.bound_ms is not None else '-'})"
                     if fr.detect_ms is not None else " NOT STOPPED                  ")
            if fr.recovery_ms is not None:
                line += f", resumed +{fr.recovery_ms:.0f} ms"
        else:
            line += f" no stop expected: {fr.zeros_in_window or 0} zero commands"
        if fr.daemon_faults:
            wanted = expected_daemon_faults(w.spec, record.profile)
            shown = sorted(fr.daemon_faults, key=lambda f: (not any(fnmatch.fnmatchcase(f, p) for p in wanted), f))
            line += f"  [{', '.join(shown[:3])}{', ...' if len(shown) > 3 else ''}]"
        bad = [c.name for c in fr.checks if not c.passed]
        line += "  PASS" if not bad else f"  FAIL: {', '.join(bad)}"
        table.append((line, "darkred" if bad else "black"))
    for ax in axes:
        ax.axvline(record.duration, color="black", lw=1.0)
        ax.set_xlim(x_lo, x_hi)
        ax.grid(True, alpha=0.3)
    ax_v.annotate("end" if record.killed else "end: SIGTERM", xy=(record.duration, 0.02), xycoords=("data", "axes fraction"), xytext=(-3, 0),
                  textcoords="offset points", ha="right", fontsize=7)
    for ax in (ax_v, ax_w):
        ax.axhline(0.0, color="black", lw=0.6)
    axes[-1].set_xlabel("time after t0 (s)   [t0: the first non-zero command]   #N: fault N, with its fault-to-zero time",
                        fontsize=8.5)
    handles = [Line2D([], [], color="tab:red", ls="--", lw=0.9, label="detected: first zero command"),
               Line2D([], [], color="tab:green", ls=":", lw=1.0, label="commands resumed"),
               Patch(color="tab:red", alpha=0.2, label="fault: daemon must stop"),
               Patch(color="0.6", alpha=0.35, label="fault: count and drop, no stop")]
    ax_w.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    for c in result.checks:
        table.append((f"run: {c.name:<24} {'PASS' if c.passed else 'FAIL: ' + c.detail}"[:170],
                      "black" if c.passed else "darkred"))
    raised = [(t_, f) for t_, what, f in record.daemon_events if what == "raised" and x_lo <= t_ <= x_hi]
    if raised:
        ax_s.scatter([t_ for t_, _ in raised], [0.6] * len(raised), marker="v", s=22, color="black", zorder=3,
                     label="daemon fault raised")
        ax_s.set_ylim(-1, 1)
        ax_s.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    for i, (line, color) in enumerate(table):
        ax_t.text(0.0, (1.0 - 0.4 / table_h) * (1.0 - (i + 0.5) / max(len(table), 1)), line, transform=ax_t.transAxes, fontsize=7.5,
                  family="monospace", color=color, va="center")
    verdict = "PASS" if result.passed else "FAIL"
    title = f"{record.scenario.name}: {verdict}"
    if record.scenario.description:
        title += f"\n{record.scenario.description.strip().splitlines()[0]}"
    fig.suptitle(title, fontsize=11, color="black" if result.passed else "darkred", y=1 - 0.1 / (plot_h + table_h),
                 va="top")
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
