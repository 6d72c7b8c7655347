"""The dashboard's numbers, drawn from the server's own metrics (no Prometheus server needed).

:class:`Telemetry` samples the Prometheus registry every ``interval`` seconds on a daemon thread (only while
the page is enabled) and keeps the last ``keep`` samples. Between two samples it derives, per model and
version: requests per second, errors per second by code, latency p50 and p99 (interpolated within the
request-duration histogram's buckets, as Prometheus' ``histogram_quantile`` does), and per model the mean
rows per model call (batch size). A page opened late still sees the last minutes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

__all__ = ["Point", "Telemetry", "quantile"]

_REQUESTS = "modelserve_requests"
_LATENCY = "modelserve_request_duration_seconds"
_BATCH = "modelserve_batch_size"


@dataclass(frozen=True)
class Point:
    """One derived value at one time: ``series`` is ``model:version`` (or ``model:version CODE``)."""

    time: float
    series: str
    value: float


@dataclass
class _Raw:
    """Cumulative counts read from the registry at one instant."""

    at: float
    requests: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (model, version, status)
    buckets: dict[tuple[str, str], dict[float, float]] = field(default_factory=dict)  # (model, version) -> le
    batch: dict[str, tuple[float, float]] = field(default_factory=dict)  # model -> (sum, count)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (upper bound -> count), linear within a bucket."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return bounds[-1]


def _read(registry: CollectorRegistry, at: float) -> _Raw:
    raw = _Raw(at)
    for metric in registry.collect():
        if metric.name not in (_REQUESTS, _LATENCY, _BATCH):
            continue
        for sample in metric.samples:
            labels = sample.labels
            if metric.name == _REQUESTS and sample.name.endswith("_total"):
                key = (labels["model"], labels["version"], labels["status"])
                raw.requests[key] = raw.requests.get(key, 0.0) + sample.value
            elif metric.name == _LATENCY and sample.name.endswith("_bucket"):
                buckets = raw.buckets.setdefault((labels["model"], labels["version"]), {})
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif metric.name == _BATCH and sample.name.endswith(("_sum", "_count")):
                total, count = raw.batch.get(labels["model"], (0.0, 0.0))
                if sample.name.endswith("_sum"):
                    total += sample.value
                else:
                    count += sample.value
                raw.batch[labels["model"]] = (total, count)
    return raw


def _series(model: str, version: str) -> str:
    return f"{model}:{version}" if version else model


class Telemetry:
    def __init__(self, registry: CollectorRegistry, interval: float = 2.0, keep: int = 150) -> None:
        self.registry = registry
        self.interval = interval
        self._points: dict[str, deque[list[Point]]] = {
            name: deque(maxlen=keep) for name in ("rate", "errors", "p50", "p99", "batch")
        }
        self._last: _Raw | None = None
        self._error_series: set[str] = set()  # once seen, drawn at 0 when quiet (a line, not dots)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="modelserve-console-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self, now: float | None = None) -> None:
        """Read the registry once and derive the values since the previous read."""
        raw = _read(self.registry, time.time() if now is None else now)
        with self._lock:
            previous, self._last = self._last, raw
            if previous is None or raw.at <= previous.at:
                return
            derived = _derive(previous, raw)
            errors = {p.series for p in derived["errors"]}
            self._error_series |= errors
            derived["errors"] += [Point(raw.at, s, 0.0) for s in sorted(self._error_series - errors)]
            for name, points in derived.items():
                self._points[name].append(points)

    def points(self, name: str) -> list[Point]:
        """Every kept point of ``rate``, ``errors``, ``p50``, ``p99`` (seconds) or ``batch``, oldest first."""
        with self._lock:
            return [point for sample in self._points[name] for point in sample]

    def latest(self) -> dict[str, dict[str, float]]:
        """The newest value of each series, by kind: ``{"rate": {"digits:1": 3.5}, ...}``."""
        with self._lock:
            return {
                name: {p.series: p.value for p in (kept[-1] if kept else [])} for name, kept in self._points.items()
            }


def _derive(before: _Raw, after: _Raw) -> dict[str, list[Point]]:
    seconds = after.at - before.at
    at = after.at
    rates: dict[str, float] = {}
    errors: dict[str, float] = {}
    for (model, version, status), count in after.requests.items():
        delta = max(0.0, count - before.requests.get((model, version, status), 0.0))
        series = _series(model, version)
        rates[series] = rates.get(series, 0.0) + delta / seconds
        if status != "OK" and delta > 0:
            errors[f"{series} {status}"] = errors.get(f"{series} {status}", 0.0) + delta / seconds
    p50, p99 = [], []
    for (model, version), buckets in after.buckets.items():
        old = before.buckets.get((model, version), {})
        window = {bound: max(0.0, count - old.get(bound, 0.0)) for bound, count in buckets.items()}
        for q, found in ((0.5, p50), (0.99, p99)):
            value = quantile(q, window)
            if value is not None:
                found.append(Point(at, _series(model, version), value))
    batch = []
    for model, (total, count) in after.batch.items():
        old_total, old_count = before.batch.get(model, (0.0, 0.0))
        if count > old_count:
            batch.append(Point(at, model, (total - old_total) / (count - old_count)))
    return {
        "rate": _points(at, rates),
        "errors": _points(at, errors),
        "p50": p50,
        "p99": p99,
        "batch": batch,
    }


def _points(at: float, values: dict[str, float]) -> list[Point]:
    return [Point(at, series, value) for series, value in sorted(values.items())]


def table(points: Iterable[Point]) -> dict[str, list[Any]]:
    """Columns for a chart: ``time`` (seconds since the epoch), ``series``, ``value``."""
    rows = list(points)
    return {"time": [p.time for p in rows], "series": [p.series for p in rows], "value": [p.value for p in rows]}
