"""The monitor's figures as Prometheus metrics, read when scraped (nothing is updated on a request's path).

Drift, per loaded version (and feature): ``modelserve_drift_detected`` (1: the latest window drifted),
``modelserve_drift_distance`` and ``modelserve_drift_p_value`` ``{model, version, feature, test}``,
``modelserve_drift_windows_total{outcome}``, ``modelserve_drift_baseline_rows``. Ground truth, per version
and traffic route: ``modelserve_feedback_rows_total``, ``modelserve_feedback_correct_total``, the window's
``modelserve_feedback_{accuracy,precision,recall,f1,mae,rmse}`` and ``modelserve_feedback_window_rows``;
``modelserve_feedback_unmatched_total{model}``. ``modelserve_monitor_dropped_total`` counts observations
dropped because the monitor fell behind. Business counters: ``modelserve_business_events_total{model,
version, name}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelserve.counters import counted
from modelserve.monitoring.monitor import Monitor

__all__ = ["MonitorCollector"]

VersionFolders = Callable[[], Mapping[Path, tuple[str, int]]]
_SCORES = ("accuracy", "precision", "recall", "f1", "mae", "rmse")


class MonitorCollector(Collector):
    """``version_folders()``: the folder of every loaded version -> (model, version); drift is shown for
    loaded versions only, business counts are named by it."""

    def __init__(self, monitor: Monitor, version_folders: VersionFolders) -> None:
        self.monitor = monitor
        self.version_folders = version_folders

    def collect(self) -> Iterable[Metric]:
        folders = {Path(folder).resolve(): found for folder, found in self.version_folders().items()}
        loaded = set(folders.values())
        yield from self._drift(loaded)
        yield from self._feedback()
        dropped = CounterMetricFamily("modelserve_monitor_dropped", "Observations the monitor fell behind on.")
        dropped.add_metric([], self.monitor.dropped)
        yield dropped
        business = CounterMetricFamily(
            "modelserve_business_events", "Counts models and pipeline steps emit.", labels=["model", "version", "name"]
        )
        for (folder, name), total in sorted(counted().items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            model, version = folders.get(Path(folder).resolve(), (Path(folder).parent.name, Path(folder).name))
            business.add_metric([model, str(version), name], total)
        yield business

    def _drift(self, loaded: set[tuple[str, int]]) -> Iterable[Metric]:
        version_labels = ["model", "version"]
        feature_labels = [*version_labels, "feature", "test"]
        detected = GaugeMetricFamily(
            "modelserve_drift_detected", "1: the latest window drifted.", labels=version_labels
        )
        distance = GaugeMetricFamily(
            "modelserve_drift_distance", "KS statistic, PSI or Cramér's V of the latest window.", labels=feature_labels
        )
        p_value = GaugeMetricFamily("modelserve_drift_p_value", "p-value of the latest window.", labels=feature_labels)
        windows = CounterMetricFamily(
            "modelserve_drift_windows", "Live windows tested.", labels=[*version_labels, "outcome"]
        )
        baseline = GaugeMetricFamily("modelserve_drift_baseline_rows", "Rows in the baseline.", labels=version_labels)
        with self.monitor.lock:
            for model, version, _folder, drift in self.monitor.tracked():
                if (model, version) not in loaded:
                    continue
                labels = [model, str(version)]
                detected.add_metric(labels, float(drift.detected))
                report = drift.report()
                baseline.add_metric(labels, report["baseline"]["rows"] if report["baseline"]["ready"] else 0)
                for outcome, total in drift.windows.items():
                    windows.add_metric([*labels, outcome], total)
                last = drift.last_window or {"features": {}}
                for feature, result in last["features"].items():
                    distance.add_metric([*labels, feature, result["test"]], result["distance"])
                    if result["p_value"] is not None:
                        p_value.add_metric([*labels, feature, result["test"]], result["p_value"])
        yield from (detected, distance, p_value, windows, baseline)

    def _feedback(self) -> Iterable[Metric]:
        labels = ["model", "version", "route"]
        rows = CounterMetricFamily("modelserve_feedback_rows", "Ground-truth rows joined.", labels=labels)
        correct = CounterMetricFamily("modelserve_feedback_correct", "Joined rows predicted right.", labels=labels)
        window = GaugeMetricFamily("modelserve_feedback_window_rows", "Rows in the scored window.", labels=labels)
        scores = {
            name: GaugeMetricFamily(f"modelserve_feedback_{name}", f"{name} over the window.", labels=labels)
            for name in _SCORES
        }
        unmatched = CounterMetricFamily("modelserve_feedback_unmatched", "Ground-truth rows refused.", labels=["model"])
        with self.monitor.lock:
            for (model, version, route), found in sorted(self.monitor.feedback.scores().items()):
                key = [model, str(version), route]
                rows.add_metric(key, found["rows"])
                window.add_metric(key, found["window_rows"])
                if "correct" in found:
                    correct.add_metric(key, found["correct"])
                for name, family in scores.items():
                    if name in found:
                        family.add_metric(key, found[name])
            for model, total in sorted(self.monitor.feedback.unmatched.items()):
                unmatched.add_metric([model], total)
        yield from (rows, correct, window, *scores.values(), unmatched)
