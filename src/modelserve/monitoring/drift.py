"""Drift of one model version: a baseline sample of its features against live windows.

    drift = VersionDrift(settings)
    drift.set_baseline(features, source="reference: .../reference.npz")   # or learned: see add()
    drift.add(features_of_a_request, now)     # a window closes by rows or by time -> evaluated
    drift.tick(now)                           # closes a window that is old enough without new rows
    drift.report()                            # what GET /v1/models/NAME/monitoring shows

Contract:

* **Baseline**: given (a reference dataset) or learned from the first ``baseline_rows`` rows seen. Rows
  that build a learned baseline are not also tested (the rows after them are). Each feature keeps at most
  ``baseline_rows`` values.
* **Windows**: a live window closes when it holds ``window_rows`` rows, or when ``window_seconds`` have
  passed since it opened and it holds ``min_window_rows`` (fewer rows keep it open).
* **Tests** per feature: numeric ones by KS (p-value) or PSI (``numeric_test``), categorical ones (the
  predicted class, string inputs, inputs listed as categorical) by chi-square, whole rows of the inputs and
  outputs listed in ``mmd`` by a kernel two-sample test (MMD, permutation p-value). A window **drifted** when a
  p-value is below ``p_value / tests`` (Bonferroni: the false-alarm rate per window stays near ``p_value``
  however many features there are) or a PSI is above ``psi_threshold``. :attr:`detected` is the verdict of
  the latest window.
* Not thread-safe: the monitor's one thread owns it (reports are read under the monitor's lock).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelserve.monitoring.features import CATEGORICAL, feature_kind
from modelserve.monitoring.statistics import TestResult, chi2, ks, mmd, psi

__all__ = ["DriftSettings", "VersionDrift"]

_MAX_DISTINCT = 50


@dataclass(frozen=True)
class DriftSettings:
    enabled: bool = True
    baseline_rows: int = 1000
    window_rows: int = 500
    window_seconds: float = 60.0
    min_window_rows: int = 50
    p_value: float = 0.01
    numeric_test: str = "ks"  # or "psi"
    psi_threshold: float = 0.25
    categorical: tuple[str, ...] = ()
    embedding_output: str | None = None
    mmd: tuple[str, ...] = ()  # inputs/outputs whose whole rows also get the kernel test (heavier)
    ignore: tuple[str, ...] = ()
    reference: str | None = None  # a dataset for the baseline (else the version folder's, else learned)


@dataclass
class _Sample:
    """Feature values gathered row-block by row-block, joined when read."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    rows: int = 0
    opened: float = 0.0

    def add(self, features: Mapping[str, np.ndarray], start: int, stop: int) -> None:
        for name, values in features.items():
            self.parts.setdefault(name, []).append(values[start:stop])
        self.rows += stop - start

    def joined(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self.parts.items() if parts}


class VersionDrift:
    def __init__(self, settings: DriftSettings) -> None:
        self.settings = settings
        self.baseline: dict[str, np.ndarray] | None = None
        self.baseline_source = "learning from the first requests"
        self.baseline_error: str | None = None
        self._learning = _Sample()
        self._window = _Sample()
        self.detected = False
        self.last_window: dict[str, Any] | None = None
        self.windows = {"ok": 0, "drift": 0}

    def set_baseline(self, features: Mapping[str, np.ndarray], source: str) -> None:
        """Use ``features`` (per-row values, ``baseline_rows`` kept) as the baseline from now on."""
        limit = self.settings.baseline_rows
        kept = {}
        for name, values in features.items():
            if name in self.settings.ignore:
                continue
            values = np.asarray(values)[:limit]
            categorical = feature_kind(values) == CATEGORICAL or name in self.settings.categorical
            if categorical and name != "prediction" and np.unique(values).size > _MAX_DISTINCT:
                continue  # free text or ids: as many categories as rows, nothing to compare
            kept[name] = values
        self.baseline, self.baseline_source = kept, source
        self._learning = _Sample()

    def add(self, features: Mapping[str, np.ndarray], n: int, now: float) -> None:
        """``n`` rows (of one request or several): to the baseline while it is learned, then to live windows,
        each closed at exactly ``window_rows`` rows (the rest of the rows open the next one)."""
        start = 0
        while start < n:
            if self.baseline is None:
                stop = min(n, start + self.settings.baseline_rows - self._learning.rows)
                self._learning.add(features, start, stop)
                if self._learning.rows >= self.settings.baseline_rows:
                    self.set_baseline(self._learning.joined(), f"the first {self.settings.baseline_rows} rows served")
                start = stop
                continue
            if self._window.rows == 0:
                self._window.opened = now
            stop = min(n, start + self.settings.window_rows - self._window.rows)
            self._window.add(features, start, stop)
            start = stop
            if self._window.rows >= self.settings.window_rows:
                self._evaluate(now)

    def tick(self, now: float) -> None:
        window = self._window
        if (
            window.rows >= self.settings.min_window_rows
            and now - window.opened >= self.settings.window_seconds
            and self.baseline is not None
        ):
            self._evaluate(now)

    def _test(self, name: str, reference: np.ndarray, live: np.ndarray) -> TestResult:
        if name.endswith(":rows"):
            return mmd(reference, live)
        if feature_kind(reference) == CATEGORICAL or name in self.settings.categorical or name == "prediction":
            if feature_kind(reference) != CATEGORICAL and name == "prediction" and reference.dtype.kind == "f":
                return ks(reference, live.astype(np.float64))  # a regressor's predicted value
            return chi2(reference, live)
        live = live.astype(np.float64, copy=False)
        return psi(reference, live) if self.settings.numeric_test == "psi" else ks(reference, live)

    def _evaluate(self, now: float) -> None:
        assert self.baseline is not None
        live = self._window.joined()
        rows, opened = self._window.rows, self._window.opened
        self._window = _Sample()
        results = {
            name: self._test(name, reference, live[name])
            for name, reference in self.baseline.items()
            if name in live and live[name].size
        }
        tested = sum(1 for r in results.values() if r.p_value is not None)
        threshold = self.settings.p_value / max(tested, 1)
        features = {}
        for name, result in results.items():
            if result.p_value is not None:
                drifted = result.p_value < threshold
            else:
                drifted = result.distance > self.settings.psi_threshold
            features[name] = {
                "test": result.test,
                "distance": round(result.distance, 6),
                "p_value": None if result.p_value is None else float(f"{result.p_value:.6g}"),
                "drifted": bool(drifted),
            }
        self.detected = any(f["drifted"] for f in features.values())
        self.windows["drift" if self.detected else "ok"] += 1
        self.last_window = {
            "closed": time.time(),
            "seconds": round(now - opened, 3),
            "rows": rows,
            "drift_detected": self.detected,
            "p_value_threshold": threshold,
            "features": features,
        }

    def report(self) -> dict[str, Any]:
        settings = self.settings
        baseline_rows = 0 if self.baseline is None else max((len(v) for v in self.baseline.values()), default=0)
        return {
            "drift_detected": self.detected,
            "baseline": {
                "source": self.baseline_source,
                "ready": self.baseline is not None,
                "rows": baseline_rows if self.baseline is not None else self._learning.rows,
                "features": sorted(self.baseline) if self.baseline is not None else [],
                **({"error": self.baseline_error} if self.baseline_error else {}),
            },
            "window": {
                "rows": self._window.rows,
                "seconds": round(time.monotonic() - self._window.opened, 3) if self._window.rows else 0.0,
                "closes_at_rows": settings.window_rows,
                "closes_after_seconds": settings.window_seconds,
            },
            "windows": dict(self.windows),
            "last_window": self.last_window,
        }
