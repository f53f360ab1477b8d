"""The build progress bar fed by TensorRT's progress-monitor callbacks (driven here in TensorRT's call order)."""

from __future__ import annotations

import io

from edgepilot.engines.build_progress import BuildProgress


def test_nested_phases_render_and_finish() -> None:
    out = io.StringIO()
    bar = BuildProgress(out, width=10, min_redraw_s=0.0, interactive=True)
    bar.phase_start("Building engine", None, 4)
    assert bar.step_complete("Building engine", 0)
    bar.phase_start("Tactic timing", "Building engine", 20)
    for i in range(5):
        assert bar.step_complete("Tactic timing", i)
    assert bar.render() == "Building engine [##........] 1/4 > Tactic timing [##........] 5/20"
    bar.phase_finish("Tactic timing")
    assert bar.render() == "Building engine [##........] 1/4"
    bar.step_complete("Building engine", 3)
    assert bar.render().endswith("[##########] 4/4")
    bar.phase_finish("Building engine")
    bar.close()
    assert bar.render() == ""
    assert "\r" in out.getvalue() and "Tactic timing" in out.getvalue()


def test_log_mode_writes_one_line_per_top_level_phase() -> None:
    out = io.StringIO()
    bar = BuildProgress(out, interactive=False)
    bar.phase_start("Building engine", None, 2)
    bar.phase_start("Tactic timing", "Building engine", 100)
    for i in range(100):
        bar.step_complete("Tactic timing", i)
    bar.phase_finish("Tactic timing")
    bar.phase_finish("Building engine")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[build] Building engine (2 steps)"
    assert lines[1].startswith("[build] Building engine done in ") and len(lines) == 2


def test_cancel_tells_tensorrt_to_stop() -> None:
    bar = BuildProgress(io.StringIO(), interactive=False)
    bar.phase_start("Building engine", None, 10)
    assert bar.step_complete("Building engine", 0) is True
    bar.cancel()
    assert bar.step_complete("Building engine", 1) is False
