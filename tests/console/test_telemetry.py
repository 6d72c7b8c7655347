"""The dashboard's numbers from a real Prometheus registry: rates, errors by code, quantiles, batch sizes."""

from __future__ import annotations

import math

import pytest

from modelserve.console.telemetry import Telemetry, quantile
from modelserve.metrics.collectors import ServingMetrics
from modelserve.metrics.record import RequestRecord


def _record(version: str = "1") -> RequestRecord:
    return RequestRecord(protocol="rest", api="predict", model="digits", version=version, signature="serving_default")


def test_quantiles_interpolate_within_buckets() -> None:
    assert quantile(0.5, {0.1: 0.0, 0.2: 10.0, math.inf: 10.0}) == pytest.approx(0.15)
    assert quantile(0.99, {0.1: 10.0, math.inf: 10.0}) == pytest.approx(0.099)
    assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None
    assert quantile(0.5, {0.1: 0.0, math.inf: 4.0}) == 0.1  # all beyond the last bound: that bound


def test_rates_errors_latency_and_batch_between_samples() -> None:
    metrics = ServingMetrics()
    telemetry = Telemetry(metrics.registry)
    telemetry.sample(now=100.0)
    for _ in range(20):
        metrics.observe_request(_record(), "OK", 0.004)
    for _ in range(4):
        metrics.observe_request(_record(), "INVALID_ARGUMENT", 0.001)
    metrics.observe_run("digits", 1, "serving_default", "onnx", "predict", 8, 0.0, 0.002)
    metrics.observe_run("digits", 1, "serving_default", "onnx", "predict", 4, 0.0, 0.002)
    telemetry.sample(now=102.0)
    latest = telemetry.latest()
    assert latest["rate"] == {"digits:1": 12.0}
    assert latest["errors"] == {"digits:1 INVALID_ARGUMENT": 2.0}
    assert 0.0025 <= latest["p50"]["digits:1"] <= 0.005 and latest["p99"]["digits:1"] <= 0.005
    assert latest["batch"] == {"digits": 6.0}
    telemetry.sample(now=104.0)  # quiet: the rate and the seen error series drop to 0
    assert telemetry.latest()["rate"] == {"digits:1": 0.0}
    assert telemetry.latest()["errors"] == {"digits:1 INVALID_ARGUMENT": 0.0}
    assert [p.value for p in telemetry.points("rate")] == [12.0, 0.0]
