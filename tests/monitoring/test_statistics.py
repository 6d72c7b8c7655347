"""The drift statistics against scipy's and the textbook's numbers, and their edge cases."""

from __future__ import annotations

import numpy as np
from scipy import stats

from modelserve.monitoring.statistics import chi2, ks, psi

RNG = np.random.default_rng(0)


def test_ks_is_scipys_two_sample_test() -> None:
    a, b = RNG.normal(0, 1, 1000), RNG.normal(0.3, 1, 500)
    result = ks(a, b)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert result.test == "ks" and result.distance == expected.statistic and result.p_value == expected.pvalue
    assert result.p_value < 1e-4
    assert ks(a, RNG.normal(0, 1, 500)).p_value > 0.001


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
