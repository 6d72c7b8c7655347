"""Two-sample drift statistics: a baseline sample against a live window, per feature.

    ks(baseline, window)            -> TestResult("ks", distance=D, p_value=p)
    psi(baseline, window)           -> TestResult("psi", distance=PSI, p_value=None)
    chi2(baseline, window)          -> TestResult("chi2", distance=Cramér's V, p_value=p)
    mmd(baseline_rows, window_rows) -> TestResult("mmd", distance=MMD², p_value=p)   # [n, d] matrices

Contract: inputs are 1-D arrays (numeric for :func:`ks` and :func:`psi`, any hashable values for
:func:`chi2`); empty or constant samples give a result that flags nothing (distance 0, p-value 1) rather than
raising. These run on the monitor's thread, never on a request's path.

The p-values are computed here with numpy and :mod:`math` (the Kolmogorov distribution's series with
Stephens' small-sample correction; the regularized upper incomplete gamma function for chi-square), not
with scipy: ``scipy.stats`` costs a server 72 MiB and 0.8 s of CPU to import, for two functions of a few
lines; the tests check them against scipy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TestResult", "chi2", "chi2_sf", "kolmogorov_sf", "ks", "mmd", "psi"]

_PSI_BINS = 10
_PSI_FLOOR = 1e-4  # a bin share of 0 would make PSI infinite
_MAX_CATEGORIES = 50
_MMD_ROWS = 300  # rows of each sample the kernel test uses (a fixed random subset of larger ones)
_MMD_PERMUTATIONS = 1000  # p-values down to 1/1001, below a Bonferroni threshold of 0.01 / 5 tests


@dataclass(frozen=True)
class TestResult:
    test: str
    distance: float
    p_value: float | None  # None for PSI (a distance with thresholds, not a test)


def ks(baseline: np.ndarray, window: np.ndarray) -> TestResult:
    """Kolmogorov-Smirnov: the largest gap between the two empirical CDFs, and its asymptotic p-value."""
    if baseline.size == 0 or window.size == 0:
        return TestResult("ks", 0.0, 1.0)
    a, b = np.sort(baseline), np.sort(window)
    values = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, values, side="right") / a.size - np.searchsorted(b, values, side="right") / b.size)
    distance = float(gap.max())
    root = math.sqrt(a.size * b.size / (a.size + b.size))
    return TestResult("ks", distance, kolmogorov_sf((root + 0.12 + 0.11 / root) * distance))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) of the Kolmogorov distribution: 2 * sum((-1)^(k-1) * exp(-2 k^2 x^2))."""
    if x < 0.18:
        return 1.0
    total, sign = 0.0, 1.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * x * x)
        total += sign * term
        if term < 1e-16 * max(total, 1e-300):
            break
        sign = -sign
    return min(max(2.0 * total, 0.0), 1.0)


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for X chi-square with ``dof`` degrees of freedom: Q(dof/2, statistic/2)."""
    if statistic <= 0:
        return 1.0
    a, x = dof / 2.0, statistic / 2.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:  # the series of P(a, x), converging fast here
        term = total = 1.0 / a
        for n in range(1, 1000):
            term *= x / (a + n)
            total += term
            if term < total * 1e-15:
                break
        return min(max(1.0 - total * math.exp(log_front), 0.0), 1.0)
    # Lentz's continued fraction of Q(a, x)
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for n in range(1, 1000):
        an = -n * (n - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return min(max(math.exp(log_front) * h, 0.0), 1.0)


def psi(baseline: np.ndarray, window: np.ndarray) -> TestResult:
    """Population stability index over the baseline's deciles (0.1: some shift; 0.25: a large one)."""
    if baseline.size == 0 or window.size == 0:
        return TestResult("psi", 0.0, None)
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, _PSI_BINS + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, baseline, side="right"), minlength=edges.size + 1)
    actual = np.bincount(np.searchsorted(edges, window, side="right"), minlength=edges.size + 1)
    expected = np.maximum(expected / baseline.size, _PSI_FLOOR)
    actual = np.maximum(actual / window.size, _PSI_FLOOR)
    return TestResult("psi", float(np.sum((actual - expected) * np.log(actual / expected))), None)


def chi2(baseline: np.ndarray, window: np.ndarray) -> TestResult:
    """Chi-square test of homogeneity on the 2 x K table of category counts (the baseline's 50 most common
    categories, the rest pooled as one), with Cramér's V as the distance."""
    if baseline.size == 0 or window.size == 0:
        return TestResult("chi2", 0.0, 1.0)
    values, counts = np.unique(baseline, return_counts=True)
    kept = values[np.argsort(-counts, kind="stable")[:_MAX_CATEGORIES]]
    index = {value: i for i, value in enumerate(kept.tolist())}
    table = np.zeros((2, len(kept) + 1))
    for row, sample in enumerate((baseline, window)):
        found, found_counts = np.unique(sample, return_counts=True)
        for value, count in zip(found.tolist(), found_counts):
            table[row, index.get(value, len(kept))] += count
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return TestResult("chi2", 0.0, 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    cramers_v = math.sqrt(statistic / (table.sum() * (min(table.shape) - 1)))
    return TestResult("chi2", cramers_v, chi2_sf(statistic, table.shape[1] - 1))


def mmd(baseline: np.ndarray, window: np.ndarray, seed: int = 0) -> TestResult:
    """Maximum mean discrepancy of two ``[n, d]`` samples with a Gaussian kernel (bandwidth: the median
    pairwise distance), its p-value by a permutation test: one multivariate test of whole rows (pixels,
    embeddings) where the per-feature tests see one statistic at a time. Heavier (~0.1 s for 300 + 300
    rows of 64 values), so only for the inputs or outputs a model's settings name, on the monitor's thread."""
    rng = np.random.default_rng(seed)
    samples = []
    for sample in (baseline, window):
        sample = sample.reshape(sample.shape[0], -1).astype(np.float64, copy=False)
        if sample.shape[0] > _MMD_ROWS:
            sample = sample[rng.choice(sample.shape[0], _MMD_ROWS, replace=False)]
        samples.append(sample)
    n, m = samples[0].shape[0], samples[1].shape[0]
    if n < 2 or m < 2:
        return TestResult("mmd", 0.0, 1.0)
    joined = np.concatenate(samples)
    squares = (joined**2).sum(axis=1)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2 * joined @ joined.T, 0)
    bandwidth = np.median(distances[np.triu_indices(n + m, 1)])
    kernel = np.exp(-distances / bandwidth) if bandwidth > 0 else np.ones_like(distances)

    # MMD² (the biased V-statistic) of a labelling is w·Kw with w = 1/n on one sample and -1/m on the
    # other; every permutation at once is one matrix product.
    weights = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
    permuted = np.stack([weights] + [rng.permutation(weights) for _ in range(_MMD_PERMUTATIONS)], axis=1)
    statistics = np.einsum("ip,ip->p", permuted, kernel @ permuted)
    observed = float(statistics[0])
    exceed = int((statistics[1:] >= observed).sum())
    return TestResult("mmd", max(observed, 0.0), (exceed + 1) / (_MMD_PERMUTATIONS + 1))
