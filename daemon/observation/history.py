"""The whole observation stacked over ticks (``observation.history``): time-major or term-major, either order.

The last ``h`` frames live in a ring of ``2 h`` rows, each frame written twice (rows ``k`` and ``k + h``), so
that the ``h`` frames ending with the newest are always rows ``k+1 .. k+h``, one contiguous window, oldest
first (and its reverse, newest first). The windows and the copies out of them (one per layout block) are
views made once here: a push is two row copies and one copy per block (one for time-major, one per term for
term-major), with the cast to float32 in the copy. Nothing is allocated per tick.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class FrameHistory:
    """Stacks ``frame`` (float64, F values: one tick of every term) over ``length`` ticks into ``out``.

    ``out``: float32, ``F * length`` values. ``time_major``: ``out = [frame(t-h+1), ..., frame(t)]``
    (oldest first) or ``[frame(t), ..., frame(t-h+1)]`` (newest first). ``term_major``: term by term (its
    slice of the frame in ``term_slices``), each term's values over the ``h`` ticks in the same order:
    ``[A(t-h+1) .. A(t), B(t-h+1) .. B(t), ...]``. The first push fills every slot (activation).
    """

    def __init__(self, frame: np.ndarray, out: np.ndarray, length: int, layout: str, order: str,
                 term_slices: Sequence[slice]) -> None:
        f, h = frame.shape[0], length
        if out.shape[0] != f * h:
            raise ValueError(f"observation history: {f} values x {h} ticks do not fill the {out.shape[0]} places")
        self._frame = frame
        self._ring = np.zeros((2 * h, f))
        self._rows = [self._ring[i] for i in range(2 * h)]
        self._h = h
        self._k = -1  # ring slot of the newest frame; -1: nothing yet
        self._copies: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for k in range(h):
            window = self._ring[k + 1:k + 1 + h] if order == "oldest_first" else self._ring[k + h:k:-1]
            if layout == "time_major":
                self._copies.append([(out.reshape(h, f), window)])
            else:
                self._copies.append([(out[h * s.start:h * s.stop].reshape(h, s.stop - s.start), window[:, s])
                                     for s in term_slices if s.stop > s.start])

    def reset(self) -> None:
        """Forget the frames: the next one fills every slot, as at activation."""
        self._k = -1

    def push(self) -> None:
        """Take this tick's frame and write the stacked history into ``out``."""
        h = self._h
        if self._k < 0:
            for r in self._rows:
                np.copyto(r, self._frame)
            self._k = 0
        else:
            self._k = (self._k + 1) % h
            np.copyto(self._rows[self._k], self._frame)
            np.copyto(self._rows[self._k + h], self._frame)
        for dst, src in self._copies[self._k]:
            np.copyto(dst, src)
