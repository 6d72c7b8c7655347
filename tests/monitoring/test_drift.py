"""A version's drift: baselines given or learned, windows by rows and by time, the Bonferroni verdict."""

from __future__ import annotations

import numpy as np

from modelserve.monitoring.drift import DriftSettings, VersionDrift

RNG = np.random.default_rng(7)


def _rows(n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"a": RNG.normal(shift, 1, n), "b": RNG.normal(0, 1, n), "prediction": RNG.integers(0, 3, n)}


def test_a_learned_baseline_then_windows_by_rows() -> None:
    drift = VersionDrift(DriftSettings(baseline_rows=300, window_rows=200))
    for _ in range(3):
        drift.add(_rows(100), 100, 0.0)
    assert drift.baseline is not None and drift.report()["baseline"]["source"] == "the first 300 rows served"
    assert drift.last_window is None  # rows that built the baseline are not tested
    drift.add(_rows(200), 200, 1.0)
    assert drift.windows == {"ok": 1, "drift": 0} and not drift.detected
    drift.add(_rows(200, shift=1.0), 200, 2.0)
    assert drift.detected and drift.last_window["features"]["a"]["drifted"]
    assert not drift.last_window["features"]["b"]["drifted"]
    assert drift.last_window["p_value_threshold"] == 0.01 / 3  # three tests: Bonferroni
    drift.add(_rows(200), 200, 3.0)
    assert not drift.detected and drift.windows == {"ok": 2, "drift": 1}


def test_a_window_closes_by_time_once_it_has_the_minimum_rows() -> None:
    drift = VersionDrift(DriftSettings(baseline_rows=100, window_rows=1000, window_seconds=10, min_window_rows=50))
    drift.set_baseline(_rows(100), "given")
    drift.add(_rows(20), 20, 0.0)
    drift.tick(100.0)
    assert drift.last_window is None  # too few rows: stays open
    drift.add(_rows(40), 40, 5.0)
    drift.tick(9.0)
    assert drift.last_window is None  # not old enough
    drift.tick(10.5)
    assert drift.last_window["rows"] == 60 and drift.report()["window"]["rows"] == 0


def test_psi_and_categorical_settings() -> None:
    drift = VersionDrift(DriftSettings(baseline_rows=500, window_rows=500, numeric_test="psi", categorical=("code",)))
    base = {"x": RNG.normal(0, 1, 500), "code": RNG.integers(0, 5, 500), "free": np.array([str(i) for i in range(500)])}
    drift.set_baseline(base, "given")
    assert "free" not in drift.baseline  # 500 distinct strings: nothing to compare
    drift.add({"x": RNG.normal(2, 1, 500), "code": RNG.integers(0, 5, 500)}, 500, 0.0)
    features = drift.last_window["features"]
    assert features["x"]["test"] == "psi" and features["x"]["p_value"] is None and features["x"]["drifted"]
    assert features["code"]["test"] == "chi2" and not features["code"]["drifted"]


def test_clean_windows_rarely_alarm() -> None:
    """100 windows of the baseline's own distribution: the per-window false-alarm rate stays near p_value."""
    drift = VersionDrift(DriftSettings(baseline_rows=1000, window_rows=200))
    drift.set_baseline(_rows(1000), "given")
    for i in range(100):
        drift.add(_rows(200), 200, float(i))
    assert drift.windows["drift"] <= 3


def test_the_kernel_test_of_whole_rows_sees_a_shift_the_columns_cannot() -> None:
    """Two columns whose correlation flips keep both columns' distributions: only the kernel test sees it."""
    from modelserve.monitoring.features import features

    def sample(n: int, sign: float) -> np.ndarray:
        a = RNG.normal(0, 1, n)
        return np.stack([a, sign * a + RNG.normal(0, 0.3, n)], axis=1)

    drift = VersionDrift(DriftSettings(baseline_rows=300, window_rows=200, mmd=("x",)))
    drift.set_baseline(features({"x": sample(300, 1.0)}, None, whole_rows=("x",)), "given")
    drift.add(features({"x": sample(200, -1.0)}, None, whole_rows=("x",)), 200, 0.0)
    window = drift.last_window["features"]
    assert not window["x[0]"]["drifted"] and not window["x[1]"]["drifted"]
    assert window["x:rows"]["test"] == "mmd" and window["x:rows"]["drifted"]
    assert drift.report()["baseline"]["rows"] == 300
