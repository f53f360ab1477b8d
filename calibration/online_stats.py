"""Running statistics of a vector of named fields: count, mean, variance, covariance and quantiles, in O(1) memory.

Mean and covariance use Welford's update (numerically stable for long runs
with a large mean). Quantiles use the P-square algorithm (Jain & Chlamtac,
CACM 1985): five markers per quantile and field, moved with a parabolic
prediction, no sample storage. P-square is exact for the first five
samples and converges to the true quantile for stationary data; it is an
estimate: within a few percent of the interquartile range for light tails,
coarser in the far tails of heavy-tailed data (tests/calibration).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class P2Quantiles:
    """P-square estimators for several quantiles of several independent fields (vectorised over both)."""

    def __init__(self, n_fields: int, quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> None:
        if not all(0.0 < p < 1.0 for p in quantiles):
            raise ValueError(f"quantiles must lie in (0, 1), got {quantiles}")
        self.quantiles = tuple(quantiles)
        q = len(quantiles)
        p = np.array(quantiles)[:, None]
        self.count = 0
        self._first: list[np.ndarray] = []
        self.height = np.zeros((q, n_fields, 5))
        self.pos = np.tile(np.arange(1.0, 6.0), (q, n_fields, 1))
        self.desired = np.repeat((np.concatenate([np.ones_like(p), 1 + 2 * p, 1 + 4 * p, 3 + 2 * p, 5 * np.ones_like(p)], axis=1))[:, None, :],
                                 n_fields, axis=1)
        self.increment = np.repeat(np.concatenate([np.zeros_like(p), p / 2, p, (1 + p) / 2, np.ones_like(p)], axis=1)[:, None, :],
                                   n_fields, axis=1)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        if self.count <= 5:
            self._first.append(np.array(x, dtype=np.float64))
            if self.count == 5:
                first = np.sort(np.stack(self._first), axis=0)  # (5, fields)
                self.height[:] = first.T[None, :, :]
            return
        self._first = []
        h, n = self.height, self.pos
        xb = np.broadcast_to(x, h.shape[:2])
        # Cell k: the marker interval holding x; the end markers stretch to take a new extreme.
        np.minimum(h[..., 0], xb, out=h[..., 0])
        np.maximum(h[..., 4], xb, out=h[..., 4])
        k = (xb[..., None] >= h[..., 1:4]).sum(axis=-1)  # 0..3
        n += (np.arange(5) > k[..., None])
        self.desired += self.increment
        for i in (1, 2, 3):
            d = self.desired[..., i] - n[..., i]
            up = (d >= 1.0) & (n[..., i + 1] - n[..., i] > 1.0)
            down = (d <= -1.0) & (n[..., i - 1] - n[..., i] < -1.0)
            move = up | down
            if not move.any():
                continue
            s = np.where(up, 1.0, -1.0)
            hm, hi, hp = h[..., i - 1], h[..., i], h[..., i + 1]
            nm, ni, np_ = n[..., i - 1], n[..., i], n[..., i + 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                par = hi + s / (np_ - nm) * ((ni - nm + s) * (hp - hi) / (np_ - ni) + (np_ - ni - s) * (hi - hm) / (ni - nm))
                nb = np.where(s > 0, np_, nm)
                hb = np.where(s > 0, hp, hm)
                lin = hi + s * (hb - hi) / (nb - ni)
            new = np.where((hm < par) & (par < hp), par, lin)
            h[..., i] = np.where(move, new, hi)
            n[..., i] = np.where(move, ni + s, ni)

    def values(self) -> np.ndarray:
        """Current estimates, shape (quantiles, fields); NaN before any sample."""
        if self.count == 0:
            return np.full(self.height.shape[:2], np.nan)
        if self.count <= 5:
            first = np.stack(self._first)
            return np.quantile(first, self.quantiles, axis=0)
        # Independent estimators can cross on small samples; sorting (monotone rearrangement) keeps p05 <= p25 <= ...
        return np.sort(self.height[..., 2], axis=0)


class OnlineStats:
    """Count, mean, variance, covariance, min, max and P-square quantiles of named fields.

    ``update`` takes one float64 vector in ``fields`` order. Not thread-safe:
    one thread updates; others read :meth:`snapshot`'s plain dict.
    """

    def __init__(self, fields: tuple[str, ...], quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> None:
        self.fields = tuple(fields)
        n = len(fields)
        self.count = 0
        self.mean = np.zeros(n)
        self.m2 = np.zeros((n, n))  # sum of outer products of deviations (Welford)
        self.min = np.full(n, np.inf)
        self.max = np.full(n, -np.inf)
        self.quantiles = P2Quantiles(n, quantiles)
        self._delta = np.zeros(n)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        d = self._delta
        np.subtract(x, self.mean, out=d)
        self.mean += d / self.count
        self.m2 += np.outer(d, x - self.mean)
        np.minimum(self.min, x, out=self.min)
        np.maximum(self.max, x, out=self.max)
        self.quantiles.update(x)

    def covariance(self) -> np.ndarray:
        """Sample covariance (n - 1 denominator); NaN with fewer than two samples."""
        if self.count < 2:
            return np.full(self.m2.shape, np.nan)
        return self.m2 / (self.count - 1)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary: per field count/mean/std/rms/min/max/quantiles, plus the covariance matrix."""
        cov = self.covariance()
        var = np.diag(cov) if self.count >= 2 else np.full(len(self.fields), np.nan)
        qs = self.quantiles.values()
        per: dict[str, Any] = {}
        for i, f in enumerate(self.fields):
            mean = float(self.mean[i]) if self.count else math.nan
            std = math.sqrt(max(float(var[i]), 0.0)) if self.count >= 2 else math.nan
            pop_var = float(self.m2[i, i]) / self.count if self.count else math.nan
            per[f] = {
                "count": self.count,
                "mean": _num(mean),
                "std": _num(std),
                "rms": _num(math.sqrt(mean * mean + pop_var)) if self.count else None,
                "min": _num(float(self.min[i])) if self.count else None,
                "max": _num(float(self.max[i])) if self.count else None,
                **{f"p{round(p * 100):02d}": _num(float(qs[j, i])) for j, p in enumerate(self.quantiles.quantiles)},
            }
        return {
            "count": self.count,
            "fields": per,
            "covariance": {"fields": list(self.fields), "matrix": [[_num(float(v)) for v in row] for row in cov]},
        }


def _num(v: float) -> float | None:
    """JSON has no NaN: unknown becomes null."""
    return None if not math.isfinite(v) else round(v, 9)
