"""A text progress bar for engine builds, fed by TensorRT's progress monitor callbacks.

TensorRT reports nested phases (``phase_start(name, parent, num_steps)``,
``step_complete(name, step)``, ``phase_finish(name)``); on a terminal the bar
redraws one line showing the nesting, elsewhere (journald, CI logs) it writes a
line per top-level phase so logs stay short. ``cancel()`` makes the next
``step_complete`` return False, which TensorRT takes as "abort the build".
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class _Phase:
    name: str
    parent: str | None
    steps: int
    done: int = 0
    started: float = 0.0


class BuildProgress:
    """Nested build phases rendered as a progress bar on ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, width: int = 24, min_redraw_s: float = 0.1,
                 interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_redraw_s = min_redraw_s
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.phases: dict[str, _Phase] = {}
        self.order: list[str] = []
        self.cancelled = False
        self._last_draw = 0.0
        self._line_len = 0

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        self.phases[phase_name] = _Phase(phase_name, parent_phase or None, max(0, num_steps), 0, time.monotonic())
        self.order.append(phase_name)
        if not self.interactive and not parent_phase:
            self._write_line(f"[build] {phase_name} ({num_steps} steps)")
        self._draw(force=True)

    def step_complete(self, phase_name: str, step: int) -> bool:
        p = self.phases.get(phase_name)
        if p is not None:
            p.done = max(p.done, step + 1)
        self._draw()
        return not self.cancelled

    def phase_finish(self, phase_name: str) -> None:
        p = self.phases.pop(phase_name, None)
        if phase_name in self.order:
            self.order.remove(phase_name)
        if p is not None and not self.interactive and p.parent is None:
            self._write_line(f"[build] {phase_name} done in {time.monotonic() - p.started:.1f} s")
        self._draw(force=True)

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        if self.interactive and self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self.stream.flush()
            self._line_len = 0

    def render(self) -> str:
        """The current bar: every open phase, outermost first, as 'name [####....] done/steps'."""
        parts = []
        for name in self.order:
            p = self.phases[name]
            if p.steps > 0:
                filled = int(self.width * min(p.done, p.steps) / p.steps)
                parts.append(f"{name} [{'#' * filled}{'.' * (self.width - filled)}] {min(p.done, p.steps)}/{p.steps}")
            else:
                parts.append(name)
        return " > ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_redraw_s:
            return
        self._last_draw = now
        line = self.render()
        pad = max(0, self._line_len - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._line_len = len(line)

    def _write_line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
