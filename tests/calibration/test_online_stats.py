"""Online statistics against numpy on the same data."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.calibration.online_stats import OnlineStats, P2Quantiles


def test_mean_variance_covariance_match_numpy() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(5.0, 2.0, 2000)
    x = np.column_stack([a, 0.5 * a + rng.normal(0, 0.1, 2000), rng.standard_t(2, 2000) + 1e6])  # big offset: Welford must hold
    s = OnlineStats(("a", "b", "c"))
    for row in x:
        s.update(row)
    snap = s.snapshot()
    assert snap["count"] == 2000
    np.testing.assert_allclose(s.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.covariance(), np.cov(x.T), rtol=1e-9)
    assert abs(snap["fields"]["b"]["std"] - x[:, 1].std(ddof=1)) < 1e-9
    assert snap["fields"]["a"]["min"] == round(x[:, 0].min(), 9)
    assert abs(snap["fields"]["a"]["rms"] - np.sqrt(np.mean(x[:, 0] ** 2))) < 1e-6


def test_p2_quantiles_close_to_exact_on_heavy_tails() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1, 20000), rng.standard_cauchy(20000), rng.exponential(1.0, 20000)])
    q = P2Quantiles(3)
    for row in x:
        q.update(row)
    exact = np.quantile(x, q.quantiles, axis=0)
    iqr = exact[3] - exact[1]
    err = np.abs(q.values() - exact) / iqr
    assert np.all(err[:, [0, 2]] < 0.05), err  # normal, exponential: every quantile
    assert np.all(err[1:4, 1] < 0.1), err  # Cauchy: the central ones (P-square is coarse in heavy tails)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40))
def test_p2_exact_for_few_samples_and_bounded(values: list[float]) -> None:
    q = P2Quantiles(1)
    for v in values:
        q.update(np.array([v]))
    est = q.values()[:, 0]
    assert np.all(est >= min(values) - 1e-9) and np.all(est <= max(values) + 1e-9)
    assert np.all(np.diff(est) >= -1e-9)  # quantile estimates stay ordered
    if len(values) <= 5:
        np.testing.assert_allclose(est, np.quantile(values, q.quantiles), atol=1e-9)
