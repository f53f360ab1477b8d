"""What the joint-policy terms (Isaac Lab / legged_gym) share: ``history`` stacking, each term's own affine.

Conventions (what a policy exported from Isaac Lab or legged_gym expects):

* **Joint order.** ``action.joints`` is the policy's joint order: action ``i`` drives ``action.joints[i]``,
  and every joint term lists its values in the order of its own ``joints`` (default: ``action.joints``).
  The robot's order is whatever its JointState messages say; they are mapped by name every tick.
* **Frames.** ``base_angular_velocity`` and ``projected_gravity`` are in the base frame (x forward, y left,
  z up); the IMU's mounting rotation ``imu_mounting_rpy`` rotates IMU-frame vectors into it
  (:mod:`.imu_mounting`).
* **Scale and clip**: every term is ``clip((raw + offset) * scale, clip)`` like the other terms (legged_gym's
  order), each a number or one per value per tick (:class:`~edgepilot.daemon.config.base.ScaledTermBase`).
  Isaac Lab clips *before* it scales: give its ``clip`` bounds multiplied by its ``scale`` here (swapped for a
  negative scale; docs/observation.md).
* **History**: ``history`` > 1 stacks the term's last values (after scale and clip), ``history_order:
  oldest_first`` (default, as Isaac Lab's ``CircularBuffer`` flattens ``history_length``) or
  ``newest_first``; after activation the first value fills every slot (Isaac Lab fills the buffer with the
  first observation after a reset). A term of ``n`` values with ``history: h`` takes ``n * h`` places,
  ``[v(t-h+1) ..., v(t)]`` (or reversed). The whole observation's history (``observation.history``,
  time-major or term-major) is the builder's (daemon/observation/history.py); docs/observation.md has both.
* **Last action** is the policy's previous raw output after ``action.clip`` and before ``action.scale``
  (Isaac Lab's ``last_action``, legged_gym's ``actions``); zeros before the first policy step.

These terms are ``final`` terms (:mod:`.base`): each applies its own offset (skipped when every element is 0,
so a -0.0 stays -0.0), scale (skipped when every element is 1) and clip, then stacks, after the builder's batch.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from edgepilot.daemon.observation.terms.base import FinalTerm, TermConfig, TermContext

HistoryOrder = Literal["oldest_first", "newest_first"]


class StackedTermConfig(TermConfig):
    """A joint-policy term: ``values_per_tick`` values, ``history`` ticks stacked."""

    history: int = Field(default=1, ge=1, le=64, description="Ticks stacked (module docstring).")
    history_order: HistoryOrder = Field(
        default="oldest_first", description="oldest_first: [v(t-h+1) ... v(t)]; newest_first: [v(t) ... v(t-h+1)].")
    #: The term reads action.joints or the policy step, so it needs a joint action.
    needs_joint_action: ClassVar[bool] = False

    def values_per_tick(self, ctx: TermContext) -> int:
        raise NotImplementedError

    def size(self, ctx: TermContext) -> int:
        return self.values_per_tick(ctx) * self.history

    def check(self, ctx: TermContext, where: str) -> None:
        where = f"{where} ({self.kind})"  # type: ignore[attr-defined]
        if self.needs_joint_action and not ctx.joint_action:
            raise ValueError(f"{where} needs action.output joint_positions or joint_torques (it reads action.joints "
                             "or the policy step)")
        self.check_references(ctx, where)

    def check_references(self, ctx: TermContext, where: str) -> None:
        """The term's own reference checks; ``where`` names it (``observation.terms[i] (kind)``)."""


def require_read_by(ctx: TermContext, stream: str, where: str) -> None:
    if not ctx.streams[stream].required:
        raise ValueError(f"streams.{stream}.required is false but {where} reads it: set required: true")


class StackedTerm(FinalTerm):
    """``compute()``: ``read()`` the raw values, affine and clip them, stack the history into ``out``."""

    def __init__(self, out: np.ndarray, n: int, term: StackedTermConfig) -> None:
        super().__init__(out)
        self.raw = np.zeros(n)
        self.n = n
        self._off, self._scl, self._lo, self._hi = term.elementwise(n)
        # Skipped when it changes nothing, so that a -0.0 stays -0.0 (as it did before the per-element forms).
        self._add_offset = bool((self._off != 0.0).any())
        self._apply_scale = bool((self._scl != 1.0).any())
        history = term.history
        self.history = history
        if out.shape[0] != n * history:
            raise ValueError(f"{term.kind}: {n} values x history {history} do not fill its {out.shape[0]} places")  # type: ignore[attr-defined]
        self._rows = np.zeros((history, n))
        self._row_views = [self._rows[i] for i in range(history)]
        self._out_views = [out[j * n:(j + 1) * n] for j in range(history)]
        self._newest_first = term.history_order == "newest_first"
        self._k = -1  # ring slot of the newest value; -1: nothing yet (first value fills every slot)

    def read(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the history: the next value fills every slot, as at activation."""
        self._k = -1

    def compute(self) -> None:
        raw = self.raw
        self.read()
        if self._add_offset:
            np.add(raw, self._off, out=raw)
        if self._apply_scale:
            np.multiply(raw, self._scl, out=raw)
        np.minimum(raw, self._hi, out=raw)  # clip; NaN stays NaN for the watchdog
        np.maximum(raw, self._lo, out=raw)
        h = self.history
        if h == 1:
            np.copyto(self._out_views[0], raw)
            return
        rows = self._row_views
        if self._k < 0:
            for r in rows:
                np.copyto(r, raw)
            self._k = 0
        else:
            self._k = (self._k + 1) % h
            np.copyto(rows[self._k], raw)
        outs = self._out_views
        k = self._k
        if self._newest_first:
            for j in range(h):  # slot k is the newest, k-1 the one before
                np.copyto(outs[j], rows[(k - j) % h])
        else:
            for j in range(h):  # oldest first: slot k+1 is the oldest, slot k the newest
                np.copyto(outs[j], rows[(k + 1 + j) % h])
