"""Where the source frame lands in the network image: scale, letterbox pad and crop offsets.

Coordinates are continuous pixel coordinates, x to the right and y down, with pixel ``i`` covering
``[i, i + 1)``; OpenCV's resize samples pixel centres (``(i + 0.5) / scale - 0.5``), which is the same linear
map ``x_source = x_resized / scale`` between edges. A box edge therefore maps back exactly with
:meth:`LetterboxGeometry.network_to_source`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class LetterboxGeometry:
    """The source -> network image map of one encoder (fixed at construction).

    * ``scale_x``, ``scale_y``: resized pixels per source pixel (equal up to rounding of the resized size
      unless the mode is ``stretch``).
    * ``resized_width``, ``resized_height``: the whole source frame after scaling, pixels.
    * ``pad_x``, ``pad_y``: where the image starts in the network image (letterbox), network pixels.
    * ``crop_x``, ``crop_y``: where the network window starts in the resized frame (crop), resized pixels.
    * ``content_width``, ``content_height``: the part of the network image that holds image (not pad).

    ``x_network = x_source * scale_x - crop_x + pad_x`` (and the same for y).
    """

    mode: Literal["stretch", "letterbox", "crop"]
    source_width: int
    source_height: int
    network_width: int
    network_height: int
    resized_width: int
    resized_height: int
    pad_x: int
    pad_y: int
    crop_x: int
    crop_y: int

    @classmethod
    def compute(cls, mode: Literal["stretch", "letterbox", "crop"], source_hw: tuple[int, int],
                network_hw: tuple[int, int]) -> "LetterboxGeometry":
        (h, w), (nh, nw) = source_hw, network_hw
        if min(h, w, nh, nw) <= 0:
            raise ValueError(f"image sizes must be positive: source {w}x{h}, network {nw}x{nh}")
        if mode == "stretch":
            rw, rh = nw, nh
        elif mode == "letterbox":
            s = min(nw / w, nh / h)
            rw, rh = min(nw, max(1, _round_half_up(w * s))), min(nh, max(1, _round_half_up(h * s)))
        elif mode == "crop":
            s = max(nw / w, nh / h)
            rw, rh = max(nw, _round_half_up(w * s)), max(nh, _round_half_up(h * s))
        else:
            raise ValueError(f"unknown resize mode {mode!r}")
        return cls(mode, w, h, nw, nh, rw, rh, pad_x=max(0, (nw - rw) // 2), pad_y=max(0, (nh - rh) // 2),
                   crop_x=max(0, (rw - nw) // 2), crop_y=max(0, (rh - nh) // 2))

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.source_width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.source_height

    @property
    def content_width(self) -> int:
        return min(self.resized_width, self.network_width)

    @property
    def content_height(self) -> int:
        return min(self.resized_height, self.network_height)

    def network_to_source(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Network-image coordinates -> source-frame coordinates (pixels; arrays broadcast)."""
        xs = (np.asarray(x, dtype=np.float64) - self.pad_x + self.crop_x) / self.scale_x
        ys = (np.asarray(y, dtype=np.float64) - self.pad_y + self.crop_y) / self.scale_y
        return xs, ys

    def source_to_network(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Source-frame coordinates -> network-image coordinates (pixels)."""
        xn = np.asarray(x, dtype=np.float64) * self.scale_x - self.crop_x + self.pad_x
        yn = np.asarray(y, dtype=np.float64) * self.scale_y - self.crop_y + self.pad_y
        return xn, yn
