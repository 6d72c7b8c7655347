"""The drift statistics against scipy's and the textbook's numbers, and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelserve.monitoring.statistics import chi2, chi2_sf, kolmogorov_sf, ks, psi

RNG = np.random.default_rng(0)


def test_ks_agrees_with_scipys_two_sample_test() -> None:
    """The same statistic; the asymptotic p-value (Stephens' correction) within 0.03 of scipy's, and within
    a factor 1.5 where it is small (where verdicts are made)."""
    for i in range(200):
        a, b = RNG.normal(0, 1, 50 + 5 * i), RNG.normal(i / 400, 1, 40 + 3 * i)
        if i % 3 == 0:
            a, b = np.round(a, 1), np.round(b, 1)  # ties
        result, expected = ks(a, b), stats.ks_2samp(a, b, method="asymp")
        assert result.test == "ks" and result.distance == pytest.approx(expected.statistic, abs=1e-12)
        assert result.p_value == pytest.approx(expected.pvalue, abs=0.03)
        if expected.pvalue < 0.01:
            assert 0.66 < result.p_value / expected.pvalue < 1.5
    assert ks(RNG.normal(0, 1, 1000), RNG.normal(0.3, 1, 500)).p_value < 1e-4


def test_chi_square_survival_is_scipys() -> None:
    for dof in (1, 2, 3, 9, 20, 49):
        for x in (0.01, 0.5, 1, 3, 9, 20, 50, 100, 300):
            assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-15)
    assert kolmogorov_sf(0.0) == 1.0 and kolmogorov_sf(1.0) == pytest.approx(stats.kstwobign.sf(1.0), rel=1e-9)


def test_chi2_contingency_is_scipys() -> None:
    base, live = RNG.choice(5, 500, p=[0.3, 0.2, 0.2, 0.2, 0.1]), RNG.choice(5, 300)
    table = np.array([[np.sum(base == v) for v in range(5)], [np.sum(live == v) for v in range(5)]])
    expected = stats.chi2_contingency(table, correction=False)
    assert chi2(base, live).p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_psi_grows_with_the_shift_and_is_zero_without_one() -> None:
    base = RNG.normal(0, 1, 5000)
    assert psi(base, base).distance < 1e-9
    small, large = psi(base, RNG.normal(0.1, 1, 2000)).distance, psi(base, RNG.normal(1.0, 1, 2000)).distance
    assert small < 0.1 < 0.25 < large
    assert psi(base, base).p_value is None


def test_chi2_compares_category_shares() -> None:
    base = RNG.choice([0, 1, 2], 1000, p=[0.5, 0.3, 0.2])
    same = chi2(base, RNG.choice([0, 1, 2], 500, p=[0.5, 0.3, 0.2]))
    moved = chi2(base, RNG.choice([0, 1, 2], 500, p=[0.2, 0.3, 0.5]))
    assert same.p_value > 0.001 and moved.p_value < 1e-10
    assert 0 <= same.distance < moved.distance <= 1


def test_chi2_pools_categories_the_baseline_never_saw() -> None:
    base = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    live = np.array(["c"] * 100, dtype=object)  # every live value is new: all of it in the "other" column
    assert chi2(base, live).p_value < 1e-10


def test_empty_and_constant_samples_flag_nothing() -> None:
    empty = np.array([])
    assert ks(empty, np.ones(3)).p_value == 1.0 and psi(np.ones(3), empty).distance == 0.0
    assert chi2(np.zeros(10), np.zeros(10)).p_value == 1.0
    assert psi(np.ones(100), np.ones(50)).distance < 1e-9
