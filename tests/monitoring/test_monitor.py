"""The monitor's thread: observations in order, reference baselines (run through the model when the file
has no outputs), feedback ordered after the answers it refers to, the Prometheus figures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import prometheus_client

from modelserve.monitoring.drift import DriftSettings
from modelserve.monitoring.exposition import MonitorCollector
from modelserve.monitoring.feedback import parse_feedback
from modelserve.monitoring.monitor import Monitor, MonitorSettings

RNG = np.random.default_rng(3)


def _model(inputs: dict) -> dict:
    x = np.asarray(inputs["x"])
    return {"scores": np.stack([x[:, 0] > 0, x[:, 0] <= 0], axis=1).astype(np.float32)}


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the monitor did not catch up"
        time.sleep(0.01)


def test_reference_baseline_windows_feedback_and_metrics(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "1"
    folder.mkdir(parents=True)
    np.savez(folder / "reference.npz", x=RNG.normal(0, 1, (400, 2)).astype(np.float32))
    runs = []

    def run_reference(model: str, version: int, signature: str, inputs: dict) -> dict:
        runs.append(len(inputs["x"]))
        return _model(inputs)

    settings = MonitorSettings(drift=DriftSettings(baseline_rows=300, window_rows=100))
    monitor = Monitor(settings, run_reference)
    try:
        for i in range(5):
            x = RNG.normal(3 if i >= 3 else 0, 1, (50, 2)).astype(np.float32)
            monitor.observe("m", 1, folder, "", f"r{i}", "serving_default", {"x": x}, _model({"x": x}))
        _wait(
            lambda: monitor.report("m")["versions"] and monitor.report("m")["versions"][0]["drift"]["windows"]["drift"]
        )
        drift = monitor.report("m")["versions"][0]["drift"]
        assert (
            drift["baseline"]["source"] == f"reference: {folder / 'reference.npz'}" and drift["baseline"]["rows"] == 300
        )
        assert runs == [100, 100, 100]  # 300 of the 400 reference rows, run in chunks
        assert drift["windows"] == {"ok": 1, "drift": 1} and drift["drift_detected"]
        answer = asyncio.run(
            monitor.judge("m", None, parse_feedback({"feedback": [{"request_id": "r0", "labels": [0] * 50}]}))
        )
        assert answer["matched"] == 50

        registry = prometheus_client.CollectorRegistry()
        registry.register(MonitorCollector(monitor, lambda: {folder: ("m", 1)}))
        text = prometheus_client.generate_latest(registry).decode()
        assert 'modelserve_drift_detected{model="m",version="1"} 1.0' in text
        assert 'modelserve_drift_windows_total{model="m",outcome="drift",version="1"} 1.0' in text
        assert 'modelserve_feedback_rows_total{model="m",route="",version="1"} 50.0' in text
        assert 'modelserve_drift_p_value{feature="x[0]",model="m",test="ks",version="1"}' in text
        unloaded = prometheus_client.CollectorRegistry()
        unloaded.register(MonitorCollector(monitor, dict))
        assert "modelserve_drift_detected{" not in prometheus_client.generate_latest(unloaded).decode()
    finally:
        monitor.close()


def test_an_unreadable_reference_is_reported_and_the_baseline_learned(tmp_path: Path) -> None:
    folder = tmp_path / "1"
    folder.mkdir()
    np.savez(folder / "reference.npz", other=np.zeros((10, 2)))
    monitor = Monitor(MonitorSettings(drift=DriftSettings(baseline_rows=20, window_rows=20)))
    try:
        x = np.zeros((5, 2), np.float32)
        monitor.observe("m", 1, folder, "", "", "serving_default", {"x": x}, _model({"x": x}))
        _wait(lambda: bool(monitor.report("m")["versions"]))
        baseline = monitor.report("m")["versions"][0]["drift"]["baseline"]
        assert "no array for input(s) ['x']" in baseline["error"] and not baseline["ready"] and baseline["rows"] == 5
    finally:
        monitor.close()


def test_a_full_queue_drops_and_counts() -> None:
    monitor = Monitor(MonitorSettings(queue_size=0))
    try:
        monitor.observe("m", 1, Path("."), "", "", "s", {"x": np.zeros((1, 1))}, {})
        assert monitor.dropped == 1
    finally:
        monitor.close()
