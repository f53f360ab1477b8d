"""One finding of ``edgepilot doctor``: what was checked, how bad it is, what was found, what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["ok", "info", "warn", "blocker"]
_LABEL = {"ok": "[ OK ]", "info": "[INFO]", "warn": "[WARN]", "blocker": "[FAIL]"}


@dataclass
class Check:
    """One finding: ``name`` (what was checked), ``level``, ``detail`` (what was found) and ``fix`` (what to do)."""

    name: str
    level: Level
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{_LABEL[self.level]} {self.name:<13} {self.detail}"
        return text + (f" -- fix: {self.fix}" if self.fix else "")
